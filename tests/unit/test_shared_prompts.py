"""Shared-prompt rows: a prompt computed once for all its responses gives each response's own log-probs."""

import pytest
import torch
from token_samples import token_sample

from learner.batch import collate, pack_by_tokens, unpad_response
from learner.logprobs import token_logprobs
from learner.shared_prompts import merge_by_prompt


def test_a_prompt_and_its_responses_make_one_row_each_response_seeing_the_prompt_and_itself():
    a, b, c = token_sample([5, 6], [7, 8]), token_sample([5, 6], [9]), token_sample([3], [4, 4])
    shared = collate([a, b, c], pad_token_id=0, share=True).shared
    assert shared.input_ids.tolist() == [[5, 6, 7, 8, 9], [3, 4, 4, 0, 0]]
    assert shared.position_ids.tolist() == [[0, 1, 2, 3, 2], [0, 1, 2, 0, 0]]
    # b's token 9 (position 4) sees the prompt and itself, not a's response; padding sees only itself
    assert shared.attention_mask[0, 0, 4].tolist() == [True, True, False, False, True]
    assert shared.attention_mask[0, 0, 3].tolist() == [True, True, True, True, False]
    assert shared.attention_mask[1, 0, 3].tolist() == [False, False, False, True, False]
    # targets: a's 6, 7, 8 from positions 0, 1, 2; b's 6, 9 from 0, 1 (its last column is padding); c's from row 1
    assert shared.row.tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 0]]
    assert shared.position.tolist() == [[0, 1, 2], [0, 1, 0], [0, 1, 0]]
    assert collate([a, c], pad_token_id=0, share=True).shared is None  # no prompt twice: plain rows


def test_shared_rows_give_each_sample_its_own_logprobs_and_gradient(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    samples = [token_sample([10, 11, 12], [13, 14, 15, 16]), token_sample([10, 11, 12], [17]), token_sample([20], [21, 22]),
               token_sample([10, 11, 12], [18, 19])]
    results = []
    for share in (False, True):
        model.zero_grad()
        batch = collate(samples, pad_token_id=0, share=share)
        logprobs = token_logprobs(model, batch)
        (logprobs * batch.response_mask).sum().backward()
        results.append((unpad_response(logprobs.detach(), batch), [p.grad.clone() for p in model.parameters()]))
    (plain, plain_grads), (shared, shared_grads) = results
    assert [len(row) for row in shared] == [4, 1, 2, 2]
    for a, b in zip(plain, shared):
        assert a == pytest.approx(b, abs=1e-5)
    for a, b in zip(plain_grads, shared_grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_prompts_units_merge_into_rows_within_the_budget():
    samples = [token_sample([1, 2], [3] * 4) for _ in range(4)] + [token_sample([9], [3] * 6)]
    # pairs stay whole: the prompt (2) + two pairs of 4-token responses is 18 tokens, within 20, not within 17
    assert merge_by_prompt([[0, 1], [2, 3], [4]], samples, 20) == [[0, 1, 2, 3], [4]]
    assert merge_by_prompt([[0, 1], [2, 3], [4]], samples, 17) == [[0, 1], [2, 3], [4]]
    merged = merge_by_prompt([[0], [1], [2], [3], [4]], samples, 14)
    assert merged == [[0, 1, 2], [3], [4]]  # 2 + 3 x 4 = 14
    # a merged unit is one row of its shared length: 14, then 7 and 6 side by side (2 rows x 7 = 14)
    assert pack_by_tokens(merged, samples, 14, share=True) == [[[0, 1, 2]], [[4], [3]]]
