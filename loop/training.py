"""The training loop: generate, score, reference log-probs, learn, push weights; evaluate, checkpoint and
check per iteration.

One step, top to bottom (every call below is a typed method on a Ray actor):
  samples   = rollout.generate(prompts)              vLLM, with behaviour log-probs
  feedback  = oracle.score(samples)                  one score per sample, or an abstention
  signal    = algorithm.signal(...)                  score targets, labels, pairs or advantages (its registry entry)
  ref       = reference.score(samples)               log-probs under the reference policy
  stats     = learner.train_step(LearnerBatch(samples, ref, signal))   DeepSpeed
  rollout.load_weights(learner.export_weights())     the generator now samples from the new policy
Online mode learns and pushes every step; iterative mode collects the iteration, then learns and pushes.
With train.max_staleness k the generations of the next k steps start before the learner trains
(loop/generation_queue.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from actors.calls import wait_one
from actors.group import Actors
from core.config import RunConfig
from core.data import PromptSets, prompt_batches
from core.records import Feedback, Prompt, Sample, UpdateStats
from learner.algorithms import lookup
from learner.objectives import LearnerBatch
from loop import checkpoint
from loop.evaluate import Evaluation, Measures, evaluate, win_rate
from loop.generation_queue import GenerationQueue
from loop.metrics import MetricsLog
from loop.model_card import model_card
from loop.policy_sync import PolicySync
from loop.records import RecordWriter
from loop.state import IterationRow, LoopState, Stop, StopReason
from loop.stopping import Evaluated, should_stop
from loop.timing import PhaseTimer
from loop.trackers import Tracker
from rewards.guard import build_guard, build_metric
from rewards.normalize import score_targets
from rewards.preference_pairs import load_judge_pairs
from rewards.signals import mismatched_samples

log = logging.getLogger(__name__)
MAX_QUOTED_REASONS = 3


@dataclass
class LoopResult:
    iterations: list[IterationRow]
    stop_reason: StopReason
    stop_detail: str
    checkpoints: list[str]
    abstentions: int
    ties_dropped: int
    nonfinite_updates: int
    actor_restarts: int
    phase_seconds: dict[str, float] = field(default_factory=dict)


class TrainingLoop:
    def __init__(self, cfg: RunConfig, actors: Actors, prompts: PromptSets, out_dir: Path, trackers: list[Tracker]):
        """A run folder with a checkpoint is resumed from its newest one (loop/checkpoint.py); trackers:
        loop/trackers.open_trackers's for this run folder, closed by close()."""
        self.cfg, self.actors, self.prompts, self.out_dir = cfg, actors, prompts, out_dir
        self.timer = PhaseTimer()
        self.state = LoopState()
        self.algorithm = lookup(cfg.algorithm)
        self.resume_from = checkpoint.latest(out_dir)
        if self.resume_from is not None:
            self.state, records, metrics_bytes = checkpoint.read_state(self.resume_from, cfg.to_dict(), prompts.digest)
            removed = checkpoint.discard_after(out_dir, records, metrics_bytes)
            log.info("resuming from %s (iteration %d done; %d record files written after it discarded)",
                     self.resume_from, self.state.iteration, removed)
        else:
            checkpoint.discard_after(out_dir, [], 0)  # a run killed before its first checkpoint starts over
        self.metrics = MetricsLog(out_dir, trackers)
        self.records = RecordWriter(out_dir / "records")
        self.sync = PolicySync(cfg, actors, self.state)
        self.measures = Measures(build_metric(cfg.evaluation.gold), build_guard(cfg.stopping.guard, cfg.data.source == "toy"),
                                 prompts.guard, cfg.evaluation.greedy, load_judge_pairs(cfg.evaluation.judge_pairs))
        self.stop = Stop("not_started", "")
        self.abstention_reasons: list[str] = []  # the first distinct ones, quoted when nothing can be learned

    def run(self) -> LoopResult:
        """Run every iteration; on an error or Ctrl-C, result() still describes what was done. close() after."""
        try:
            self.stop = self._iterate()
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (launch.py raises it the same way)
            self.stop = Stop("interrupted", str(err) or "stopped by the user (Ctrl-C)")
            raise
        except Exception as err:
            self.stop = Stop("error", f"{type(err).__name__}: {err}")
            raise
        return self.result()

    def close(self, artifacts: list[Path] = ()) -> None:
        """After the run folder's summary and report are written: the metrics files and trackers closed, the
        trackers given those files."""
        self.metrics.close(artifacts)

    def result(self) -> LoopResult:
        state = self.state
        return LoopResult(state.rows, self.stop.reason, self.stop.detail, state.checkpoints, state.abstentions,
                          state.ties_dropped, state.nonfinite_updates, state.actor_restarts, self.timer.totals())

    def _iterate(self) -> Stop:
        train, state = self.cfg.train, self.state
        batches = prompt_batches(self.prompts.train, train.prompts_per_step, train.seed)
        if self.resume_from is not None:
            self._restore(batches)
            fired = self._check_stop(state.iteration)  # the crash may have come between a check and the stop
            if fired:
                return fired
        else:
            state.rows.append(self._evaluate(0, seconds=0.0, train_samples=0))
        for iteration in range(state.iteration + 1, train.iterations + 1):
            started = self.timer.totals()["total"]
            samples_seen, collected, learnable_steps = 0, [], 0
            bar = tqdm(range(1, train.steps_per_iteration + 1), desc=f"iteration {iteration}", unit="step")
            self.timer.lap()  # a step's phase times start here, not at the evaluation before it
            queue, launched = GenerationQueue(self.actors.rollout, self.cfg.rollout.samples_per_prompt, self.sync), 0
            for step in bar:
                global_step = (iteration - 1) * train.steps_per_iteration + step
                launched = self._start_generations(queue, batches, iteration, step, launched)
                state.step = global_step
                with self.timer.phase("generate"):
                    _, samples = queue.next()
                batch, stats = self._collect(samples, iteration, step, global_step)
                learnable_steps += batch is not None
                update = None
                if batch is not None and train.mode == "online":
                    update, synced = self._learn(batch)
                    stats |= update.metrics() | synced
                elif batch is not None:
                    collected.append(batch)
                samples_seen += int(stats["samples"])
                self._log_step(global_step, iteration, stats)
                bar.set_postfix(reward=f"{stats['reward_mean']:.3f}", loss=f"{stats.get('loss', math.nan):.4f}")
                if (update is not None and self._too_many_nonfinite(update)) or self._over_budget():
                    break
            bar.close()
            state.batches_drawn -= queue.discard()  # a resume draws a dropped step's prompts again
            if not learnable_steps:
                quoted = "; ".join(self.abstention_reasons) or "none"
                return Stop("no_learning_signal", f"no step of iteration {iteration} had anything to learn from (the oracle "
                        f"abstained on every sample, or every prompt's samples tied: {self.state.abstentions} abstentions, "
                        f"{self.state.ties_dropped} prompts dropped for ties so far); check the reward source. The first "
                        f"reasons given for abstaining: {quoted}")
            if collected:
                self._learn_iteration(collected, iteration)
            with self.timer.phase("sync"):
                self.sync.refresh_after_iteration()
            seconds = self.timer.totals()["total"] - started
            state.rows.append(self._evaluate(iteration, seconds, samples_seen))
            self._checkpoint(iteration)
            fired = self._check_stop(iteration)
            if fired:
                return fired
        return Stop("iteration_limit", f"ran all {train.iterations} iterations")

    def _start_generations(self, queue: GenerationQueue, batches: Iterator[list[Prompt]], iteration: int, step: int,
                           launched: int) -> int:
        """Start generating every step up to train.max_staleness ahead of this one, within the iteration;
        returns the last step started."""
        train = self.cfg.train
        last = min(step + train.max_staleness, train.steps_per_iteration)
        for ahead in range(launched + 1, last + 1):
            self.state.batches_drawn += 1
            global_step = (iteration - 1) * train.steps_per_iteration + ahead
            queue.start(next(batches), iteration, ahead, _seed(train.seed, global_step))
        return max(launched, last)

    def _over_budget(self) -> bool:
        budget = self.cfg.stopping.max_seconds
        return budget > 0 and self._training_seconds() >= budget

    def _training_seconds(self) -> float:
        """Loop time without held-out evaluation and checkpoints, so that how often those run costs no budget."""
        totals = self.timer.totals()
        return totals["total"] - totals["evaluate"] - totals["checkpoint"]

    def _check_stop(self, iteration: int) -> Stop | None:
        state, limit = self.state, self.cfg.learner.max_nonfinite_updates
        if state.nonfinite_updates >= limit:
            return Stop("non_finite_loss", f"{state.nonfinite_updates} updates in a row had a non-finite loss "
                    f"(learner.max_nonfinite_updates={limit})")
        if self._over_budget():
            return Stop("time_budget", f"{self._training_seconds():.0f} s of training reached stopping.max_seconds="
                    f"{self.cfg.stopping.max_seconds:g} ({state.updates} updates)")
        history = [Evaluated(r.iteration, r.eval_reward, r.kl_to_initial, r.win_rate_vs_previous, r.guard)
                   for r in state.rows]
        fired = should_stop(history, self.cfg.stopping)
        if fired and iteration < self.cfg.train.iterations:
            log.info("stopping after iteration %d: %s", iteration, fired.detail)
            return fired
        return None

    def _collect(self, samples: list[Sample], iteration: int, step: int, global_step: int
                 ) -> tuple[LearnerBatch | None, dict[str, float]]:
        """Score the step's samples, build the learning signal and reference log-probs; record every sample."""
        cfg, actors = self.cfg, self.actors
        # policy versions between the one that drew each sample and the one about to learn from it
        staleness = [self.state.policy_version - s.policy_version for s in samples]
        with self.timer.phase("score"):
            feedback = self.sync.retried(lambda: wait_one(actors.oracle.score.remote(samples), "oracle: score",
                                                      actors.timeout_s))
        kept = [(s, fb) for s, fb in zip(samples, feedback) if fb.value is not None]
        self._note_abstentions(feedback)
        self.state.abstentions += len(samples) - len(kept)
        if not kept:
            log.warning("step %d: the oracle abstained on every sample; nothing to learn from", global_step)
            self.records.write(f"train-i{iteration}-s{step}", samples, feedback, [None] * len(samples), staleness=staleness)
            return None, {"samples": 0, "abstained": len(samples), "reward_mean": math.nan}
        kept_samples = [s for s, _ in kept]
        raw = [fb.value for _, fb in kept]
        targets = score_targets(raw, [s.prompt_id for s in kept_samples], cfg.reward.normalization)
        signal = self.algorithm.signal(cfg.algorithm, kept_samples, raw, targets)
        self.state.ties_dropped += signal.ties_dropped
        mismatched = mismatched_samples(kept_samples) if self.algorithm.needs_mismatched else []
        with self.timer.phase("reference"):
            reference = wait_one(actors.reference.score.remote(kept_samples + mismatched), "reference: score",
                                 actors.timeout_s)
        reference, mismatched_reference = reference[: len(kept_samples)], reference[len(kept_samples) :]
        target_of = dict(zip((s.sample_id for s in kept_samples), signal.per_sample()))
        reference_of = dict(zip((s.sample_id for s in kept_samples), reference))
        self.records.write(f"train-i{iteration}-s{step}", samples, feedback,
                           [target_of.get(s.sample_id) for s in samples],
                           [reference_of.get(s.sample_id) for s in samples], staleness)
        stats = {"samples": len(kept_samples), "abstained": len(samples) - len(kept_samples), "staleness_max": max(staleness),
                 "reward_mean": sum(raw) / len(raw), "pairs": len(signal.pairs), "ties_dropped": signal.ties_dropped,
                 "response_tokens_mean": sum(len(s.response_token_ids) for s in samples) / len(samples)}
        if signal.empty:
            log.warning("step %d: every prompt's samples tied; no pair to learn from", global_step)
            return None, stats
        return LearnerBatch(kept_samples, reference, signal, mismatched, mismatched_reference), stats

    def _note_abstentions(self, feedback: list[Feedback]) -> None:
        """Keep the first few distinct reasons the oracle gave for abstaining, to quote if nothing is learned."""
        for fb in feedback:
            if len(self.abstention_reasons) == MAX_QUOTED_REASONS:
                return
            reason = f"{fb.source}: {fb.raw or 'no reason given'}"
            if fb.value is None and reason not in self.abstention_reasons:
                self.abstention_reasons.append(reason)

    def _learn(self, batch: LearnerBatch, push: bool = True) -> tuple[UpdateStats, dict[str, float]]:
        """One batch's updates; then (online mode) the new weights go to the generator, checked if configured.
        Returns the learner's statistics and the weight sync's (the policy version, the check's difference)."""
        with self.timer.phase("learn"):
            update = self.actors.learner.train_step(batch)
        self.state.updates += 1
        synced = {}
        if push:
            with self.timer.phase("sync"):
                self.sync.push()
                if self.cfg.train.verify_sync:
                    synced["sync_max_logprob_diff"] = self.sync.verify(batch.samples[:4])
        synced["policy_version"] = self.state.policy_version
        return update, synced

    def _learn_iteration(self, collected: list[LearnerBatch], iteration: int) -> None:
        """Iterative mode: train on the whole iteration's data for train.iterative_epochs, then push once."""
        for epoch in range(1, self.cfg.train.iterative_epochs + 1):
            for batch in tqdm(collected, desc=f"iteration {iteration} epoch {epoch}", unit="update"):
                update, synced = self._learn(batch, push=False)
                stats = update.metrics() | synced
                self.metrics.log(self.state.updates, {f"learn/{k}": v for k, v in stats.items()} | {"iteration": iteration})
                if self._too_many_nonfinite(update):
                    return
        with self.timer.phase("sync"):
            self.sync.push()
            if self.cfg.train.verify_sync and collected:
                diff = self.sync.verify(collected[-1].samples[:4])
                self.metrics.log(self.state.updates, {"learn/sync_max_logprob_diff": diff, "iteration": iteration})

    def _too_many_nonfinite(self, update: UpdateStats) -> bool:
        state = self.state
        state.nonfinite_updates = state.nonfinite_updates + 1 if update.nonfinite_microbatches else 0
        return state.nonfinite_updates >= self.cfg.learner.max_nonfinite_updates

    def _log_step(self, global_step: int, iteration: int, stats: dict[str, float]) -> None:
        """The step's statistics, and its seconds per phase (time/<phase>, for bench/throughput.py and plots)."""
        seconds = {f"time/{phase}": value for phase, value in self.timer.lap().items()}
        self.metrics.log(global_step, {f"train/{k}": v for k, v in stats.items()} | seconds | {"iteration": iteration})

    def _checkpoint(self, iteration: int) -> None:
        """The policy as a Hugging Face folder, and all a resumed run needs, committed by one rename."""
        state, moving_reference = self.state, self.cfg.train.reference_refresh != "never"

        with self.timer.phase("checkpoint"):
            state.iteration = iteration
            state.checkpoints.append(str(checkpoint.folder_of(self.out_dir, iteration)))
            state.phase_seconds = self.timer.totals()
            save_actors = checkpoint.actor_saver(self.actors.learner, self.actors.reference if moving_reference else None,
                                                 self.actors.timeout_s)

            def save(staging: Path) -> None:
                save_actors(staging)
                (staging / "README.md").write_text(model_card(self.cfg, state))  # the Hub's model card

            checkpoint.write_checkpoint(self.out_dir, iteration, save, state, self.cfg.to_dict(),
                                        self.prompts.digest, self.metrics.bytes_written())
            checkpoint.prune_resume_states(self.out_dir, self.cfg.train.keep_resume_states)

    def _restore(self, batches: Iterator[list[Prompt]]) -> None:
        """Put every actor and the data cursor back where the checkpoint left them."""
        for _ in range(self.state.batches_drawn):
            next(batches)
        self.sync.restore(self.resume_from)
        self.timer.restore(self.state.phase_seconds)

    def _evaluate(self, iteration: int, seconds: float, train_samples: int) -> IterationRow:
        cfg = self.cfg
        with self.timer.phase("evaluate"):
            a = self.actors
            result: Evaluation = self.sync.retried(lambda: evaluate(
                a.rollout, a.oracle, a.initial, a.timeout_s, self.prompts.eval, cfg.rollout.samples_per_prompt,
                _seed(cfg.train.seed, -1), iteration, self.measures))
        self.records.write(f"eval-i{iteration}", result.samples, result.feedback, [None] * len(result.samples))
        for name, (samples, feedback) in result.extra.items():
            self.records.write(f"{name}-i{iteration}", samples, feedback, [None] * len(samples))
        self.state.abstentions += result.abstained
        rate = None
        if iteration > 0:
            rate = round(win_rate(result.rewards_by_prompt(), self.state.previous_rewards), 4)
        self.state.previous_rewards = result.rewards_by_prompt()
        row = IterationRow(iteration, round(result.mean_reward, 4), round(result.kl_to_initial, 4) + 0.0,  # no "-0.0"
                           train_samples, round(seconds, 1), rate, _rounded(result.guard), _rounded(result.gold),
                           _rounded(result.greedy_reward), _rounded(result.greedy_gold))
        if result.judge is not None:
            row.judge_agreement, row.judge_position_consistency, row.judge_length_preference = (
                _rounded(result.judge.agreement), _rounded(result.judge.position_consistency),
                _rounded(result.judge.length_preference))
        values = {"eval/reward_mean": result.mean_reward, "eval/kl_to_initial": result.kl_to_initial,
                  "eval/abstained": result.abstained, "eval/win_rate_vs_previous": rate, "eval/guard": result.guard,
                  "eval/gold": result.gold, "eval/reward_greedy": result.greedy_reward,
                  "eval/gold_greedy": result.greedy_gold,
                  **{f"eval/{k}": v for k, v in (result.judge.metrics() if result.judge else {}).items()}}
        self.metrics.log(self.state.step, {k: v for k, v in values.items() if v is not None} | {"iteration": iteration})
        log.info("iteration %d: held-out reward %.4f, KL to initial %.3f, win rate against the previous %s, guard %s%s%s",
                 iteration, result.mean_reward, result.kl_to_initial, rate, row.guard,
                 "" if row.gold is None else f", gold {row.gold} (greedy {row.gold_greedy})",
                 "" if row.judge_agreement is None else f", judge agreement {row.judge_agreement} (position consistency "
                 f"{row.judge_position_consistency}, length preference {row.judge_length_preference})")
        return row


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seed(run_seed: int, step: int) -> int:
    return (run_seed * 1_000_003 + step) % (2**31)
