"""In vLLM's worker process: an extension that loads weights from safetensors bucket files (the ray
transport), the "shm" weight-transfer backend registered in vLLM's engine registry (the shm transport), and
(CPU only) a worker that sleeps between its scheduler's messages instead of spinning.

Names avoid vLLM's own worker methods (update_weights, start_weight_update, finish_weight_update).
The model runner's reload_weights repacks weights the way the CPU backend needs; the model's own
load_weights after start-up does not (found on vLLM 0.32's CPU build: the engine then samples
from stale weights).
"""

from __future__ import annotations

import logging


class FileWeightLoader:
    def load_weights_from_files(self, paths: list[str]) -> int:
        """Load safetensors bucket files (written to shared memory by the RolloutEngine actor)."""
        from safetensors.torch import load_file

        loaded = 0

        def counted():
            nonlocal loaded
            for path in paths:
                for item in load_file(path).items():
                    loaded += 1
                    yield item

        self.model_runner.reload_weights(weights_iterator=counted())
        retie_lm_head(self.model_runner.get_model())
        return loaded


def retie_lm_head(model) -> None:
    """vLLM 0.32's layer-wise reload skips a tied lm_head ("ParallelLMHead: Failed to load weights"), so its
    CPU kernel keeps a packed copy of the old embedding: copy and repack it."""
    import torch

    if getattr(model.config, "tie_word_embeddings", False) and hasattr(model, "lm_head"):
        with torch.no_grad():
            if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
                model.lm_head.weight.copy_(model.model.embed_tokens.weight)
        model.lm_head.quant_method.process_weights_after_loading(model.lm_head)


def wait_without_spinning() -> None:
    """vLLM's worker spins (sched_yield) for a second after each message from its scheduler, waiting for the
    next (SpinCondition's busy_loop_s, vllm/distributed/device_communicators/shm_broadcast.py). On a CPU node
    whose cores the loop's phases take in turn, that second is taken from the phase after: the reference after
    generation; the learner after a vLLM reference's scoring (25M: learning took 4.51 s a step against 3.90).
    An engine that binds every core (actors/placement.VLLM_EVERY_CORE: 20 MB of weights or more) waits on its
    socket at once; on the tiny model the wake-up each decoding step costs more than the spin (an end-to-end
    run 56-59 s against 66-67 s). Runs in the worker when it imports this module, before it builds its
    message queues; the variable reaches it from the actor's environment."""
    import functools
    import os

    from vllm.distributed.device_communicators import shm_broadcast
    from vllm.platforms import current_platform

    from actors.placement import WORKER_SLEEPS

    if not current_platform.is_cpu() or os.environ.get(WORKER_SLEEPS) != "1":
        return
    spin_init = shm_broadcast.SpinCondition.__init__

    @functools.wraps(spin_init)
    def without_busy_loop(self, is_reader, context, notify_address, busy_loop_s=None):
        spin_init(self, is_reader, context, notify_address, busy_loop_s=0)  # whatever the caller asked

    shm_broadcast.SpinCondition.__init__ = without_busy_loop


def register_shm_backend() -> None:
    """vLLM's WeightTransferEngineFactory learns "shm" when this module is imported in its worker (as the
    worker extension's module it is, before the worker builds its weight-transfer engine)."""
    from dataclasses import dataclass, field

    import torch
    from vllm.distributed.weight_transfer.base import (
        WeightTransferEngine,
        WeightTransferInitInfo,
        WeightTransferUpdateInfo,
    )
    from vllm.distributed.weight_transfer.factory import WeightTransferEngineFactory
    from vllm.model_executor.model_loader.reload import finalize_layerwise_reload, initialize_layerwise_reload

    from learner.shm_weights import read_tensors

    @dataclass
    class SharedMemoryInitInfo(WeightTransferInitInfo):
        pass  # nothing to rendezvous: the file's path comes with each update

    @dataclass
    class SharedMemoryUpdateInfo(WeightTransferUpdateInfo):
        path: str
        host: str
        total: int
        names: list[str] = field(default_factory=list)
        dtype_names: list[str] = field(default_factory=list)
        shapes: list[list[int]] = field(default_factory=list)
        offsets: list[int] = field(default_factory=list)

    class SharedMemoryWeightTransfer(WeightTransferEngine[SharedMemoryInitInfo, SharedMemoryUpdateInfo]):
        """The learner's weights from a file in shared memory (learner/shm_weights.py), loaded as the NCCL
        and IPC backends load theirs: the model's load_weights inside vLLM's layer-wise reload."""

        init_info_cls = SharedMemoryInitInfo
        update_info_cls = SharedMemoryUpdateInfo

        def init_transfer_engine(self, init_info: SharedMemoryInitInfo) -> None:
            pass

        def start_weight_update(self) -> None:
            initialize_layerwise_reload(self.model)

        def update_weights(self, update_info: dict) -> None:
            # the base class ends with torch.accelerator.synchronize(), which raises where there is no accelerator
            self.receive_weights(self.parse_update_info(update_info))
            if torch.accelerator.is_available():
                torch.accelerator.synchronize()

        def receive_weights(self, update_info: SharedMemoryUpdateInfo) -> None:
            self.model.load_weights(read_tensors(vars(update_info)))

        def finish_weight_update(self) -> None:
            finalize_layerwise_reload(self.model, self.model_config)
            retie_lm_head(self.model)

        def shutdown(self) -> None:
            pass

    try:
        WeightTransferEngineFactory.register_engine("shm", SharedMemoryWeightTransfer)
    except ValueError:
        pass  # registered already (this module imported twice)


# Every reload warns that RotaryEmbedding (no weights) and the tied lm_head "failed to load"; both are expected
# (retie_lm_head handles the lm_head), so keep the worker's log readable.
logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)
register_shm_backend()
wait_without_spinning()
