"""The online merging optimizer (Lu et al. 2024) around a DeepSpeed engine's optimizer steps.

Each optimizer step's update Delta (what AdamW did) is replaced by OnDARE's or OnTIES's merge of Delta
with the supervised task vector tau = theta_SFT - theta_base (learner/merging.py). The merge works on the
optimizer's fp32 master weights, where the next step starts from, and on this rank's share of them only
(learner/zero_shards.py): under ZeRO a rank holds tau, the snapshot and Delta for its partition alone.
OnTIES's trims are over whole parameters: a parameter's magnitude threshold is found from counts added
over the ranks (learner/merging.kth_largest_magnitudes), so N ranks merge exactly like one.
"""

from __future__ import annotations

import torch

from learner.merging import (
    drop_and_rescale,
    keep_at_least,
    kth_largest_magnitudes,
    magnitude_counter,
    ondare_update,
    onties_update,
    top_count,
)
from learner.weights import ModelTensors
from learner.zero_shards import finish, is_sharded, rank_shares, sum_over_ranks


class OnlineMerging:
    def __init__(self, module: torch.nn.Module, base_path: str, sft_path: str, method: str, keep_rate: float,
                 alpha: float, seed: int):
        self.shares = rank_shares(module)
        self.method, self.keep_rate, self.alpha = method, keep_rate, alpha
        self.sharded = is_sharded(self.shares)
        self.ks = torch.tensor([top_count(share.total, keep_rate) for share in self.shares])  # OnTIES's trims
        # OnDARE's random drops: replicas must draw the same, shards of one tensor draw their own
        stream = torch.distributed.get_rank() if self.sharded else 0
        self.generator = torch.Generator().manual_seed(seed * 1009 + stream)
        tau = self._rank_tau(ModelTensors(base_path), ModelTensors(sft_path))
        # tau's drop mask is drawn (OnDARE) or its trim computed (OnTIES) once, at the start
        self.tau = [drop_and_rescale(t, keep_rate, self.generator) for t in tau] if method == "ondare" else self._trim(tau)

    def _rank_tau(self, base: ModelTensors, sft: ModelTensors) -> list[torch.Tensor]:
        """This rank's share of SFT - base, read one parameter at a time."""
        missing = [s.name for s in self.shares if s.name not in base or s.name not in sft]
        if missing:
            raise ValueError(f"learner.merging: the base or SFT model has no tensor {missing[0]} (of {len(missing)}); "
                             "both must have the policy's architecture")
        tau = []
        for share in self.shares:
            full = (sft[share.name] - base[share.name]).flatten()
            if full.numel() != share.total:
                raise ValueError(f"learner.merging: tensor {share.name} has {full.numel()} entries in the base or SFT "
                                 f"model and {share.total} in the policy; they must have the policy's architecture")
            tau.append(full[share.start : share.start + share.numel].clone())
        return tau

    def _trim(self, values: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each parameter's top keep_rate fraction by magnitude, over the whole parameter wherever it lives."""
        local = magnitude_counter(values)
        count = (lambda bits: sum_over_ranks(local(bits))) if self.sharded else local
        thresholds = kth_largest_magnitudes(count, self.ks)
        return [keep_at_least(value, threshold) for value, threshold in zip(values, thresholds)]

    def snapshot(self) -> list[torch.Tensor]:
        return [share.read().clone() for share in self.shares]

    @torch.no_grad()
    def merge_step(self, before: list[torch.Tensor]) -> None:
        """Replace the update made since `before` by the merged update (every rank calls this: it is collective)."""
        deltas = [share.read() - b for share, b in zip(self.shares, before)]
        if self.method == "ondare":
            updates = [ondare_update(d, t, self.keep_rate, self.alpha, self.generator) for d, t in zip(deltas, self.tau)]
        else:
            updates = [onties_update(d, t, self.alpha) for d, t in zip(self._trim(deltas), self.tau)]
        for share, b, update in zip(self.shares, before, updates):
            share.write(b + update)
        finish(self.shares)
