import pytest
import torch
from token_samples import token_sample

from learner.batch import collate, unpad_response
from learner.logprobs import token_logprobs


def test_collate_marks_response_targets():
    batch = collate([token_sample([5, 6, 7], [8, 9]), token_sample([5], [8, 9, 10])], pad_token_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 8, 9, 10, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    # target t is input_ids[t + 1]: responses start at target 2 (row 0) and target 0 (row 1)
    assert batch.response_mask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 0]]


def test_logprobs_do_not_depend_on_padding(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()
    short, long = token_sample([10, 11], [12, 13]), token_sample([10, 11, 12, 13, 14], [15, 16, 17])
    with torch.no_grad():
        batch = collate([short, long], pad_token_id=0)
        together = unpad_response(token_logprobs(model, batch), batch)
        alone = collate([short], pad_token_id=0)
        by_itself = unpad_response(token_logprobs(model, alone), alone)
        # by hand for the first response token of `short`: log softmax of the logits after [10, 11]
        expected_first = model(torch.tensor([[10, 11]])).logits[0, -1].log_softmax(-1)[12].item()
    assert len(together[0]) == 2 and len(together[1]) == 3
    assert together[0] == pytest.approx(by_itself[0], abs=1e-5)
    assert together[0][0] == pytest.approx(expected_first, abs=1e-5)


def test_a_micro_batch_moves_every_tensor_to_the_model_device():
    """On a GPU the learner moves each micro-batch to its engine's device; a tensor left behind would fail there."""
    from dataclasses import fields

    from core.records import Signal
    from learner.objectives import LearnerBatch, make_micro_batch

    samples = [token_sample([1, 2], [3, 4]), token_sample([1, 2], [5, 6, 7])]  # one prompt: shared-prompt rows too
    signal = Signal("pairs", scores=[1.0, 0.0], labels=[1.0, 0.0], advantages=[0.5, -0.5], pairs=[(0, 1)])
    micro = make_micro_batch(LearnerBatch(samples, [[0.0, 0.0], [0.0, 0.0, 0.0]], signal), [[0, 1]], 0, share=True)
    moved = micro.to("meta")
    tensors = [getattr(moved, f.name) for f in fields(moved) if f.name != "tokens"]
    tensors += [getattr(moved.tokens, f.name) for f in fields(moved.tokens) if f.name != "shared"]
    tensors += [getattr(moved.tokens.shared, f.name) for f in fields(moved.tokens.shared)]
    assert len(tensors) == 15 and all(t.device.type == "meta" for t in tensors)
