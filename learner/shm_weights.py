"""Weights through shared memory (cluster.weight_transport shm): learner rank 0 copies its weights once into
one file under /dev/shm and every rollout engine on the same machine loads them from there through vLLM's
weight-transfer API (actors/vllm_weight_sync.py's "shm" backend); only a small layout travels through Ray.

One copy on each side instead of the Ray transport's five (serialise, object store, fetch, file, read).
The file is reused by every push (written in place: the loop does not generate while it pushes) and
removed when the learner exits; a file left by a learner that was killed is removed by the next one.
A LoRA policy's adapter goes the same way as a folder (learner/lora.py): shared_folder() makes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import torch

SHARED_MEMORY = "/dev/shm"
PREFIX = "una-weights-"
ALIGN = 64  # every tensor starts on a cache line


class SharedMemoryWeights:
    def __init__(self, folder: str = SHARED_MEMORY):
        remove_stale_files(folder)
        self.path = str(Path(folder) / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.bin")
        self.buffer: torch.Tensor | None = None
        self.layout: dict | None = None

    def write(self, tensors: dict[str, torch.Tensor]) -> dict:
        """Copy the tensors into the file; returns the layout a reader needs (update_info of the "shm" backend)."""
        layout = plan_layout(tensors)
        if self.layout is None or self.layout["total"] != layout["total"]:
            with open(self.path, "wb") as file:
                file.truncate(layout["total"])
            self.buffer = torch.from_file(self.path, shared=True, size=layout["total"], dtype=torch.uint8)
        self.layout = layout
        for tensor, offset in zip(tensors.values(), layout["offsets"]):
            view_of(self.buffer, offset, tensor.dtype, tensor.shape).copy_(tensor)
        return {**layout, "path": self.path, "host": socket.gethostname()}

    def close(self) -> None:
        self.buffer = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def shared_memory_dir() -> str | None:
    """/dev/shm where the machine has it, else None (the temporary folder)."""
    return SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None


def shared_folder() -> str:
    """A folder in shared memory (or the temporary folder where there is none), removed when this process exits,
    or by the next learner's remove_stale_files if it is killed."""
    import atexit

    folder = shared_memory_dir()
    if folder is not None:
        remove_stale_files(folder)
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder)
    atexit.register(shutil.rmtree, path, True)
    return path


def check_same_host(host: str) -> None:
    """What an engine reads from shared memory must have been written on its machine."""
    if host != socket.gethostname():
        raise RuntimeError(f"cluster.weight_transport shm: the weights were written on {host} but this rollout "
                           f"engine runs on {socket.gethostname()}; shared memory reaches one machine only. Use "
                           "cluster.weight_transport ray (or nccl on GPUs) when engines run on other nodes")


def plan_layout(tensors: dict[str, torch.Tensor]) -> dict:
    offsets, position = [], 0
    for tensor in tensors.values():
        offsets.append(position)
        position += -(-tensor.numel() * tensor.element_size() // ALIGN) * ALIGN
    return {"names": list(tensors), "dtype_names": [str(t.dtype).removeprefix("torch.") for t in tensors.values()],
            "shapes": [list(t.shape) for t in tensors.values()], "offsets": offsets, "total": max(position, 1)}


def read_tensors(update: dict) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) views of a written file (mapped, not copied), on the machine that wrote it."""
    check_same_host(update["host"])
    buffer = torch.from_file(update["path"], shared=False, size=update["total"], dtype=torch.uint8)
    return [(name, view_of(buffer, offset, getattr(torch, dtype), shape))
            for name, dtype, shape, offset in zip(update["names"], update["dtype_names"], update["shapes"],
                                                  update["offsets"])]


def view_of(buffer: torch.Tensor, offset: int, dtype: torch.dtype, shape) -> torch.Tensor:
    count = 1
    for size in shape:
        count *= size
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    return buffer[offset : offset + nbytes].view(dtype).view(shape)


def remove_stale_files(folder: str = SHARED_MEMORY) -> int:
    """Remove weight files and adapter folders whose learner process is gone (killed before it removed its own)."""
    removed = 0
    for path in Path(folder).glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
