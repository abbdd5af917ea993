"""Float32 attention under bfloat16 autocast on CPUs (learner/attention.py)."""

import pytest
import torch
from token_samples import token_sample

from learner.attention import FLOAT32_SDPA, sdpa_float32, use_float32_attention
from learner.batch import collate, unpad_response
from learner.logprobs import token_logprobs
from learner.shared_prompts import shares_prompts


class _Attention(torch.nn.Module):  # what transformers' sdpa reads from the attention module
    is_causal = True


def test_float32_attention_computes_in_float32_and_returns_the_querys_dtype():
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 4, 9, 16, dtype=torch.bfloat16) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = sdpa_float32(_Attention(), query, key, value, None)
        in_bfloat16 = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True)
    exact = torch.nn.functional.scaled_dot_product_attention(query.float(), key.float(), value.float(), is_causal=True)
    assert output.dtype == torch.bfloat16
    assert output.shape == (2, 9, 4, 16)  # transformers' layout: (batch, tokens, heads, head size)
    assert torch.equal(output, exact.to(torch.bfloat16).transpose(1, 2))
    assert not torch.equal(output, in_bfloat16.transpose(1, 2))  # the check above tells the two apart


def test_a_bfloat16_model_on_the_cpu_attends_in_float32_and_keeps_shared_prompt_rows(tiny_model_path):
    from transformers import AutoModelForCausalLM

    exact = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    use_float32_attention(exact, torch.float32)
    assert exact.config._attn_implementation == "sdpa"  # float32 compute: nothing to change
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    use_float32_attention(model, torch.bfloat16)
    assert model.config._attn_implementation == FLOAT32_SDPA
    assert shares_prompts(True, 1024, model)

    samples = [token_sample([10, 11, 12], [13, 14, 15, 16]), token_sample([10, 11, 12], [17, 18]), token_sample([20], [21, 22])]
    want = unpad_response(token_logprobs(exact, collate(samples, pad_token_id=0)).detach(), collate(samples, 0))
    batch = collate(samples, pad_token_id=0, share=True)
    logprobs = token_logprobs(model, batch, torch.bfloat16)
    (logprobs * batch.response_mask).sum().backward()
    # each response sees only its prompt and itself: bfloat16's rounding away from the float32 model's log-probs
    for got, expected in zip(unpad_response(logprobs.detach(), batch), want):
        assert got == pytest.approx(expected, abs=0.05)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_the_learner_and_its_reference_both_attend_in_float32_and_score_alike(tiny_model_path):
    from core.config import AlgorithmConfig, LearnerConfig
    from learner.engine import PolicyLearner
    from learner.reference import ReferenceScorer

    config = LearnerConfig(compute_dtype="bfloat16")
    learner = PolicyLearner(tiny_model_path, config, AlgorithmConfig(), 8, seed=0)
    reference = ReferenceScorer(tiny_model_path, config.micro_batch_size, config.max_tokens_per_micro_batch,
                                config.share_prompts, compute_dtype="bfloat16")
    assert learner.engine.module.config._attn_implementation == FLOAT32_SDPA
    assert reference.model.config._attn_implementation == FLOAT32_SDPA
    samples = [token_sample([10, 11, 12], [13, 14, 15, 16]), token_sample([10, 11, 12], [17, 18]), token_sample([20], [21, 22])]
    # the same weights: the log-ratio of a policy to its reference starts at exactly 0
    assert learner.sequence_logprobs(samples) == reference.score(samples)
