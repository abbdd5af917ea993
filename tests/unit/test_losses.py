import math

import pytest
import torch

from learner.losses import masked_sum, una_score_loss

# Two sequences, three target positions; the second row's last two positions are padding and hold
# values that would change the result if the mask leaked.
POLICY = torch.tensor([[-1.0, -2.0, -3.0], [-0.2, -1.0, 9.0]])
REFERENCE = torch.tensor([[-1.5, -2.0, -1.0], [-1.0, -1.0, 5.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_masked_sum_ignores_padding():
    assert masked_sum(POLICY - REFERENCE, MASK).tolist() == pytest.approx([0.5, 0.8])


def test_una_score_loss_matches_hand_computation():
    # ratios 0.5 and 0.8, beta 0.5 -> implicit scores sigmoid(0.25), sigmoid(0.4); targets 1 and 0
    loss, stats = una_score_loss(POLICY, REFERENCE, MASK, torch.tensor([1.0, 0.0]), beta=0.5, num_sequences_in_step=2)
    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    assert stats["implicit_score"].tolist() == pytest.approx([sigmoid(0.25), sigmoid(0.4)])
    assert loss.item() == pytest.approx(((sigmoid(0.25) - 1) ** 2 + sigmoid(0.4) ** 2) / 2)
    assert loss.item() == pytest.approx(0.2750581653737632)


def test_zero_ratio_gives_score_one_half():
    loss, stats = una_score_loss(REFERENCE, REFERENCE, MASK, torch.tensor([0.5, 1.0]), beta=0.1, num_sequences_in_step=2)
    assert stats["implicit_score"].tolist() == pytest.approx([0.5, 0.5])
    assert loss.item() == pytest.approx((0.0 + 0.25) / 2)


def test_micro_batches_normalised_by_the_step_count_add_up_to_the_full_batch():
    torch.manual_seed(0)
    policy = torch.randn(4, 5, requires_grad=True)
    reference, targets = torch.randn(4, 5), torch.rand(4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.float32)

    full, _ = una_score_loss(policy, reference, mask, targets, beta=0.3, num_sequences_in_step=4)
    (full_grad,) = torch.autograd.grad(full, policy)
    parts = [una_score_loss(policy[i : i + 2], reference[i : i + 2], mask[i : i + 2], targets[i : i + 2], 0.3, 4)[0]
             for i in (0, 2)]
    (accumulated_grad,) = torch.autograd.grad(sum(parts), policy)
    assert sum(parts).item() == pytest.approx(full.item())
    assert torch.allclose(accumulated_grad, full_grad)
    assert (full_grad * (1 - mask)).abs().sum() == 0  # padding gets no gradient
