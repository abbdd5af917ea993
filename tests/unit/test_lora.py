"""LoRA policies in the learner (one DeepSpeed rank over gloo): what trains, what stays, what is pushed, and the
checks made before Ray starts."""

import json
import random

import pytest
import torch

from core.config import AlgorithmConfig, ConfigError, LearnerConfig, LoraConfig, load_config
from core.records import Signal
from learner.objectives import LearnerBatch
from rewards.signals import mismatched_samples

LORA = LoraConfig(enabled=True, rank=4, alpha=8.0)
FLOAT32 = "float32"  # the tolerances here are float32's (auto is bfloat16 on a CPU with bfloat16 instructions)


@pytest.fixture(scope="module")
def lora_learner(tiny_model_path):
    from learner.engine import PolicyLearner

    return PolicyLearner(tiny_model_path, LearnerConfig(lr=1e-2, max_tokens_per_micro_batch=0, compute_dtype=FLOAT32),
                         AlgorithmConfig(beta=0.1),
                         8, seed=0, lora=LORA)


@pytest.fixture(scope="module")
def trained(lora_learner, random_samples):
    """The learner's parameters before and after two steps, and the samples it trained on."""
    samples = random_samples(8, random.Random(3))
    before = {k: v.detach().clone() for k, v in lora_learner.engine.module.named_parameters()}
    initial = lora_learner.sequence_logprobs(samples)
    reference = lora_learner.score(samples)
    for _ in range(2):
        lora_learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=[1.0, 0.0] * 4)))
    after = {k: v.detach().clone() for k, v in lora_learner.engine.module.named_parameters()}
    return before, after, samples, initial


def test_only_the_adapter_changes_and_the_base_stays_bit_equal(trained):
    before, after, _, _ = trained
    adapter = [k for k in before if ".lora_" in k]
    assert adapter and len(adapter) < len(before)
    assert all(not torch.equal(before[k], after[k]) for k in adapter if "lora_B" in k)  # B starts at 0 and learns
    assert all(torch.equal(before[k], after[k]) for k in before if ".lora_" not in k)  # bit-equal base


def test_adapter_disabled_reference_is_the_initial_policy(lora_learner, trained, tiny_model_path):
    from transformers import AutoModelForCausalLM

    from learner.logprobs import response_logprobs

    _, _, samples, initial = trained
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    plain = response_logprobs(base, samples, base.config.pad_token_id, 8)
    diff = lambda a, b: max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))  # noqa: E731
    assert diff(initial, plain) < 1e-5  # a fresh adapter (B = 0) starts as the base
    assert diff(lora_learner.score(samples), plain) < 1e-5  # after training, the adapter switched off: still the base
    assert diff(lora_learner.sequence_logprobs(samples), plain) > 1e-3  # while the policy moved


def test_merged_weights_and_the_saved_folders_give_the_policy(lora_learner, trained, tiny_model_path, tmp_path):
    from transformers import AutoModelForCausalLM

    from learner.logprobs import response_logprobs
    from learner.lora import ADAPTER_FOLDER
    from learner.merge_adapter import main as merge_command

    _, _, samples, _ = trained
    policy = lora_learner.sequence_logprobs(samples)
    lora_learner.save_pretrained(str(tmp_path / "model"))
    update = lora_learner.export_adapter(shared_memory=False)
    assert set(update.files) == {"adapter_config.json", "adapter_model.safetensors"}
    full = sum(p.numel() * 4 for k, p in lora_learner.engine.module.named_parameters() if ".lora_" not in k)
    assert len(update.files["adapter_model.safetensors"]) < 0.1 * full
    merged = tmp_path / "merged"  # the command finds the base the adapter names
    merge_command(["--adapter", str(tmp_path / "model" / ADAPTER_FOLDER), "--out", str(merged)])
    for folder in (tmp_path / "model", merged):  # the checkpoint's folder, and the merge command's
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        rows = response_logprobs(model, samples, model.config.pad_token_id, 8)
        assert max(abs(x - y) for ra, rb in zip(rows, policy) for x, y in zip(ra, rb)) < 1e-4, folder


def test_an_adapter_folder_starts_the_policy_where_it_was_saved(lora_learner, trained, tiny_model_path, tmp_path):
    from learner.engine import PolicyLearner
    from learner.lora import ADAPTER_FOLDER, check_lora

    _, _, samples, _ = trained
    lora_learner.save_pretrained(str(tmp_path))
    start = LoraConfig(enabled=True, rank=4, alpha=8.0, adapter_path=str(tmp_path / ADAPTER_FOLDER))
    check_lora(start, tiny_model_path)
    resumed = PolicyLearner(tiny_model_path, LearnerConfig(max_tokens_per_micro_batch=0, compute_dtype=FLOAT32),
                            AlgorithmConfig(), 8, seed=0,
                            lora=start)
    ours, theirs = resumed.sequence_logprobs(samples), lora_learner.sequence_logprobs(samples)
    assert max(abs(x - y) for ra, rb in zip(ours, theirs) for x, y in zip(ra, rb)) < 1e-5


def test_bad_lora_settings_are_named_before_any_actor_starts(tiny_model_path, tmp_path, lora_learner):
    from learner.lora import ADAPTER_CONFIG, ADAPTER_FOLDER, check_lora

    with pytest.raises(ConfigError, match=r"model.lora.rank"):
        load_config(None, ["model.lora.enabled=true", "model.lora.rank=0"])
    with pytest.raises(ConfigError, match=r"\['qkv'\] match no linear layer.*q_proj"):
        check_lora(LoraConfig(enabled=True, target_modules=["q_proj", "qkv"]), tiny_model_path)
    with pytest.raises(ConfigError, match="not a PEFT adapter folder"):
        check_lora(LoraConfig(enabled=True, adapter_path=str(tmp_path)), tiny_model_path)
    lora_learner.save_pretrained(str(tmp_path / "saved"))
    adapter = tmp_path / "saved" / ADAPTER_FOLDER
    with pytest.raises(ConfigError, match="set model.lora.rank to it"):
        check_lora(LoraConfig(enabled=True, rank=8, adapter_path=str(adapter)), tiny_model_path)
    other = tmp_path / "other-base"  # the adapter's recorded base: a model of another shape
    other.mkdir()
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "hidden_size": 256, "intermediate_size": 512}))
    (adapter / ADAPTER_CONFIG).write_text(json.dumps({**json.loads((adapter / ADAPTER_CONFIG).read_text()),
                                                      "base_model_name_or_path": str(other)}))
    with pytest.raises(ConfigError, match="whose config differs from model.path"):
        check_lora(LoraConfig(enabled=True, rank=4, adapter_path=str(adapter)), tiny_model_path)
    with pytest.raises(ConfigError, match="fits no linear layer"):  # the shapes tell, whatever the recorded base
        check_lora(LoraConfig(enabled=True, rank=4, adapter_path=str(adapter)), str(other))


@pytest.mark.parametrize("overrides, message", [
    (["learner.merging=ondare"], "learner.merging merges full-weight updates"),
    (["train.reference_refresh=every_iteration"], "cannot follow train.reference_refresh every_iteration"),
    (["model.lora.adapter_path=/somewhere"], "not the policy model.lora.adapter_path starts from"),
    (["learner.zero_stage=3", "cluster.learner.count=2"], "ZeRO-3 cannot do with several ranks"),
    (["model.lora.serve=merged", "model.lora.reference=separate", "model.lora.adapter_path=/somewhere"],
     "merge it first"),
    (["model.lora.serve=merged", "cluster.weight_transport=nccl", "cluster.rollout.gpus=1", "cluster.learner.gpus=1"],
     "not built for cluster.weight_transport nccl"),
])
def test_lora_combinations_that_cannot_work_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["model.lora.enabled=true", *overrides])


@pytest.mark.parametrize("name", ["dpo", "kto", "grpo", "ppo"])
def test_every_objective_trains_the_adapter_only(name, tiny_model_path, random_samples):
    from learner.algorithms import lookup
    from learner.engine import PolicyLearner

    algorithm = AlgorithmConfig(name=name, beta=0.1)
    learner = PolicyLearner(tiny_model_path, LearnerConfig(lr=1e-2, compute_dtype=FLOAT32), algorithm, 8, seed=0, lora=LORA)
    samples = random_samples(8, random.Random(5))
    rewards = [0.1, 0.9, 0.3, 0.8, 0.7, 0.2, 0.6, 0.4]
    signal = lookup(algorithm).signal(algorithm, samples, rewards, rewards)
    mismatched = mismatched_samples(samples)  # KTO's reference point
    before = {k: v.detach().clone() for k, v in learner.engine.module.named_parameters()}
    learner.train_step(LearnerBatch(samples, learner.score(samples), signal, mismatched, learner.score(mismatched)))
    after = dict(learner.engine.module.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in before if ".lora_" not in k)


def test_a_separate_reference_takes_the_merged_policy(lora_learner, trained, tiny_model_path, tmp_path):
    """model.lora.reference separate: the scorer starts from base + starting adapter, refreshes to base + adapter."""
    from learner.lora import ADAPTER_FOLDER
    from learner.reference import ReferenceScorer

    _, _, samples, _ = trained
    policy = lora_learner.sequence_logprobs(samples)
    lora_learner.save_pretrained(str(tmp_path))
    started = ReferenceScorer(tiny_model_path, 8, 0, adapter_path=str(tmp_path / ADAPTER_FOLDER), compute_dtype=FLOAT32)
    refreshed = ReferenceScorer(tiny_model_path, 8, 0, compute_dtype=FLOAT32)
    refreshed.load_reference(lora_learner.export_weights(), version=1)
    for scorer in (started, refreshed):
        rows = scorer.score(samples)
        assert max(abs(x - y) for ra, rb in zip(rows, policy) for x, y in zip(ra, rb)) < 1e-4
