"""The learner group: N DeepSpeed ranks as Ray actors in one torch.distributed group, driven as one learner.

Every call goes to every rank (each takes its share of the batch; ZeRO-3's gathers are collectives);
rank 0 answers for the group: its exported weights, its saved model.
"""

from __future__ import annotations

from typing import Any

import ray

from actors.calls import wait, wait_one
from core.records import UpdateStats
from learner.engine import PolicyLearner, free_port
from learner.objectives import LearnerBatch


class LearnerRank(PolicyLearner):
    """A rank is placed first and joined to the group after: rank 0's address is known only once it is placed."""

    def __init__(self):  # noqa: D107 -- PolicyLearner.__init__ runs in start()
        pass

    def address(self) -> str:
        return f"{ray.util.get_node_ip_address()}:{free_port()}"

    def start(self, *args: Any, **kwargs: Any) -> None:
        PolicyLearner.__init__(self, *args, **kwargs)


class LearnerGroup:
    def __init__(self, ranks: list[ray.actor.ActorHandle], timeout_s: float):
        self.ranks, self.timeout_s = ranks, timeout_s

    @classmethod
    def create(cls, rank_options: list[dict[str, Any]], timeout_s: float) -> LearnerGroup:
        """One rank per options dict (actors/placement.py's actor_options); start() then joins them."""
        return cls([ray.remote(LearnerRank).options(**options).remote() for options in rank_options], timeout_s)

    def start(self, model_path: str, learner, algorithm, max_sequences_per_step: int, seed: int,
              bucket_mb: int, lora=None, holds_reference: bool = False) -> None:
        wait(self.begin_start(model_path, learner, algorithm, max_sequences_per_step, seed, bucket_mb, lora,
                              holds_reference), self.timeout_s)

    def begin_start(self, model_path: str, learner, algorithm, max_sequences_per_step: int, seed: int,
                    bucket_mb: int, lora=None, holds_reference: bool = False) -> dict[str, ray.ObjectRef]:
        """Every rank's start, joined into one group, as calls to wait on (with other actors' starts);
        holds_reference: rank 0 keeps a copy of the reference (learner.reference_engine learner)."""
        master_address = wait_one(self.ranks[0].address.remote(), "learner rank 0: address", self.timeout_s)
        return {f"learner rank {i}: start": r.start.remote(model_path, learner, algorithm, max_sequences_per_step,
                                                           seed, rank=i, world_size=len(self.ranks),
                                                           master=master_address, timeout_s=self.timeout_s,
                                                           bucket_mb=bucket_mb, lora=lora,
                                                           holds_reference=holds_reference and i == 0)
                for i, r in enumerate(self.ranks)}

    def train_step(self, batch: LearnerBatch) -> UpdateStats:
        batch_ref = ray.put(batch)  # one copy in the object store, read by every rank
        return UpdateStats.over_ranks(self._all("train_step", [r.train_step.remote(batch_ref) for r in self.ranks]))

    def export_weights(self) -> ray.ObjectRef:
        """Rank 0's weight buckets as one object reference that every receiver fetches."""
        refs = [r.export_weights.remote() for r in self.ranks]
        if len(refs) > 1:
            self._all("export_weights", refs[1:], first=1)  # the others only joined the gather
        return refs[0]

    def export_adapter(self, shared_memory: bool):
        """model.lora: rank 0's adapter (learner/lora.py's AdapterUpdate)."""
        return self._all("export_adapter", [r.export_adapter.remote(shared_memory) for r in self.ranks])[0]

    def write_shared_weights(self) -> dict:
        """cluster.weight_transport shm: rank 0's layout of the weights it wrote to shared memory."""
        return self._all("write_shared_weights", [r.write_shared_weights.remote() for r in self.ranks])[0]

    def send_weights_nccl(self, engines: list[ray.actor.ActorHandle], engine_gpus: int) -> None:
        self._all("send_weights_nccl", [r.send_weights_nccl.remote(engines, engine_gpus) for r in self.ranks])

    def sequence_logprobs(self, samples, exact: bool = False) -> list[list[float]]:
        return self._all("sequence_logprobs", [r.sequence_logprobs.remote(samples, exact) for r in self.ranks])[0]

    def save_pretrained(self, folder: str) -> list[ray.ObjectRef]:
        return [r.save_pretrained.remote(folder) for r in self.ranks]

    def save_state(self, folder: str) -> list[ray.ObjectRef]:
        return [r.save_state.remote(folder) for r in self.ranks]

    def load_state(self, folder: str) -> None:
        self._all("load_state", [r.load_state.remote(folder) for r in self.ranks])

    def _all(self, method: str, refs: list[ray.ObjectRef], first: int = 0) -> list[Any]:
        named = {f"learner rank {first + i}: {method}": ref for i, ref in enumerate(refs)}
        return list(wait(named, self.timeout_s).values())
