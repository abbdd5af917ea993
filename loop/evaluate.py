"""Held-out evaluation: mean reward of fresh samples, their KL to the initial policy, and what is measured
beside the reward without training on it: the gold metric (evaluation.gold), greedy answers
(evaluation.greedy), the guard metric (stopping.guard), which may have prompts of its own, and the oracle's
judging of labelled pairs (evaluation.judge_pairs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ray.actor import ActorHandle

from actors.calls import wait
from actors.oracle import Oracle
from actors.rollout_pool import RolloutPool
from core.records import Feedback, LabelledPair, Prompt, Sample
from learner.reference import ReferenceScorer
from rewards.base import RewardSource
from rewards.guard import mean_score, mean_value
from rewards.judge_agreement import JudgeAgreement


@dataclass
class Measures:
    """What every evaluation scores besides the oracle's reward."""

    gold: RewardSource | None = None  # hidden from training: the lab's gold metric
    guard: RewardSource | None = None  # the skill that must not be lost
    guard_prompts: list[Prompt] = field(default_factory=list)  # answered greedily; empty: the held-out samples
    greedy: bool = False  # one greedy answer per held-out prompt too
    judge_pairs: list[LabelledPair] = field(default_factory=list)  # labelled pairs the oracle judges every time


@dataclass
class Evaluation:
    iteration: int
    mean_reward: float
    kl_to_initial: float  # mean over samples of sum_t (log pi - log pi_init): the k1 estimate of KL(pi || pi_init)
    abstained: int
    samples: list[Sample]
    feedback: list[Feedback]
    gold: float | None = None
    guard: float | None = None
    greedy_reward: float | None = None
    greedy_gold: float | None = None
    judge: JudgeAgreement | None = None  # the oracle on measures.judge_pairs
    # further samples to record, by name: the greedy answers, the guard's own prompts' answers
    extra: dict[str, tuple[list[Sample], list[Feedback]]] = field(default_factory=dict)

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


def evaluate(rollout: RolloutPool, oracle: ActorHandle[Oracle], initial: ActorHandle[ReferenceScorer], timeout_s: float,
             prompts: list[Prompt], samples_per_prompt: int, seed: int, iteration: int, measures: Measures) -> Evaluation:
    """Same seed every time, so differences between iterations come from the policy, not the sampling.
    initial: the scorer of the initial policy's log-probs (KL to it)."""
    samples = rollout.generate(prompts, samples_per_prompt, seed, iteration, 0, "eval")
    calls = {"oracle: score": oracle.score.remote(samples), "initial: score": initial.score.remote(samples)}
    results = wait(calls, timeout_s)
    feedback, initial = results["oracle: score"], results["initial: score"]
    kl = [sum(s.behaviour_logprobs) - sum(ref) for s, ref in zip(samples, initial)]
    reward = mean_value(feedback)
    result = Evaluation(iteration=iteration, mean_reward=float("nan") if reward is None else reward,
                        kl_to_initial=sum(kl) / len(kl), abstained=sum(fb.value is None for fb in feedback),
                        samples=samples, feedback=feedback)
    if measures.gold is not None:
        result.gold = mean_score(measures.gold, samples)
    if measures.greedy:
        greedy = rollout.generate(prompts, 1, seed, iteration, 0, "eval-greedy", greedy=True)
        greedy_feedback = wait({"oracle: score": oracle.score.remote(greedy)}, timeout_s)["oracle: score"]
        result.greedy_reward = mean_value(greedy_feedback)
        result.greedy_gold = mean_score(measures.gold, greedy) if measures.gold is not None else None
        result.extra["eval-greedy"] = (greedy, greedy_feedback)
    if measures.guard is not None and measures.guard_prompts:
        answers = rollout.generate(measures.guard_prompts, 1, seed, iteration, 0, "guard", greedy=True)
        guard_feedback = measures.guard.score(answers)
        result.guard = mean_value(guard_feedback)
        result.extra["guard"] = (answers, guard_feedback)
    elif measures.guard is not None:
        result.guard = mean_score(measures.guard, samples)
    if measures.judge_pairs:
        result.judge = wait({"oracle: judge pairs": oracle.judge_pairs.remote(measures.judge_pairs)}, timeout_s)[
            "oracle: judge pairs"]
    return result
