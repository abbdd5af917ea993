"""Held-out evaluation: mean reward of fresh samples and their KL to the initial policy."""

from __future__ import annotations

from dataclasses import dataclass

from actors.calls import wait
from actors.group import Actors
from core.records import Feedback, Prompt, Sample


@dataclass
class Evaluation:
    iteration: int
    mean_reward: float
    kl_to_initial: float  # mean over samples of sum_t (log pi - log pi_init): the k1 estimate of KL(pi || pi_init)
    abstained: int
    samples: list[Sample]
    feedback: list[Feedback]

    def rewards_by_prompt(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for sample, fb in zip(self.samples, self.feedback):
            if fb.value is not None:
                out.setdefault(sample.prompt_id, []).append(fb.value)
        return out


def win_rate(new: dict[str, list[float]], old: dict[str, list[float]]) -> float:
    """P(new sample beats old sample) over all same-prompt pairs, a tie counting one half; by the oracle's
    rewards, so it is the configured oracle that judges. NaN when no prompt has rewards on both sides."""
    wins = pairs = 0.0
    for prompt, new_rewards in new.items():
        for a in new_rewards:
            for b in old.get(prompt, []):
                wins += 1.0 if a > b else 0.5 if a == b else 0.0
                pairs += 1
    return wins / pairs if pairs else float("nan")


def evaluate(actors: Actors, prompts: list[Prompt], samples_per_prompt: int, seed: int, iteration: int) -> Evaluation:
    """Same seed every time, so differences between iterations come from the policy, not the sampling."""
    samples = actors.rollout.generate(prompts, samples_per_prompt, seed, iteration, 0, "eval")
    calls = {"oracle: score": actors.oracle.score.remote(samples), "initial: score": actors.initial.score.remote(samples)}
    results = wait(calls, actors.timeout_s)
    feedback, initial = results["oracle: score"], results["initial: score"]
    scored = [fb.value for fb in feedback if fb.value is not None]
    kl = [sum(s.behaviour_logprobs) - sum(ref) for s, ref in zip(samples, initial)]
    return Evaluation(
        iteration=iteration,
        mean_reward=sum(scored) / len(scored) if scored else float("nan"),
        kl_to_initial=sum(kl) / len(kl),
        abstained=len(feedback) - len(scored),
        samples=samples,
        feedback=feedback,
    )
