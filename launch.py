"""Run an alignment job: `python launch.py [--config configs/X.yaml] [--output-dir DIR] [section.key=value ...]`.

`--dry-run` prints the placement plan (placement groups, bundles, what each actor gets) and the resources
it needs, checks that it fits the cluster the config declares (cluster.nodes x gpus_per_node), and starts
nothing.

Joins the Ray cluster it runs in (ray job submit, RAY_ADDRESS, or a local `ray start`) and starts
a local Ray instance only when there is none.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path

from core.config import ConfigError, RunConfig, load_config
from core.console import configure_driver
from core.data import DataError
from core.model_folder import check_model_folder
from core.placement import build_plan, overlap_shares_cores
from core.precision import Precision, resolve_precision
from core.versions import check_versions
from loop.run_folder import finished_run, lock_run_folder
from loop.trackers import Tracker, check_trackers_installed, finish_trackers, open_trackers
from rewards.guard import build_guard, build_metric
from rewards.judge import load_templates
from rewards.preference_pairs import load_judge_pairs

PROJECT_ROOT = Path(__file__).resolve().parent
log = logging.getLogger("launch")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    configure_driver(args.verbose)
    try:
        cfg = load_config(args.config, args.overrides + (["logging.verbose=true"] if args.verbose else []))
        precision = resolve_precision(cfg)
        if args.dry_run:
            return _dry_run(cfg, precision)
        check_versions()
        check_trackers_installed(cfg.logging)
        if cfg.reward.kind == "reward_model":  # resolved here, so summary.json names the model used
            cfg.reward.model_path = _reward_model_path(cfg)
        if cfg.reward.kind == "llm_judge":
            cfg.reward.judge.model_path = _judge_model_path(cfg)
        if cfg.reward.kind in ("self_judge", "llm_judge"):
            load_templates(cfg.reward.judge.templates)  # a bad template file fails before any actor starts
        _check_guard(cfg)
        load_judge_pairs(cfg.evaluation.judge_pairs)  # a bad pairs file fails before any actor starts
        _check_reward_source(cfg)
        _warn_emulated_bfloat16(cfg)
        _check_compiler(cfg)
        plan = build_plan(cfg)  # the placement's own rules (the cluster it must fit is known once Ray is joined)
        if shared := overlap_shares_cores(cfg):
            log.warning(shared)
        if cfg.learner.merging != "none":
            cfg.learner.merge_base_path = _merge_base_path(cfg)
        model_path = _model_path(cfg)
        if cfg.model.lora.enabled:
            from learner.lora import check_lora

            check_lora(cfg.model.lora, model_path)
        prompts = _load_prompts(cfg, model_path)
        _check_memory(cfg, plan, model_path, log.info)
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = Path(args.output_dir or PROJECT_ROOT / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}")
    try:
        lock = lock_run_folder(out_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with lock:
        try:
            resumed_step = _check_resume(cfg, out_dir, prompts.digest)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        done = finished_run(cfg, out_dir)
        if done:
            print(done)
            return 0
        log.info("run folder: %s", out_dir)
        log.info("precision: %s", precision.reason)
        try:
            trackers = open_trackers(cfg.logging, cfg.to_dict(), out_dir.resolve(), resumed_step)
        except Exception as err:  # a tracking server out of reach, W&B online without a login, ...
            print(f"error: opening the trackers of logging.trackers failed: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
        return _run(cfg, precision, model_path, prompts, out_dir.resolve(), trackers)


def _run(cfg: RunConfig, precision: Precision, model_path: str, prompts, out_dir: Path, trackers: list[Tracker]) -> int:
    import ray

    from actors.group import peak_memory, start_actors
    from loop.report import write_report
    from loop.state import FAILED, UNFINISHED
    from loop.summary import format_table, write_summary
    from loop.training import TrainingLoop

    # Workers of a Ray instance started here inherit this environment and so find the project's packages.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # RAY_ADDRESS or the latest local cluster if there is one, else a new local instance
    try:
        context = ray.init(logging_level=logging.INFO if cfg.logging.verbose else logging.ERROR)
        log.info("Ray: %s%s", context.address_info.get("gcs_address", ""),
                 f", dashboard http://{context.dashboard_url}" if context.dashboard_url else "")
        log.info("prompts: %d training, %d held-out, skipped %s", len(prompts.train), len(prompts.eval),
                 dict(prompts.skipped) or "none")
        actors = start_actors(cfg, model_path)
    except BaseException as err:  # the trackers' runs end marked finished, not left running
        finish_trackers(trackers, [])
        if not isinstance(err, ConfigError):
            raise
        print(f"error: {err}", file=sys.stderr)  # the placement does not fit the cluster joined
        return 2
    loop = TrainingLoop(cfg, actors, prompts, out_dir, trackers)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        loop.run()
    finally:  # whatever happened, the run folder says what was done and why it stopped
        result = loop.result()
        ray_info = {"gcs_address": ray.get_runtime_context().gcs_address, "nodes": str(len(ray.nodes())),
                    "placement": actors.placement}
        # after an error or a stop (Ctrl-C, SIGTERM) an actor may still be in its call (a learner step takes
        # minutes on a large model): asking it would keep the run from ending until the call returns
        memory = peak_memory(actors) if result.stop_reason not in UNFINISHED else {}
        summary = write_summary(out_dir, cfg, precision, result, memory, dict(prompts.skipped), model_path, ray_info)
        write_report(out_dir)
        loop.close([summary, out_dir / "report.md", out_dir / "curves.png"])
        print(format_table(result))
        print(f"results: {out_dir}  ({summary.name}, report.md, curves.png, records/, checkpoints/, metrics.jsonl, "
              "tensorboard/)")
        if result.stop_reason in UNFINISHED:
            print(f"to go on from the last checkpoint (or the start, before the first), run the same command with "
                  f"--output-dir {out_dir}", file=sys.stderr)
    return 1 if result.stop_reason in FAILED else 0


def _interrupt_on_sigterm(signum, frame) -> None:
    """A scheduler's SIGTERM ends the run as Ctrl-C does: the summary and report say what was done."""
    raise KeyboardInterrupt("stopped by SIGTERM")


def _dry_run(cfg: RunConfig, precision: Precision) -> int:
    """Print the placement plan and check it fits the declared cluster; no model is built, no actor started."""
    from core.placement import check_fits, declared_nodes, describe

    plan = build_plan(cfg)
    c = cfg.cluster
    cluster = f"{c.nodes} node(s) x {c.gpus_per_node} GPUs" + (f" x {c.cpus_per_node} CPUs" if c.cpus_per_node else "")
    print(describe(plan))
    if shared := overlap_shares_cores(cfg):
        print(f"warning: {shared}")
    ranks = len(plan.slots("learner"))
    auto = " (learner.zero_stage auto)" if cfg.learner.zero_stage == "auto" else ""  # the rule: zero_stage_for
    print(f"learner: {ranks} rank(s), DeepSpeed ZeRO stage {cfg.learner.zero_stage_for(ranks)}{auto}")
    print(f"precision: {precision.reason}")
    check_fits(plan, declared_nodes(cfg), f"the declared cluster ({cluster})")
    print(f"fits the declared cluster: {cluster}")
    if _check_memory(cfg, plan, cfg.model.path, print):
        print("fits in memory")
    return 0


def _check_memory(cfg: RunConfig, plan, model_path: str, show) -> bool:
    """Show the plan's memory table (core/memory_plan.py); a ConfigError when a device cannot hold its actors.
    False when a model folder could not be sized here (the table is then not shown)."""
    from core.memory_plan import check_memory, describe_memory, memory_devices, read_shape

    tiny = cfg.model.tiny
    try:
        policy = read_shape(model_path, tiny)
        reward = read_shape(cfg.reward.model_path, tiny, classifier=True) if cfg.reward.kind == "reward_model" else None
        judge = read_shape(cfg.reward.judge.model_path, cfg.reward.judge.tiny) if cfg.reward.kind == "llm_judge" else None
    except ConfigError as err:  # a dry run away from the model folders (a real run has checked them by now)
        show(f"memory: not estimated: {err}")
        return False
    cpu_gib = cfg.cluster.memory_gib_per_node
    if not cpu_gib and cfg.cluster.nodes == 1:
        import psutil

        cpu_gib = psutil.virtual_memory().total / 2**30
    devices = memory_devices(cfg, plan, policy, reward, judge, cfg.cluster.gpu_memory_gib, cpu_gib)
    sized = [(name, shape) for name, shape in (("policy", policy), ("reward model", reward), ("judge", judge)) if shape]
    show("models: " + "; ".join(f"{name} {shape.parameters / 1e6:,.1f}M parameters ({shape.source})"
                                for name, shape in sized))
    show(describe_memory(devices))
    check_memory(devices)
    return True


def _model_path(cfg: RunConfig) -> str:
    if cfg.model.path:
        return check_model_folder(cfg.model.path, "model.path")
    from models.tiny import build_tiny_model

    try:
        return check_model_folder(str(build_tiny_model(cfg.model.tiny)), "the tiny model built from model.tiny")
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _reward_model_path(cfg: RunConfig) -> str:
    if cfg.reward.model_path:
        return check_model_folder(cfg.reward.model_path, "reward.model_path")
    from models.tiny_reward import build_tiny_reward_model

    log.info("building the tiny reward model (once; cached under %s)", cfg.model.tiny.cache_dir)
    return str(build_tiny_reward_model(cfg.model.tiny, cfg.reward.tiny_labels, cfg.reward.tiny_pairs))


def _merge_base_path(cfg: RunConfig) -> str:
    """The model the supervised one started from, whose difference to it is the skill merging keeps."""
    if cfg.learner.merge_sft_path:
        check_model_folder(cfg.learner.merge_sft_path, "learner.merge_sft_path")
    if cfg.learner.merge_base_path:
        return check_model_folder(cfg.learner.merge_base_path, "learner.merge_base_path")
    if cfg.model.path or cfg.learner.merge_sft_path or cfg.model.tiny.sft_steps == 0:
        raise ConfigError("learner.merging: set learner.merge_base_path to the model your SFT model was trained "
                          "from (or use the tiny model with a warm start, model.tiny.sft_steps=600)")
    from models.tiny import build_tiny_model

    return str(build_tiny_model(dataclasses.replace(cfg.model.tiny, sft_steps=0)))


def _check_guard(cfg: RunConfig) -> None:
    """The guard and gold metrics are functions a user may name: found (or not) before any actor starts."""
    for key, build in (("stopping.guard", lambda: build_guard(cfg.stopping.guard, cfg.data.source == "toy")),
                       ("evaluation.gold", lambda: build_metric(cfg.evaluation.gold))):
        try:
            build()
        except (ValueError, ImportError) as err:
            raise ConfigError(f"{key}: {err}") from err


def _check_reward_source(cfg: RunConfig) -> None:
    """Rule and function sources are cheap to build: a bad pattern, letter, length, URL or function fails here,
    before any actor starts (model and judge sources are checked by their paths and templates above)."""
    if cfg.reward.kind in ("reward_model", "self_judge", "llm_judge"):
        return
    from rewards import build_reward_source

    try:
        build_reward_source(cfg.reward)
    except (ValueError, ImportError) as err:
        raise ConfigError(f"reward.kind {cfg.reward.kind}: {err}") from err


def _warn_emulated_bfloat16(cfg: RunConfig) -> None:
    """bfloat16 on a CPU without bfloat16 instructions is emulated, many times slower than float32: said, not
    refused, since on a cluster the learner and the engines may run on other machines than this one."""
    keys = [key for key, dtype, gpus in (("learner.compute_dtype", cfg.learner.compute_dtype, cfg.cluster.learner.gpus),
                                         ("model.dtype", cfg.model.dtype, cfg.cluster.rollout.gpus))
            if dtype == "bfloat16" and not gpus]
    if not keys:
        return
    from core.device import cpu_has_native_bfloat16  # imports torch: only when asked

    if cpu_has_native_bfloat16() is False:
        log.warning("%s bfloat16, but this machine's CPU has no bfloat16 instructions (AVX512-BF16 or AMX): torch and "
                    "vLLM emulate them here, several times slower than float32 (docs/throughput.md). Set auto or float32 "
                    "unless those actors run on machines that have them.", " and ".join(keys))


def _check_compiler(cfg: RunConfig) -> None:
    """learner.compile on CPU learners builds C++ kernels: without a compiler on this machine the learner would fail
    at its first step, after every actor started."""
    if not cfg.learner.compile or cfg.cluster.learner.gpus:
        return
    from learner.compile import missing_compiler  # imports torch: only when asked

    if problem := missing_compiler():
        raise ConfigError(problem)


def _check_resume(cfg: RunConfig, out_dir: Path, data_digest: str) -> int | None:
    """A run folder with a checkpoint is resumed: its config and data must match this run's (checked before Ray
    starts). Returns the resumed run's last logged step (None: a new run)."""
    from loop.checkpoint import latest, read_state

    newest = latest(out_dir) if out_dir.is_dir() else None
    return None if newest is None else read_state(newest, cfg.to_dict(), data_digest)[0].step


def _judge_model_path(cfg: RunConfig) -> str:
    judge = cfg.reward.judge
    if judge.model_path:
        return check_model_folder(judge.model_path, "reward.judge.model_path")
    from models.tiny import build_tiny_model

    # the tiny judge (reward.judge.tiny); its context is sized for the judge's prompts and replies
    tiny = dataclasses.replace(judge.tiny, max_positions=max(judge.tiny.max_positions,
                                                            judge.max_prompt_tokens + judge.max_new_tokens))
    return str(build_tiny_model(tiny))


def _load_prompts(cfg: RunConfig, model_path: str):
    from transformers import AutoTokenizer

    from core.data import load_prompts

    return load_prompts(cfg.data, AutoTokenizer.from_pretrained(model_path), cfg.train.seed, cfg.stopping.guard)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    from core.config_help import sections

    listed = "\n".join(f"  {name:<11} {meaning}" for name, meaning in sections())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"config sections (`una-align config --section S` lists their keys):\n{listed}")
    parser.add_argument("--config", help="a YAML preset (default: the embedded default run)")
    parser.add_argument("--output-dir", help="where the run writes (default: a fresh folder under runs/)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the placement plan and the resources it needs, check it fits, start nothing")
    parser.add_argument("--verbose", action="store_true",
                        help="the libraries' own warnings too (vLLM, DeepSpeed, torch, Ray): logging.verbose=true")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.iterations=2 learner.lr=5e-4")
    return parser.parse_args(argv)


COMMANDS = {
    "run": "run a job (what `python launch.py` does): una-align run [--config F] [--output-dir D] [key=value ...]",
    "dry-run": "print the placement plan and check it fits the declared cluster; start nothing",
    "config": "print the resolved config, every key with its meaning: una-align config [--config F] [--section S] "
              "[key=value ...]",
    "export": "a run's records as a preference data set (python -m loop.export)",
    "report": "a run's report.md from its folder (python -m loop.report)",
    "merge": "a LoRA adapter merged into its base model (python -m learner.merge_adapter)",
    "merge-models": "parallel train, then merge: base + SFT delta + aligned delta (python -m learner.merge_models)",
    "train-rm": "a Bradley-Terry reward model from preference pairs (python -m learner.reward_model_training)",
}


def cli(argv: list[str] | None = None) -> int:
    """The installed command, `una-align <command> ...` (pyproject.toml's [project.scripts])."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        listed = "\n".join(f"  {name:<13} {meaning}" for name, meaning in COMMANDS.items())
        print(f"usage: una-align <command> [arguments]\n\ncommands:\n{listed}\n\n`una-align <command> --help` says more",
              file=sys.stderr if argv else sys.stdout)
        return 2 if argv and argv[0] not in ("-h", "--help") else 0
    command, rest = argv[0], argv[1:]
    if command in ("run", "dry-run"):
        return main(["--dry-run", *rest] if command == "dry-run" else rest)
    if command == "config":
        return _print_config(rest)
    module = {"export": "loop.export", "report": "loop.report", "merge": "learner.merge_adapter",
              "merge-models": "learner.merge_models", "train-rm": "learner.reward_model_training"}[command]
    import importlib

    importlib.import_module(module).main(rest)
    return 0


def _print_config(argv: list[str]) -> int:
    from core.config_help import format_config

    parser = argparse.ArgumentParser(prog="una-align config", description=COMMANDS["config"])
    parser.add_argument("--config", help="a YAML preset (default: the embedded default run)")
    parser.add_argument("--section", default="", help="one section (model, data, rollout, reward, ...)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    try:
        print(format_config(load_config(args.config, args.overrides), args.section))
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
