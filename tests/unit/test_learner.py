"""The DeepSpeed learner over gloo in one process (ZeRO stage 0, what auto gives one rank, unless a test names
another): accumulation and every objective."""

import os
import random

import pytest
import torch

from core.config import AlgorithmConfig, LearnerConfig
from core.records import Signal
from learner.algorithms import lookup
from learner.objectives import LearnerBatch
from rewards.signals import mismatched_samples


@pytest.fixture(scope="module")
def batch_parts(random_samples):
    samples = random_samples(8, random.Random(0))
    rewards = [0.1, 0.4, 0.3, 0.9, 0.8, 0.2, 0.2, 0.6]
    return samples, rewards


def _learner(path, micro, algorithm=None, lr=1e-3, compute_dtype="float32"):
    from learner.engine import PolicyLearner

    config = LearnerConfig(lr=lr, micro_batch_size=micro, max_tokens_per_micro_batch=0,  # micro-batches by count
                           compute_dtype=compute_dtype)
    return PolicyLearner(path, config, algorithm or AlgorithmConfig(), 8, seed=0)


def test_accumulating_four_micro_batches_equals_one_big_batch(tiny_model_path, batch_parts):
    samples, rewards = batch_parts
    updates, stats = [], []
    for micro in (2, 8):
        learner = _learner(tiny_model_path, micro)
        before = {k: v.clone() for k, v in learner._full_state_dict().items()}
        reference = learner.sequence_logprobs(samples)
        stats.append(learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards))))
        updates.append({k: v - before[k] for k, v in learner._full_state_dict().items()})
    assert learner.accumulation_steps == 1
    # AdamW's update does not see the gradient's scale, the gradient norm does: a per-micro-batch
    # normalisation would make it differ
    assert stats[0].grad_norm == pytest.approx(stats[1].grad_norm, rel=1e-5)
    assert stats[0].loss == pytest.approx(stats[1].loss, rel=1e-6)
    for name, update in updates[0].items():
        assert update.abs().max() > 1e-4, name  # every weight moved by about lr ...
        assert torch.allclose(update, updates[1][name], atol=1e-5), name  # ... the same way (float noise aside)


def test_bfloat16_compute_keeps_float32_weights_and_takes_nearly_the_float32_step(tiny_model_path, batch_parts):
    samples, rewards = batch_parts
    logprobs, updates = {}, {}
    for dtype in ("float32", "bfloat16"):
        learner = _learner(tiny_model_path, 4, compute_dtype=dtype)
        before = {k: v.clone() for k, v in learner._full_state_dict().items()}
        logprobs[dtype] = learner.sequence_logprobs(samples)
        learner.train_step(LearnerBatch(samples, logprobs[dtype], Signal("scores", scores=rewards)))
        after = learner._full_state_dict()
        assert all(v.dtype == torch.float32 for v in after.values())
        updates[dtype] = torch.cat([(after[k] - before[k]).flatten() for k in before])
        exact = learner.sequence_logprobs(samples, exact=True)  # the weight-sync check's: float32 whatever the setting
        assert exact == learner.sequence_logprobs(samples) if dtype == "float32" else exact != learner.sequence_logprobs(samples)
    differences = [abs(a - b) for x, y in zip(logprobs["float32"], logprobs["bfloat16"]) for a, b in zip(x, y)]
    assert 0 < max(differences) < 0.02, max(differences)  # computed in bfloat16 (not identical), close to float32
    assert torch.nn.functional.cosine_similarity(updates["float32"], updates["bfloat16"], dim=0) > 0.98


@pytest.mark.parametrize("grad_clip", [1.0, 0.01, 0.0], ids=["norm-under-the-clip", "clipped", "no-clipping"])
def test_zero_stage_0_takes_the_stage_2_step_and_reports_its_gradient_norm(tiny_model_path, batch_parts, grad_clip):
    # DeepSpeed drops the norm under stage 0 (learner/optimizer.py): the log showed a gradient norm of 0
    from learner.engine import PolicyLearner

    samples, rewards = batch_parts
    updates, stats = [], []
    for stage in (2, 0):
        config = LearnerConfig(lr=1e-3, micro_batch_size=2, max_tokens_per_micro_batch=0, zero_stage=stage,
                               grad_clip=grad_clip)
        learner = PolicyLearner(tiny_model_path, config, AlgorithmConfig(), 8, seed=0)
        before = {k: v.clone() for k, v in learner._full_state_dict().items()}
        reference = learner.sequence_logprobs(samples)
        stats.append(learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards))))
        updates.append({k: v - before[k] for k, v in learner._full_state_dict().items()})
    assert 0.01 < stats[0].grad_norm < 1.0  # so that 0.01 clips and 1.0 does not
    assert stats[1].grad_norm == pytest.approx(stats[0].grad_norm, rel=1e-5)
    for name, update in updates[0].items():
        assert torch.allclose(update, updates[1][name], atol=1e-6), name


@pytest.mark.parametrize("algorithm", [AlgorithmConfig(name="una", feedback="score", beta=0.1),
                                       AlgorithmConfig(name="dpo", beta=0.1)])
def test_token_budget_micro_batches_give_the_same_step_as_fixed_ones(tiny_model_path, batch_parts, algorithm):
    """Fixed micro-batches of 2, a token budget with every sample its own row, and the same budget with each
    prompt's samples in shared rows (the samples all have one prompt) take the same step."""
    from learner.batch import pack_by_tokens, sequence_lengths
    from learner.engine import PolicyLearner
    from learner.shared_prompts import merge_by_prompt

    samples, rewards = batch_parts
    signal = lookup(algorithm).signal(algorithm, samples, rewards, rewards)
    budget = 2 * max(sequence_lengths(samples))  # two of the longest: several micro-batches
    units = [[c, r] for c, r in signal.pairs] if signal.pairs else [[i] for i in range(len(samples))]
    assert len(pack_by_tokens(units, samples, budget)) >= 2
    merged = merge_by_prompt(units, samples, budget)
    assert max(map(len, merged)) >= 2 and len(pack_by_tokens(merged, samples, budget, share=True)) >= 2
    updates, stats = [], []
    # float32: bfloat16's rounding differs with the micro-batches' shapes (the tolerances below are float32's)
    for config in (LearnerConfig(micro_batch_size=2, max_tokens_per_micro_batch=0, compute_dtype="float32"),
                   LearnerConfig(micro_batch_size=2, max_tokens_per_micro_batch=budget, share_prompts=False,
                                 compute_dtype="float32"),
                   LearnerConfig(micro_batch_size=2, max_tokens_per_micro_batch=budget, compute_dtype="float32")):
        learner = PolicyLearner(tiny_model_path, config, algorithm, 8, seed=0)
        before = {k: v.clone() for k, v in learner._full_state_dict().items()}
        reference = learner.sequence_logprobs(samples)
        stats.append(learner.train_step(LearnerBatch(samples, reference, signal)))
        updates.append({k: v - before[k] for k, v in learner._full_state_dict().items()})
    for other, other_updates in zip(stats[1:], updates[1:]):
        assert other.grad_norm == pytest.approx(stats[0].grad_norm, rel=1e-5)
        assert other.loss == pytest.approx(stats[0].loss, rel=1e-5)
        # Adam's first step is lr * g / (|g| + eps): an entry whose gradient is near eps (1e-8) turns the sums'
        # float rounding into up to ~1% of lr (1e-5 measured); a wrong gradient moves entries by up to 2 * lr
        for name, update in updates[0].items():
            assert torch.allclose(update, other_updates[name], atol=5e-5), name


@pytest.mark.parametrize("algorithm", [
    AlgorithmConfig(name="una", feedback="score", beta=0.1),
    AlgorithmConfig(name="una", feedback="binary", beta=0.1),
    AlgorithmConfig(name="una", feedback="binary", beta=0.1, una_binary_form="bce"),
    AlgorithmConfig(name="una", feedback="pairwise", beta=0.1),
    AlgorithmConfig(name="dpo", beta=0.1, label_smoothing=0.1),
    AlgorithmConfig(name="ipo", beta=0.1),
    AlgorithmConfig(name="simpo", beta=2.0),
    AlgorithmConfig(name="rdpo", beta=0.1, rdpo_alpha=0.05),
    AlgorithmConfig(name="ppo"),
    AlgorithmConfig(name="kto", beta=0.1),
    AlgorithmConfig(name="grpo"),
    AlgorithmConfig(name="rloo"),
], ids=lambda a: f"{a.name}-{a.feedback}-{a.una_binary_form}")
def test_every_objective_lowers_its_loss_on_a_fixed_batch(tiny_model_path, batch_parts, algorithm):
    samples, rewards = batch_parts
    learner = _learner(tiny_model_path, 4, algorithm, lr=3e-3)
    reference = learner.sequence_logprobs(samples)
    signal = lookup(algorithm).signal(algorithm, samples, rewards, rewards)
    mismatched = mismatched_samples(samples)
    batch = LearnerBatch(samples, reference, signal, mismatched, learner.sequence_logprobs(mismatched))
    losses = [learner.train_step(batch).loss for _ in range(6)]
    if algorithm.name not in ("grpo", "rloo", "ppo"):  # a policy-gradient surrogate is not a loss to drive down
        assert losses[-1] < losses[0], losses
    # the direction, which a falling loss alone does not show (it falls with chosen and rejected swapped too):
    # the best-rewarded sample's log-prob rose against the worst's, and every pair's chosen against its rejected
    after = learner.sequence_logprobs(samples)
    moved = [sum(a) - sum(r) for a, r in zip(after, reference)]
    best, worst = max(range(8), key=lambda i: rewards[i]), min(range(8), key=lambda i: rewards[i])
    assert moved[best] > moved[worst], moved
    for chosen, rejected in signal.pairs:
        assert rewards[chosen] > rewards[rejected] and moved[chosen] > moved[rejected], (chosen, rejected, moved)


def test_bad_inputs_name_the_sample(tiny_model_path, batch_parts):
    samples, rewards = batch_parts
    learner = _learner(tiny_model_path, 8)
    reference = learner.sequence_logprobs(samples)
    with pytest.raises(ValueError, match="sample s2: non-finite learning target nan"):
        learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards[:2] + [float("nan")] + rewards[3:])))
    with pytest.raises(ValueError, match="sample s0: 1 reference log-probs"):
        learner.train_step(LearnerBatch(samples, [[0.0]] + reference[1:], Signal("scores", scores=rewards)))


def test_ppo_critic_learns_the_returns_and_old_logprobs_are_recomputed(tiny_model_path, batch_parts):
    samples, rewards = batch_parts
    learner = _learner(tiny_model_path, 4, AlgorithmConfig(name="ppo", kl_coef=0.0, ppo_epochs=2, ppo_minibatches=2))
    assert learner.accumulation_steps == 1  # 8 sequences / 2 minibatches / micro-batch 4
    reference = learner.sequence_logprobs(samples)
    first = learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards)))
    assert first.details["value_mean"] == 0.0  # the value head starts at zero
    assert first.details["kl_per_token"] == pytest.approx(0.0, abs=1e-6)  # old log-probs equal the reference before any update
    later = [learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards))) for _ in range(5)]
    assert later[-1].shares["value_loss"] < first.shares["value_loss"]
    assert abs(later[-1].details["kl_per_token"]) > 1e-3  # recomputed from the updated policy (k1 can be negative)


def test_online_merging_replaces_each_update_in_the_zero_master_weights(tiny_model_path, batch_parts, tmp_path):
    from deepspeed.utils import safe_get_full_fp32_param
    from transformers import AutoModelForCausalLM

    from learner.engine import PolicyLearner
    from learner.merging import onties_update, trim_to_top

    sft = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with torch.no_grad():
        for param in sft.parameters():
            param.add_(torch.randn(param.shape, generator=torch.Generator().manual_seed(1)) * 1e-3)
    sft.save_pretrained(tmp_path / "sft")
    samples, rewards = batch_parts

    plain = _learner(tiny_model_path, 4)
    before = {k: v.clone() for k, v in plain._full_state_dict().items()}
    reference = plain.sequence_logprobs(samples)
    plain.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards)))
    delta = {k: v - before[k] for k, v in plain._full_state_dict().items()}

    config = LearnerConfig(lr=1e-3, micro_batch_size=4, max_tokens_per_micro_batch=0, merging="onties", zero_stage=2,
                           merge_reserve_rate=0.5, merge_alpha=0.3, compute_dtype="float32",
                           merge_base_path=tiny_model_path, merge_sft_path=str(tmp_path / "sft"))
    merged = PolicyLearner(tiny_model_path, config, AlgorithmConfig(), 8, seed=0)
    merged.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards)))
    for name, param in merged.engine.module.named_parameters():
        tau = trim_to_top(dict(sft.named_parameters())[name].detach() - before[name], 0.5)
        expected = before[name] + onties_update(trim_to_top(delta[name], 0.5), tau, 0.3)
        assert torch.allclose(param.detach(), expected, atol=1e-6), name
        # the optimizer's own fp32 copy holds the merged weights too, so the next step starts from them
        assert torch.equal(safe_get_full_fp32_param(param), param.detach()), name


def test_a_single_rank_takes_another_port_when_its_port_is_taken():
    """free_port's port can be taken before the process group binds it; one rank then picks another."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        script = ("import os, torch\nfrom learner.engine import init_process_group\ninit_process_group()\n"
                  f"print(torch.distributed.is_initialized(), os.environ['MASTER_PORT'] != '{port}')")
        run = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], text=True,
                             capture_output=True, env={**os.environ, "MASTER_PORT": str(port)}, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "True True"


def test_one_rank_skips_the_shared_memory_op_and_a_stale_build_lock_is_named(tmp_path, monkeypatch):
    import sys

    import deepspeed  # noqa: F401 -- imported first, as the learner does: deepspeed.comm.torch then names torch

    from learner import cpu_comm

    backend = sys.modules["deepspeed.comm.torch"]  # the module TorchBackend reads build_shm_op from
    monkeypatch.setattr(backend, "build_shm_op", backend.build_shm_op)  # restored after the test
    cpu_comm.prepare(world_size=1)
    assert backend.build_shm_op() is None  # no compile, no lock: one rank all-reduces nothing
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    lock = cpu_comm.build_directory() / "lock"
    assert lock.parent.is_relative_to(tmp_path)
    cpu_comm.check_no_stale_lock()  # no lock: nothing to say
    lock.write_text("")
    cpu_comm.check_no_stale_lock(now=lock.stat().st_mtime + 60)  # a build in progress: wait for it
    with pytest.raises(RuntimeError, match=f"{lock} is 11 minutes old: a build of DeepSpeed's deepspeed_shm_comm op "
                                           "was killed and left its lock.*Delete that file"):
        cpu_comm.check_no_stale_lock(now=lock.stat().st_mtime + 660)
