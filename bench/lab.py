"""The alignment lab's tables: every row is real runs of launch.py on a lab preset (configs/lab/), one per seed.

    python bench/lab.py TABLE [--seeds 0 1 2 3 4] [--quick] [--out runs/lab] [--seconds S]

TABLE:
  algorithms-a  Task A (held-out sums, exact-match reward): every algorithm at an equal wall-clock budget
  algorithms-b  Task B (writing, proxy reward model, hidden gold): the same
  stopping      Task B: where each stopping check would fire against where gold peaked, per seed
  refresh       Task B: reference refresh (never, every iteration, EMA) and online against iterative mode
  tax           Task B with the arithmetic guard: plain AdamW, OnDARE, OnTIES, PAFT (the base model aligned in
                parallel, then TIES-merged with the lab model, its SFT delta trimmed to PAFT_DENSITY; paft-l1:
                with a lab model warm-started with PAFT's L1 penalty instead)
  self-rewarding  Yuan et al.'s recipe on Task B's prompts (configs/lab/self_rewarding.yaml): the lab model with the
                judging skill judges its own samples, iterative DPO on best against worst, 4 iterations; gold and the
                policy's agreement as a judge per iteration
  judges        RLAIF on Task B's prompts (configs/lab/rlaif.yaml), the same policy and budget for every row: the proxy
                reward model fitted to 1024 gold-labelled pairs of warm-start-like answers; direct RLAIF from separate
                judges warm-started to three levels of agreement with gold (judge-0.6, -0.7, -0.8: the judge's score is
                the reward); distilled RLAIF (judge-0.8 labels ~1000 pairs of the policy's samples, `una-align
                train-rm` fits a reward model, online UNA on it) and its RLHF control (the same pairs labelled by gold,
                the same reward model training): bench/lab_distilled.py; gold and the judge's agreement per iteration
  position-swap  RLAIF with judge-0.8 comparing a prompt's samples pairwise, each pair asked in both orders and
                averaged (position-swap debiasing) or once: the judge's agreement and consistency, gold
  lora          Task A: full fine-tuning against LoRA rank 8 (two learning rates), the same 60 steps
  bf16          Task A: float32 against bfloat16 compute (learner.compute_dtype, model.dtype), and bfloat16 with
                every model compiled (learner.compile, rollout.enforce_eager false) or either, a control
                whose change is rounding only (smaller micro-batches), and the 1024-token budget, the same 60 steps
  staleness     Task A: the synchronous loop against generation overlapped with learning (train.max_staleness 1),
                both floating over the cores or each given one (-split), at an equal wall-clock budget
  staleness-steps  the same rows at the same 60 steps (what one-step-stale samples do to learning, as where
                generation has devices of its own)
  staleness-lr1e-4  the synchronous and the split overlapped loop at a third of Task A's learning rate, 30 s
  staleness-curve  the synchronous and the split overlapped loop for 700 steps, and the synchronous loop with the
                cores split alike, held-out gold every 10 steps (--curve N prints it every N iterations); the
                first two at a third of the learning rate (-lr1e-4), and with GRPO (grpo-)

A row's runs are kept under --out/TABLE/ROW-sSEED/ and reused when the command runs again (a finished
summary.json), so a table is re-runnable row by row. The seed changes the prompt order and sampling, not
the model: every seed starts from the same warm-started lab model. --quick: 2 seeds, a short budget, the
first rows only (minutes). Intervals are 95% Student-t intervals over the seeds. The runs of one command
share one local Ray instance started here (each run starts its own actors in it), unless RAY_ADDRESS names
a cluster to join.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.lab_distilled import distilled_run  # noqa: E402

# Student's t, two-sided 95%, by degrees of freedom (seeds - 1); past 30 the normal's 1.96 is within 4%
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
       21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042}
ALGORITHMS = {
    "una-score": [], "una-binary": ["algorithm.feedback=binary"], "una-pairwise": ["algorithm.feedback=pairwise"],
    "ppo": ["algorithm.name=ppo"], "grpo": ["algorithm.name=grpo"], "rloo": ["algorithm.name=rloo"],
    "dpo": ["algorithm.name=dpo"], "kto": ["algorithm.name=kto"],
}
PAFT_ROWS = ("paft", "paft-l1")  # rows of several steps rather than one run: see paft_run
DISTILLED_ROWS = ("distilled", "rlhf")  # the same: bench/lab_distilled.py
PAFT_DENSITY = 0.2  # the share of the SFT delta (lab model - base) the TIES merge keeps
PAFT_L1 = 0.3  # paft-l1: the lab model warm-started with PAFT's L1 penalty (model.tiny.sft_l1), a sparse delta
RUN_TIMEOUT_S = 3600  # one lab run takes 2-4 minutes here; a hung one fails the table instead of waiting forever
BF16 = ["learner.compute_dtype=bfloat16", "model.dtype=bfloat16"]
LORA_R8 = ["model.lora.enabled=true", "model.lora.rank=8", "model.lora.alpha=16", "model.lora.serve=merged"]
# overlapped, the rollout engine and the learner each on a core of their own, or both floating over every core
STALENESS = {"synchronous": [], "max-staleness-1": ["train.max_staleness=1"],
             "max-staleness-1-split": ["train.max_staleness=1", "cluster.rollout.cpus=1", "cluster.learner.cpus=1"]}
TASK_B_SLOW = ["learner.lr=3e-4", "algorithm.beta=0.05", "train.steps_per_iteration=10"]
# the judges table's separate judges: the rlaif preset's judge warm-started until its pairwise agreement with gold on
# 256 held-out pairs reaches each level (tasks/judging.py)
JUDGE_LEVELS = {f"judge-{level}": [f"reward.judge.tiny.sft_until_judge_agreement={level}"] for level in ("0.6", "0.7", "0.8")}


@dataclass
class Table:
    preset: str
    rows: dict[str, list[str]]
    common: list[str] = field(default_factory=list)
    budget: float = 0.0  # seconds: an equal wall-clock training budget (stopping.max_seconds) for every row


TABLES = {
    "algorithms-a": Table("task_a", ALGORITHMS, ["train.steps_per_iteration=10"], budget=60.0),
    # 30 s: Task B's gold peaks within about 100 updates, and a longer budget measures over-optimisation
    "algorithms-b": Table("task_b", ALGORITHMS, TASK_B_SLOW, budget=30.0),
    "stopping": Table("task_b", {"una-score": []}, TASK_B_SLOW + ["train.iterations=12"]),
    "refresh": Table("task_b", {
        "never": [], "every-iteration": ["train.reference_refresh=every_iteration"],
        "ema-0.05": ["train.reference_refresh=ema", "train.reference_ema_rate=0.05"],
        "iterative": ["train.mode=iterative", "train.reference_refresh=every_iteration"],
    }, TASK_B_SLOW + ["train.iterations=8"]),
    "tax": Table("task_b", {
        "plain": [], "ondare": ["learner.merging=ondare", "learner.merge_reserve_rate=0.1", "learner.merge_alpha=1e-2"],
        "onties": ["learner.merging=onties", "learner.merge_reserve_rate=0.1", "learner.merge_alpha=1e-2"],
        # PAFT's rows name the SFT model they merge: the lab model, or the lab model warm-started with L1 for its
        # 4000 steps (its sums stay near 0.05: the held-out check would train it to its 12000-step limit)
        "paft": [], "paft-l1": [f"model.tiny.sft_l1={PAFT_L1}", "model.tiny.sft_until_accuracy=0"],
    }, TASK_B_SLOW + ["train.iterations=8"]),
    # the same number of steps (3 x 20, Task A's run in docs/lab.md); LoRA served merged (the same policy, faster on CPUs)
    "lora": Table("task_a", {
        "full": [], "lora-r8-lr3e-3": [*LORA_R8, "learner.lr=3e-3"], "lora-r8-lr1e-3": [*LORA_R8, "learner.lr=1e-3"],
    }, ["train.iterations=3", "train.steps_per_iteration=20"]),
    # bfloat16 matrix products in the learner, reference and vLLM against float32, and with every model compiled
    # (learner.compile, rollout.enforce_eager false), the same steps as lora
    "bf16": Table("task_a", {
        "float32": ["learner.compute_dtype=float32", "model.dtype=float32"], "bfloat16": BF16,
        "bfloat16-compiled": [*BF16, "learner.compile=true", "rollout.enforce_eager=false"],
        "bfloat16-compiled-learner": [*BF16, "learner.compile=true"],
        "bfloat16-compiled-vllm": [*BF16, "rollout.enforce_eager=false"],
        # a control: bfloat16's computation in micro-batches of 256 tokens (several a step), which changes rounding only
        "bfloat16-rounding": [*BF16, "learner.max_tokens_per_micro_batch=256"],
        # micro-batches of 1024 tokens: one run on an AMD EPYC said they suit a CPU without AMX, two more did not
        "bfloat16-budget-1024": [*BF16, "learner.max_tokens_per_micro_batch=1024"],
    }, ["train.iterations=3", "train.steps_per_iteration=20"]),
    # does the asynchronous loop learn as well: held-out gold after the same training seconds, and the same steps
    "staleness": Table("task_a", STALENESS, ["train.steps_per_iteration=10"], budget=60.0),
    "staleness-steps": Table("task_a", STALENESS, ["train.iterations=3", "train.steps_per_iteration=20"]),
    # the same at a third of Task A's learning rate, where a step's staleness cost nothing per step
    # (staleness-curve); 30 s: the curves still rise there, so more steps in the budget can show
    "staleness-lr1e-4": Table("task_a", {row: STALENESS[row] for row in ("synchronous", "max-staleness-1-split")},
                              ["train.steps_per_iteration=10", "learner.lr=1e-4"], budget=30.0),
    # the split row against its control: the synchronous loop with the cores split the same way
    "staleness-curve": Table("task_a", {
        "synchronous": [], "max-staleness-1-split": STALENESS["max-staleness-1-split"],
        "synchronous-split": ["cluster.rollout.cpus=1", "cluster.learner.cpus=1"],
        # a third of Task A's learning rate: smaller moves a step, and the staleness cost went (docs/throughput.md: overlap)
        "synchronous-lr1e-4": ["learner.lr=1e-4"],
        "max-staleness-1-split-lr1e-4": [*STALENESS["max-staleness-1-split"], "learner.lr=1e-4"],
        # GRPO, whose tokens are weighted by the truncated importance ratio: no staleness cost 5 seeds could see
        "grpo-synchronous": ["algorithm.name=grpo"],
        "grpo-max-staleness-1-split": [*STALENESS["max-staleness-1-split"], "algorithm.name=grpo"],
    }, ["train.iterations=70", "train.steps_per_iteration=10"]),
    "self-rewarding": Table("self_rewarding", {"self-rewarding": []}),
    "judges": Table("rlaif", {
        "proxy": ["reward.kind=reward_model", "reward.tiny_labels=writing_gold", "reward.tiny_pairs=1024"],
        **JUDGE_LEVELS, "distilled": [], "rlhf": [],
    }),
    "position-swap": Table("rlaif", {
        "both-orders": ["reward.judge.mode=pairwise"],
        "one-order": ["reward.judge.mode=pairwise", "reward.judge.swap_positions=false"],
    }),
}
JUDGED = ("self-rewarding", "judges", "position-swap")  # tables that also print the judge's agreement per iteration


@contextlib.contextmanager
def shared_ray():
    """One local Ray instance for all the runs of this command (RAY_ADDRESS for their drivers); its workers
    inherit this process's environment, so PYTHONPATH lets them find the project's packages."""
    if os.environ.get("RAY_ADDRESS"):
        yield
        return
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    context = ray.init(include_dashboard=False)
    os.environ["RAY_ADDRESS"] = context.address_info["gcs_address"]
    try:
        yield
    finally:
        del os.environ["RAY_ADDRESS"]
        ray.shutdown()


def finished(folder: Path) -> dict | None:
    """The summary of a finished run in its folder, or None."""
    from loop.report import ReportError, read_summary
    from loop.state import UNFINISHED

    try:
        summary = read_summary(folder)
    except ReportError:
        return None
    return summary if summary["stop_reason"] not in UNFINISHED else None


def run(table: Table, row: str, seed: int, out: Path, extra: list[str]) -> dict:
    """One launch.py run, or the finished one already in its folder (PAFT: several steps, see paft_run)."""
    if row in PAFT_ROWS:
        return paft_run(table, row, seed, out, extra)
    if row in DISTILLED_ROWS:
        return distilled_run(launch, table.preset, row, seed, out, table.common, extra)
    return launch(table.preset, out / f"{row}-s{seed}", [*table.common, *table.rows[row], *extra, f"train.seed={seed}"])


def launch(preset: str, folder: Path, overrides: list[str]) -> dict:
    summary = finished(folder)
    if summary is not None:
        return summary
    command = [sys.executable, "launch.py", "--config", f"configs/lab/{preset}.yaml", "--output-dir", str(folder),
               *overrides]
    print(f"  {folder.name}: {' '.join(command[2:])}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{folder.name} failed:\n{done.stderr[-3000:]}")
    return finished(folder)


def paft_run(table: Table, row: str, seed: int, out: Path, extra: list[str]) -> dict:
    """PAFT (parallel training, then merging): the base model (the lab model before its warm start) trained
    like the plain row; its aligned weights TIES-merged with the SFT model (learner/merge_models.py, the SFT
    delta trimmed to PAFT_DENSITY); the merge evaluated on the same held-out prompts (train.iterations=0).
    The SFT model is the lab model (row paft) or, with the row's overrides, one warm-started with PAFT's L1
    penalty (paft-l1, evaluated before training too). Returned as a history from the SFT model to the merge."""
    from learner.merge_models import merge_models

    plain = run(table, "plain", seed, out, extra)
    proxy = f"reward.model_path={plain['config']['reward']['model_path']}"  # the same proxy, whatever the policy
    aligned = launch(table.preset, out / f"paft-aligned-s{seed}",
                     [*table.common, "model.tiny.sft_steps=0", *extra, f"train.seed={seed}", proxy])
    sft = plain
    if table.rows[row]:
        sft = launch(table.preset, out / f"{row}-sft-s{seed}",
                     [*table.common, *table.rows[row], "train.iterations=0", f"train.seed={seed}", proxy])
    merged = out / f"{row}-merged-s{seed}"
    if not (merged / "config.json").is_file():
        merge_models(aligned["model_path"], sft["model_path"], aligned["paths"]["checkpoints"][-1], str(merged),
                     "ties", PAFT_DENSITY)
    evaluated = launch(table.preset, out / f"{row}-s{seed}", [f"model.path={merged}", "train.iterations=0",
                                                               f"train.seed={seed}", proxy])
    final = dict(evaluated["iterations"][0], iteration=aligned["iterations"][-1]["iteration"], kl_to_initial=None)
    return {**evaluated, "iterations": [sft["iterations"][0], final], "phase_seconds": aligned["phase_seconds"]}


def mean_interval(values: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% Student-t interval (nan with one value)."""
    if len(values) < 2:
        return (values[0] if values else math.nan), math.nan
    return statistics.mean(values), T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def cell(values: list[float]) -> str:
    mean, half = mean_interval(values)
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def outcome(summary: dict) -> dict[str, float]:
    """What a run ends with: gold (sampled, greedy), its peak, the proxy, KL, guard, learner seconds."""
    rows = summary["iterations"]
    last = rows[-1]
    golds = [r["gold"] for r in rows if r.get("gold") is not None]
    values = {"gold": last.get("gold"), "gold greedy": last.get("gold_greedy"), "gold peak": max(golds, default=None),
              "gold start": rows[0].get("gold"), "reward": last["eval_reward"], "KL": last["kl_to_initial"],
              "guard": last.get("guard"), "guard start": rows[0].get("guard"),
              "learner s": summary["phase_seconds"].get("learn"), "iterations": len(rows) - 1,
              "judge start": rows[0].get("judge_agreement"), "judge": last.get("judge_agreement")}
    return {k: v for k, v in values.items() if v is not None}


def print_outcomes(name: str, results: dict[str, list[dict]]) -> None:
    keys = [k for k in ("gold start", "gold", "gold greedy", "gold peak", "reward", "KL", "guard start", "guard",
                        "judge start", "judge", "learner s", "iterations")
            if any(k in o for runs in results.values() for o in runs)]
    print(f"\n{name}: mean ± 95% interval over seeds\n")
    print("| row | seeds | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 2) + "|")
    for row, outcomes in results.items():
        print(f"| {row} | {len(outcomes)} | " + " | ".join(cell([o[k] for o in outcomes if k in o]) for k in keys) + " |")


def paired(baseline: list[float | None], other: list[float | None]) -> list[float | None]:
    """other minus baseline, seed by seed (runs of the same seed start alike, so the pairs' interval is narrower
    than the rows' own); None for a seed where either has no value."""
    return [None if b is None or o is None else o - b for b, o in zip(baseline, other, strict=True)]


def paired_differences(baseline: list[dict], other: list[dict], key: str) -> list[float | None]:
    """A row's outcome minus the baseline row's, seed by seed (paired)."""
    return paired([b.get(key) for b in baseline], [o.get(key) for o in other])


def present(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def print_paired(results: dict[str, list[dict]]) -> None:
    """Every row's gold against the command's first row, seed by seed, with the mean's interval."""
    (first, baseline), *others = results.items()
    keys = [k for k in ("gold", "gold greedy") if any(k in o for o in baseline)]
    if not others or not keys:
        return
    print(f"\nminus {first}, seed by seed (mean ± 95% interval of the differences)\n")
    print("| row | " + " | ".join(f"{k}: by seed | mean" for k in keys) + " |")
    print("|---" * (2 * len(keys) + 1) + "|")
    for row, outcomes in others:
        diffs = [paired_differences(baseline, outcomes, key) for key in keys]
        print(f"| {row} | " + " | ".join(" ".join("-" if d is None else f"{d:+.3f}" for d in ds)
                                         + f" | {cell(present(ds))}" for ds in diffs) + " |")


def print_curves(results: dict[str, list[dict]], every: int, key: str = "gold") -> None:
    """Each row's held-out `key` (gold, sampled; or judge_agreement) after every `every`-th iteration: mean ± 95%
    interval over the seeds and the runs' mean training seconds by then (held-out evaluation not counted), and each
    row minus the first, seed by seed."""
    curves = {row: [[r.get(key) for r in s["iterations"]] for s in summaries] for row, summaries in results.items()}
    seconds = {row: [list(itertools.accumulate(r["seconds"] for r in s["iterations"])) for s in summaries]
               for row, summaries in results.items()}  # each iteration's row holds its own training seconds
    length = min(len(curve) for runs in curves.values() for curve in runs)
    first, *others = curves
    print(f"\nheld-out {key} by iteration (mean ± 95% interval over seeds, the runs' mean training seconds by then; "
          f"minus {first}: paired by seed)\n")
    print("| iteration | " + " | ".join(curves) + "".join(f" | {row} - {first}" for row in others) + " |")
    print("|---" * (1 + len(curves) + len(others)) + "|")
    for i in range(0, length, every):
        at = {row: [curve[i] for curve in runs] for row, runs in curves.items()}
        print(f"| {i} | " + " | ".join(f"{cell(present(v))} ({statistics.mean(run[i] for run in seconds[row]):.0f} s)"
                                      for row, v in at.items())
              + "".join(f" | {cell(present(paired(at[first], at[row])))}" for row in others) + " |")


def print_gains(results: dict[str, list[dict]]) -> None:
    """Each row's gold at every iteration minus its own iteration 0, seed by seed: does the feedback raise gold
    outside the noise, and for how many iterations."""
    length = min(len(s["iterations"]) for summaries in results.values() for s in summaries)
    print("\ngold minus the same run's iteration 0 (mean ± 95% interval over seeds)\n")
    print("| row | " + " | ".join(str(i) for i in range(1, length)) + " |")
    print("|---" * length + "|")
    for row, summaries in results.items():
        gains = [[s["iterations"][i]["gold"] - s["iterations"][0]["gold"] for s in summaries] for i in range(1, length)]
        print(f"| {row} | " + " | ".join(cell(g) for g in gains) + " |")


def stopping_replay(summaries: list[dict]) -> None:
    """Each check replayed on every run's per-iteration history (the checks are pure functions of it)."""
    from core.config import StoppingConfig
    from loop.stopping import Evaluated, should_stop

    checks = {"plateau p1": StoppingConfig(patience=1), "plateau p2": StoppingConfig(patience=2),
              "win rate < 0.5": StoppingConfig(min_win_rate=0.5), "win rate < 0.6": StoppingConfig(min_win_rate=0.6),
              "KL > 20": StoppingConfig(max_kl=20), "KL > 50": StoppingConfig(max_kl=50)}
    print("\nStopping checks on Task B: iteration where each fires (-: never) against the gold peak; "
          "gold at that iteration / gold at the peak\n")
    print("| seed | gold peak at | " + " | ".join(checks) + " |")
    print("|---" * (len(checks) + 2) + "|")
    for summary in summaries:
        rows = summary["iterations"]
        golds = [r["gold"] for r in rows]
        peak = max(range(len(golds)), key=golds.__getitem__)
        history = [Evaluated(r["iteration"], r["eval_reward"], r["kl_to_initial"], r["win_rate_vs_previous"])
                   for r in rows]
        fired = []
        for cfg in checks.values():
            at = next((i for i in range(1, len(history)) if should_stop(history[: i + 1], cfg)), None)
            fired.append("-" if at is None else f"{at} ({golds[at]:.3f})")
        print(f"| {summary['config']['train']['seed']} | {peak} ({golds[peak]:.3f}) | " + " | ".join(fired) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rows", nargs="+", help="only these rows of the table")
    parser.add_argument("--seconds", type=float, help="the training budget of budgeted tables (default: the "
                        "table's, 60 s on Task A, 30 s on Task B)")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 30 s budgets, the first two rows")
    parser.add_argument("--curve", type=int, metavar="N", help="also print held-out gold after every N-th iteration")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "lab")
    args = parser.parse_args()
    table = TABLES[args.table]
    rows = args.rows or list(table.rows)
    seeds, seconds = args.seeds, args.seconds or table.budget
    if args.quick:
        seeds, seconds, rows = seeds[:2], 30.0, rows[:2]
    extra = [f"stopping.max_seconds={seconds}", "train.iterations=1000"] if table.budget else []
    out = args.out / args.table
    to_run = [(row, seed) for row in rows for seed in seeds if finished(out / f"{row}-s{seed}") is None]
    with shared_ray() if to_run else contextlib.nullcontext():  # a table of finished runs starts nothing
        results = {row: [run(table, row, seed, out, extra) for seed in seeds] for row in rows}
    outcomes = {row: [outcome(s) for s in summaries] for row, summaries in results.items()}
    print_outcomes(f"{args.table} ({table.preset}{f', {seconds:g} s of training each' if table.budget else ''})",
                   outcomes)
    print_paired(outcomes)
    if args.curve or args.table in JUDGED:
        print_curves(results, args.curve or 1)
    if args.table in JUDGED:
        print_curves(results, args.curve or 1, "judge_agreement")
        print_gains(results)
    if args.table == "stopping":
        stopping_replay(results[rows[0]])


if __name__ == "__main__":
    main()
