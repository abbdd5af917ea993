"""This rank's share of each parameter's fp32 master weights, the ones the optimizer steps on, under any ZeRO stage.

What a rank holds (DeepSpeed 0.19):
  stage 0     the whole parameter (every rank a replica); the parameter is the master copy.
  stage 1, 2  a contiguous fragment of the flattened parameter in the optimizer's fp32 partition
              (param._hp_mapping; None where this rank owns none of it); the module keeps the full
              parameter on every rank, refreshed from the fragments after each step.
  stage 3     the rank-th slice of ds_tensor.ds_numel entries of the flattened parameter (the last one padded),
              in the optimizer's fp32 partition and in param.ds_tensor, the module's own partition.
A rank reads and writes only its share; finish() makes the module consistent again, as DeepSpeed does
after an optimizer step. Values are 1-D fp32 CPU tensors of the share's valid entries (on GPUs the merge
math runs on the host: simple, but a copy of the share each way per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.device import compute_device

REPLICA, FRAGMENT, PARTITION = "replica", "fragment", "partition"  # ZeRO 0, 1-2, 3


@dataclass
class Share:
    name: str
    param: torch.nn.Parameter
    kind: str  # REPLICA, FRAGMENT or PARTITION
    start: int  # first entry of the flattened parameter this rank holds
    numel: int  # how many (0: none)
    total: int  # the whole parameter's entries

    def read(self) -> torch.Tensor:
        if self.numel == 0:
            return torch.zeros(0)
        if self.kind == PARTITION:
            return self.param._z3_optimizer.get_local_fp32_param(self.param)[: self.numel].float().cpu()
        if self.kind == FRAGMENT:
            return self.param._hp_mapping.hp_fragment.detach().float().cpu()
        return self.param.detach().flatten().float().cpu()

    def write(self, values: torch.Tensor) -> None:
        """The optimizer's master copy and, where the module keeps it, this rank's part of the parameter."""
        if self.numel == 0:
            return
        if self.kind == PARTITION:
            partition = self.param._z3_optimizer.get_local_fp32_param(self.param).clone()
            partition[: self.numel] = values  # the padding past the parameter's end is kept
            self.param._z3_optimizer.set_local_hp_param(partition, self.param)
            self.param.ds_tensor.data.copy_(partition.to(self.param.ds_tensor.dtype))
        elif self.kind == FRAGMENT:
            self.param._hp_mapping.hp_fragment.data.copy_(values)
        else:
            self.param.data.view(-1).copy_(values.to(self.param.dtype))


def rank_shares(module: torch.nn.Module) -> list[Share]:
    return [Share(name, param, _kind(param), *_range(param), getattr(param, "ds_numel", param.numel()))
            for name, param in module.named_parameters()]


def is_sharded(shares: list[Share]) -> bool:
    """Whether the ranks hold different parts (ZeRO 1-3 with several ranks), so counts over a tensor add up."""
    return torch.distributed.get_world_size() > 1 and any(s.kind != REPLICA for s in shares)


def sum_over_ranks(counts: torch.Tensor) -> torch.Tensor:
    """The counts added over the learner's ranks (a collective: every rank calls it)."""
    on_device = counts.to(compute_device())  # NCCL reduces only GPU tensors; gloo's are on the CPU anyway
    torch.distributed.all_reduce(on_device)
    return on_device.cpu()


@torch.no_grad()
def finish(shares: list[Share]) -> None:
    """After writes, every rank's module holds the new weights (a collective: every rank calls it)."""
    from deepspeed.utils import safe_get_full_fp32_param

    if not shares:
        return
    kind = shares[0].kind
    if kind == FRAGMENT:  # every fragment's owner contributes it to an all-reduce of the whole parameter
        for share in shares:
            share.param.data.copy_(safe_get_full_fp32_param(share.param).to(share.param.dtype))
    elif kind == PARTITION:  # small parameters stay gathered on every rank: release and gather them again
        persistent = shares[0].param._z3_optimizer.persistent_parameters
        if persistent:  # as DeepSpeed does after loading a checkpoint (stage3.py, load_state_dict)
            persistent[0].partition(persistent)
            persistent[0].all_gather(persistent)


def _kind(param: torch.nn.Parameter) -> str:
    if hasattr(param, "ds_id"):
        return PARTITION
    return FRAGMENT if hasattr(param, "_hp_mapping") else REPLICA


def _range(param: torch.nn.Parameter) -> tuple[int, int]:
    kind = _kind(param)
    if kind == PARTITION:
        size = param.ds_tensor.ds_numel
        start = size * param._z3_optimizer._get_param_partition_rank(param)
        return start, max(0, min(param.ds_numel - start, size))
    if kind == FRAGMENT:
        mapping = param._hp_mapping
        return (mapping.lp_fragment_address.start, mapping.lp_fragment_address.numel) if mapping else (0, 0)
    return 0, param.numel()
