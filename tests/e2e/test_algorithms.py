"""Every algorithm preset runs a few steps through the real Ray, vLLM and DeepSpeed actors.

The rollout engine and oracle are started once; each preset gets a learner actor of its own (with its
objective, or PPO's critic, and holding the reference, as by default) and the training loop, starting from
the initial weights.
Each must learn in the right direction: after its steps, each prompt's better-rewarded responses gained
log-probability against its worse ones.
The reward-model preset, whose oracle differs, runs through launch.py.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3
OVERRIDES = ["train.iterations=1", f"train.steps_per_iteration={STEPS}", "data.toy_eval_prompts=8"]
pytestmark = pytest.mark.slow

# preset -> a metric only that algorithm's learner reports
PRESETS = {
    "una_binary": "train/implicit_score",
    "una_pairwise": "train/pair_accuracy",
    "dpo": "train/reward_margin",
    "ppo": "train/value_loss",
    "kto": "train/z_ref",
    "grpo": "train/truncated_fraction",
    "rloo": "train/kl_per_token",
}


def test_reward_model_preset_through_launch(tmp_path, tiny_config):
    """UNA scored by the locally built tiny reward model, its reference log-probs computed by a vLLM engine
    (learner.reference_engine vllm). (First in the file: before this module's actors take the cores.)"""
    command = [sys.executable, "launch.py", "--config", "configs/reward_model.yaml", "--output-dir", str(tmp_path),
               f"model.tiny.cache_dir={tiny_config.cache_dir}", "learner.reference_engine=vllm", *OVERRIDES]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["reward"]["model_path"].split("/")[-1].startswith("reward-")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["train/abstained"] == 0 for r in records if "train/abstained" in r)
    _assert_updated(tmp_path, "train/implicit_score")
    # the first step was sampled by the initial policy, which the reference is: the same log-probs
    first = pq.read_table(tmp_path / "records" / "train-i1-s1.parquet").to_pylist()
    assert first and all(len(r["reference_logprobs"]) == len(r["response_token_ids"]) for r in first)
    assert max(abs(a - b) for r in first for a, b in zip(r["reference_logprobs"], r["behaviour_logprobs"])) < 1e-3


@pytest.fixture(scope="module")
def shared_actors(ray_local, tiny_model_path, tokenizer):
    """The actors every preset shares (the default config's), and the prompts."""
    from actors.group import start_actors
    from core.config import load_config
    from core.data import load_prompts

    cfg = load_config(None, OVERRIDES)
    actors = start_actors(cfg, tiny_model_path)
    for rank in actors.learner.ranks:  # each preset starts its own (which holds the reference)
        ray_local.kill(rank)
    yield actors, load_prompts(cfg.data, tokenizer, cfg.train.seed)


def _assert_updated(out: Path, marker: str) -> None:
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [row for row in steps if "train/reward_mean" in row]
    assert len(train) == STEPS
    updated = [row for row in train if marker in row]
    assert updated, f"no step reported {marker}"
    assert all(row["train/policy_version"] >= 1 for row in updated)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_runs_and_updates(preset, shared_actors, tiny_model_path, tmp_path):
    import ray

    from actors.learner_group import LearnerGroup
    from actors.weight_sync import push_weights
    from core.config import load_config
    from loop.trackers import open_trackers
    from loop.training import TrainingLoop

    actors, prompts = shared_actors
    cfg = load_config(str(ROOT / "configs" / f"{preset}.yaml"), OVERRIDES)
    assert cfg.algorithm.name == preset.split("_")[0] and cfg.train.reference_refresh == "never"
    samples_per_step = cfg.train.prompts_per_step * cfg.rollout.samples_per_prompt
    learner = LearnerGroup.create([{"num_cpus": 0}], actors.timeout_s)
    try:
        learner.start(tiny_model_path, cfg.learner, cfg.algorithm, samples_per_step, cfg.train.seed,
                      cfg.cluster.weight_bucket_mb, holds_reference=True)
        rank = learner.ranks[0]
        preset_actors = dataclasses.replace(actors, learner=learner, reference=rank, initial=rank)
        # the generator starts from the initial weights too, whatever the previous preset taught it
        push_weights(learner, actors.rollout, 0, actors.timeout_s)
        loop = TrainingLoop(cfg, preset_actors, prompts, tmp_path, open_trackers(cfg.logging, cfg.to_dict(), tmp_path, None))
        result = loop.run()
        loop.close()
        favoured = _reward_weighted_change(learner, tmp_path / "records" / f"train-i1-s{STEPS}.parquet")
    finally:
        ray.kill(learner.ranks[0])
    assert result.stop_reason == "iteration_limit"
    _assert_updated(tmp_path, PRESETS[preset])
    assert favoured > 0, f"{preset}: training lowered the better-rewarded samples against the worse ({favoured:.3f})"


def _reward_weighted_change(learner, records: Path) -> float:
    """The sum over the last step's samples of (reward - its prompt's mean reward) x (log pi - log pi_ref of
    the response), pi the trained policy, pi_ref the initial one: positive when training raised each prompt's
    better-rewarded responses against its worse ones (a loss with its direction reversed makes it negative)."""
    import statistics
    from collections import defaultdict

    import pyarrow.parquet as pq

    from core.records import Sample

    rows = pq.read_table(records).to_pylist()
    trained = learner.sequence_logprobs([Sample.from_record(row) for row in rows])
    by_prompt = defaultdict(list)
    for row, logprobs in zip(rows, trained):
        by_prompt[row["prompt_id"]].append((row["reward"], sum(logprobs) - sum(row["reference_logprobs"])))
    return sum((reward - statistics.mean(r for r, _ in group)) * change
               for group in by_prompt.values() for reward, change in group)
