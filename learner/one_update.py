"""The optimizer-step plan of most algorithms: one update per batch, its micro-batches from the objective."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from core.records import UpdateStats
from learner.batch import pack_by_tokens
from learner.logprobs import token_logprobs
from learner.objectives import LearnerBatch, Objective, idle_loss, make_micro_batch, zero_loss
from learner.shared_prompts import merge_by_prompt

if TYPE_CHECKING:
    from learner.engine import PolicyLearner


class OneUpdate:
    """An Updater (learner/algorithms/base.py): the whole batch in micro-batches (`accumulation_steps` of
    micro_batch_size sequences, or packed by a token budget) and one optimizer step, merged with the SFT task
    vector when online merging is on."""

    def __init__(self, objective: Objective, learner: PolicyLearner):
        self.objective, self.learner = objective, learner

    def train_step(self, batch: LearnerBatch) -> UpdateStats:
        learner, objective = self.learner, self.objective
        engine = learner.engine
        objective.prepare(batch, learner.sequence_logprobs)
        engine.train()
        count = objective.normaliser(batch)
        chunks = self._micro_batches(batch)
        before_step = learner.merging.snapshot() if learner.merging else None
        losses, nonfinite, stats = [], 0, defaultdict(list)
        for index, chunk in enumerate(chunks):
            # the optimizer steps after the last micro-batch, however many there are (token budgets vary it)
            engine.set_gradient_accumulation_boundary(index == len(chunks) - 1)
            if not chunk:  # keeps DeepSpeed's accumulation count, and this rank in ZeRO-3's collectives
                loss = idle_loss(lambda row: token_logprobs(engine, row, learner.compute_dtype), engine.device)
            else:
                micro = make_micro_batch(batch, chunk, learner.pad_token_id, learner.share_prompts).to(engine.device)
                loss, part_stats = objective.loss(token_logprobs(engine, micro.tokens, learner.compute_dtype), micro, count)
                for key, value in part_stats.items():
                    stats[key].append(value)
            if not torch.isfinite(loss):
                # only from the weights (inputs were checked): back-propagate zeros so the optimizer state stays finite
                nonfinite += 1
                loss = zero_loss(engine)
            # the loss is already divided by the whole step's count; DeepSpeed averages the ranks' gradients
            engine.backward(loss * learner.world_size, scale_wrt_gas=False)
            engine.step()
            losses.append(loss.item())
        if learner.merging:  # the optimizer stepped at the last micro-batch; merge its update with tau
            learner.merging.merge_step(before_step)
        return UpdateStats(loss=sum(losses), grad_norm=float(engine.get_global_grad_norm() or 0.0),
                           nonfinite_microbatches=nonfinite,
                           details={key: sum(values) / len(values) for key, values in stats.items()})

    def _micro_batches(self, batch: LearnerBatch) -> list[list[list[int]]]:
        """This rank's micro-batches: fixed counts of sequences, or packed by learner.max_tokens_per_micro_batch
        (with learner.share_prompts a rank's samples of one prompt as one row: merged after the units are dealt, so
        that every rank gets its share). Every rank runs as many as the rank that needs most (DeepSpeed reduces
        gradients at each backward)."""
        learner, units = self.learner, self.objective.units(batch)
        budget, share = learner.max_tokens_per_micro_batch, learner.share_prompts
        per_rank = [units[rank :: learner.world_size] for rank in range(learner.world_size)]
        if share:
            per_rank = [merge_by_prompt(part, batch.samples, budget) for part in per_rank]
        if not budget:
            return split_units(per_rank[learner.rank], learner.micro_batch_size, learner.accumulation_steps)
        packs = [pack_by_tokens(part, batch.samples, budget, share) for part in per_rank]
        mine = packs[learner.rank]
        return mine + [[] for _ in range(max(map(len, packs)) - len(mine))]

    def save(self, folder: str) -> dict:
        return {}

    def load(self, folder: str, state: dict) -> None:
        pass


def split_units(units: list[list[int]], micro_batch_size: int, chunks: int) -> list[list[list[int]]]:
    """Pack units (a sample, or a pair that must stay together) into exactly `chunks` micro-batches of at
    most micro_batch_size sequences each (a unit larger than that gets a micro-batch of its own)."""
    packed: list[list[list[int]]] = [[]]
    size = 0
    for unit in units:
        if packed[-1] and size + len(unit) > micro_batch_size:
            packed.append([])
            size = 0
        packed[-1].append(unit)
        size += len(unit)
    if len(packed) > chunks:
        raise ValueError(f"{sum(map(len, units))} sequences do not fit {chunks} micro-batches of {micro_batch_size}")
    return packed + [[] for _ in range(chunks - len(packed))]
