"""DeepSpeed's shared-memory all-reduce op on CPUs (deepspeed_shm_comm): DeepSpeed JIT-compiles it into the
torch extensions cache when its process group starts (about 25 s of compiling on 2 cores). One learner rank
all-reduces nothing, so it is skipped there; scripts/setup.sh builds it for runs with several CPU ranks; and a
build lock left by a process killed mid-build, on which torch would wait forever, is named as an error."""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)
OP_NAME = "deepspeed_shm_comm"
STALE_LOCK_S = 600  # a real build takes under a minute here; a lock this old was left by a killed build


def prepare(world_size: int) -> None:
    """Call before deepspeed.init_distributed."""
    if torch.cuda.is_available():
        return  # NCCL does the collectives; the op is not built
    if world_size == 1:
        backend_module().build_shm_op = lambda: None  # the backend then uses torch.distributed alone
        return
    check_no_stale_lock()


def backend_module():
    """deepspeed.comm.torch, the module whose TorchBackend loads the op. Not `import deepspeed.comm.torch as m`:
    deepspeed.comm's `from .comm import *` rebinds its attribute `torch` to the torch package, so that import
    returns torch itself once deepspeed is imported (and a patch there would change nothing)."""
    return importlib.import_module("deepspeed.comm.torch")


def check_no_stale_lock(now: float | None = None) -> None:
    lock = build_directory() / "lock"
    if not lock.exists():
        return
    age = (now or time.time()) - lock.stat().st_mtime
    if age > STALE_LOCK_S:
        raise RuntimeError(f"{lock} is {age / 60:.0f} minutes old: a build of DeepSpeed's {OP_NAME} op was killed and "
                           "left its lock, on which every learner would wait forever. Delete that file (no build runs "
                           "now), then run again; `bash scripts/setup.sh` builds the op ahead of time.")
    log.info("waiting for another process's build of %s (%s)", OP_NAME, lock)


def build_directory() -> Path:
    from torch.utils.cpp_extension import _get_build_directory  # torch's own rule for the cache folder

    return Path(_get_build_directory(OP_NAME, verbose=False))


def build() -> None:
    """Compile the op into the cache now (the setup script's step)."""
    from deepspeed.comm.torch import build_shm_op

    build_shm_op()


if __name__ == "__main__":
    build()
