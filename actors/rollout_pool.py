"""Several vLLM rollout engines as one generator (data parallel): prompts sharded, results in prompt order.

Sampling is seeded per request (vLLM's SamplingParams.seed), so which engine draws a prompt's samples
does not change them. The pool is also an LLM judge's engine (rewards.judge.JudgeEngine): the policy judging
itself uses every rollout engine, a separate judge model a pool of its one engine.
"""

from __future__ import annotations

from collections.abc import Callable

import ray

from actors.calls import wait
from core.records import Prompt, Sample


class RolloutPool:
    def __init__(self, engines: list[ray.actor.ActorHandle], timeout_s: float, tensor_parallel: int = 1,
                 role: str = "rollout engine"):
        self.engines, self.timeout_s, self.role = engines, timeout_s, role  # role: how errors name the engines
        self.workers = len(engines) * tensor_parallel  # vLLM worker processes, one per GPU (nccl transport)

    def generate(self, prompts: list[Prompt], n: int, seed: int, iteration: int, step: int,
                 split: str = "train", greedy: bool = False) -> list[Sample]:
        return self.join(self.start_generate(prompts, n, seed, iteration, step, split, greedy))

    def start_generate(self, prompts: list[Prompt], n: int, seed: int, iteration: int, step: int,
                       split: str = "train", greedy: bool = False) -> dict[str, ray.ObjectRef]:
        """generate's calls, started: the engines work while the caller does other things (train.max_staleness).
        A call made after them (a weight push) runs on each engine after them."""
        return self._start("generate", prompts,
                           lambda engine, shard: engine.generate.remote(shard, n, seed, iteration, step, split, greedy))

    def join(self, calls: dict[str, ray.ObjectRef]) -> list:
        """The results of started calls, joined back in item order."""
        return [result for part in wait(calls, self.timeout_s).values() for result in part]

    def score(self, samples: list[Sample]) -> list[list[float]]:
        return self._scatter("score", samples, lambda engine, shard: engine.score.remote(shard))

    def next_token_logprobs(self, prefixes: list[list[int]], candidates: list[int]) -> list[list[float]]:
        return self._scatter("next_token_logprobs", prefixes,
                             lambda engine, shard: engine.next_token_logprobs.remote(shard, candidates))

    def sample_texts(self, prefixes: list[list[int]], n: int, temperature: float, top_p: float, max_tokens: int,
                     seeds: list[int]) -> list[list[str]]:
        def call(engine, shard):
            return engine.sample_texts.remote([p for p, _ in shard], n, temperature, top_p, max_tokens,
                                              [s for _, s in shard])

        return self._scatter("sample_texts", list(zip(prefixes, seeds)), call)

    def load_weights(self, weights: ray.ObjectRef, version: int) -> dict[str, ray.ObjectRef]:
        """Start every engine's load of the same weight buckets; the caller waits with its other receivers."""
        return {f"{self.role} {i}: load_weights": engine.load_weights.remote(weights, version)
                for i, engine in enumerate(self.engines)}

    def load_shared_weights(self, update: dict, version: int) -> dict[str, ray.ObjectRef]:
        """Start every engine's load of the weights in shared memory (cluster.weight_transport shm)."""
        return {f"{self.role} {i}: load_shared_weights": engine.load_shared_weights.remote(update, version)
                for i, engine in enumerate(self.engines)}

    def load_adapter(self, update, version: int) -> dict[str, ray.ObjectRef]:
        """Start every engine's load of a LoRA policy's new adapter (learner/lora.py's AdapterUpdate)."""
        update = ray.put(update)  # one copy in the object store, however many engines
        return {f"{self.role} {i}: load_adapter": engine.load_adapter.remote(update, version)
                for i, engine in enumerate(self.engines)}

    def _scatter(self, what: str, items: list, call: Callable[[ray.actor.ActorHandle, list], ray.ObjectRef]) -> list:
        """call(engine, shard) on each engine's contiguous shard; the results joined back in item order."""
        return self.join(self._start(what, items, call))

    def _start(self, what: str, items: list, call: Callable[[ray.actor.ActorHandle, list], ray.ObjectRef]
               ) -> dict[str, ray.ObjectRef]:
        shards = contiguous_shards(items, len(self.engines))
        return {f"{self.role} {i}: {what}": call(engine, shard)
                for i, (engine, shard) in enumerate(zip(self.engines, shards)) if shard}


def contiguous_shards(items: list, parts: int) -> list[list]:
    """items split into `parts` contiguous runs whose lengths differ by at most one (concatenated: items)."""
    size, extra = divmod(len(items), parts)
    shards, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        shards.append(items[start:end])
        start = end
    return shards
