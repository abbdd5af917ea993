"""GPU weight sync (cluster.weight_transport nccl): vLLM's NCCL weight-transfer engine, with learner rank 0
broadcasting every parameter to the workers of every rollout engine (which drive their side through the
RolloutEngine actors' init_weight_transfer_engine / start / update / finish methods).

Needs GPUs and the CUDA build of vLLM, so it does not run here; the CPU path is learner/weights.py's
buckets through Ray. Each rank calls send(): under ZeRO 1/2 every rank holds the full parameters.
"""

from __future__ import annotations


class NcclWeightSender:
    def __init__(self, module, engines: list, engine_gpus: int, rank: int):
        import ray
        from vllm.distributed.weight_transfer.base import ModuleSource
        from vllm.distributed.weight_transfer.clients import RayVLLMWeightSyncClient
        from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo, NCCLTrainerWeightTransferEngine

        from learner.engine import free_port

        info = NCCLTrainerInitInfo(master_address=ray.util.get_node_ip_address(), master_port=free_port(),
                                   world_size=1 + engine_gpus, rank=rank)
        self.transfer = NCCLTrainerWeightTransferEngine.trainer_init(
            info, client=RayVLLMWeightSyncClient(engines), source=ModuleSource(module))

    def send(self) -> None:
        self.transfer.send_weights()
