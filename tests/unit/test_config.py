import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, RunConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_default_yaml_spells_out_the_embedded_default():
    assert load_config(str(ROOT / "configs" / "default.yaml")) == RunConfig()


def test_overrides_are_typed_and_nested():
    cfg = load_config(None, ["train.iterations=2", "learner.lr=5e-4", "rollout.temperature=1", "model.path="])
    assert cfg.train.iterations == 2
    assert cfg.learner.lr == 5e-4
    assert isinstance(cfg.rollout.temperature, float)
    assert cfg.model.path == ""


def test_zero_stage_auto_partitions_only_over_several_ranks():
    auto = load_config(None, []).learner
    assert [auto.zero_stage_for(ranks) for ranks in (1, 2, 4)] == [0, 2, 2]
    assert load_config(None, ["learner.zero_stage=3"]).learner.zero_stage_for(1) == 3  # a number is kept


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learner:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'learner\.lrr'"):
        load_config(str(path))


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"command-line override: 'train\.iterations' must be int, got 'many'"):
        load_config(None, ["train.iterations=many"])
    with pytest.raises(ConfigError, match=r"'train\.verify_sync' must be bool"):
        load_config(None, ["train.verify_sync=3"])


def test_choice_outside_the_allowed_values():
    with pytest.raises(ConfigError, match=r"'reward\.normalization' is 'zscore'; choose one of"):
        load_config(None, ["reward.normalization=zscore"])


def test_section_given_a_value():
    with pytest.raises(ConfigError, match=r"'learner' must be a mapping"):
        load_config(None, ["learner=3"])


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/file.yaml")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "no/such.yaml"], "no/such.yaml does not exist"),
        (["train.bogus=1"], "unknown key 'train.bogus'"),
        (["train.iterations=x"], "'train.iterations' must be int"),
    ],
)
def test_launch_exits_2_with_the_message(args, message):
    run = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert message in run.stderr


def test_exact_match_needs_an_answer_field():
    with pytest.raises(ConfigError, match="set data.answer_field"):
        load_config(None, ["reward.kind=exact_match"])


def test_judge_keys_are_validated():
    assert load_config("configs/rlaif.yaml").reward.judge.mode == "pairwise"
    with pytest.raises(ConfigError, match="'reward.judge.mode' is 'listwise'"):
        load_config(None, ["reward.judge.mode=listwise"])


def test_online_merging_is_refused_where_it_cannot_work():
    with pytest.raises(ConfigError, match="learner.merging works with the single-update algorithms"):
        load_config(None, ["learner.merging=onties", "algorithm.name=ppo"])
    with pytest.raises(ConfigError, match="'model.tiny.sft_l1' must be at least 0, got -1"):
        load_config(None, ["model.tiny.sft_l1=-1"])
    with pytest.raises(ConfigError, match=r"'learner.merge_reserve_rate' must be in \(0, 1\], got 0"):
        load_config(None, ["learner.merging=ondare", "learner.merge_reserve_rate=0"])


def test_a_vllm_reference_is_refused_where_it_cannot_follow():
    assert load_config(None, ["learner.reference_engine=vllm"]).learner.reference_engine == "vllm"
    with pytest.raises(ConfigError, match="train.reference_refresh ema needs learner.reference_engine transformers"):
        load_config(None, ["learner.reference_engine=vllm", "train.reference_refresh=ema"])
    with pytest.raises(ConfigError, match="not built for a LoRA policy"):
        load_config(None, ["learner.reference_engine=vllm", "model.lora.enabled=true"])


def test_engines_have_room_to_score_a_sample_of_the_full_length(tmp_path):
    """vLLM's prompt log-probs come with one generated token: the engine is one token longer, within the model."""
    from core.model_folder import scoring_length

    (tmp_path / "config.json").write_text('{"max_position_embeddings": 256}')
    assert [scoring_length(str(tmp_path), n) for n in (96, 255, 256)] == [97, 256, 256]
    (tmp_path / "config.json").write_text("{}")
    assert scoring_length(str(tmp_path), 96) == 97


@pytest.mark.parametrize("override, message", [
    ("train.keep_resume_states=0", "'train.keep_resume_states' must be at least 1, got 0"),
    ("algorithm.beta=0", "algorithm.beta must be positive for una"),
    ("rollout.samples_per_prompt=1", None),  # UNA with scores learns from one sample per prompt
])
def test_configs_that_can_never_learn_or_resume_are_refused(override, message):
    if message is None:
        load_config(None, [override])
        return
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize("preset", ["dpo", "una_pairwise", "grpo"])
def test_pairwise_and_group_algorithms_need_two_samples_per_prompt(preset):
    with pytest.raises(ConfigError, match="set rollout.samples_per_prompt to 2 or more"):
        load_config(str(ROOT / "configs" / f"{preset}.yaml"), ["rollout.samples_per_prompt=1"])


@pytest.mark.parametrize("override, message", [
    ("learner.lr=-1e-3", "'learner.lr' must be positive, got -0.001"),
    ("learner.lr=0", "'learner.lr' must be positive, got 0.0"),
    ("learner.micro_batch_size=0", "'learner.micro_batch_size' must be at least 1, got 0"),
    ("rollout.temperature=-1", "'rollout.temperature' must be at least 0, got -1.0"),
    ("rollout.max_new_tokens=0", "'rollout.max_new_tokens' must be at least 1, got 0"),
    ("rollout.top_p=1.5", r"'rollout.top_p' must be in \(0, 1\], got 1.5"),
    ("algorithm.label_smoothing=0.5", r"'algorithm.label_smoothing' must be in \[0, 0.5\), got 0.5"),
    ("learner.adam_betas=[0.9,1.0]", r"'learner.adam_betas\[1\]' must be in \[0, 1\), got 1.0"),
    ("learner.adam_betas=[0.9]", "learner.adam_betas is AdamW's two betas"),
    ("stopping.min_win_rate=nan", "'stopping.min_win_rate' must be in \\[0, 1\\], got nan"),
    ("cluster.rollout.count=0", "'cluster.rollout.count' must be at least 1, got 0"),
    ("train.steps_per_iteration=0", "'train.steps_per_iteration' must be at least 1, got 0"),
])
def test_numbers_outside_their_range_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_every_bound_accepts_the_defaults_and_its_edges():
    load_config(None, ["rollout.temperature=0", "train.iterations=0", "algorithm.gamma=1", "rollout.top_p=1"])
