"""Hand-computed values: each expected number is written out from the formula in its docstring."""

import math

import pytest
import torch

from learner.losses import (
    dpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    masked_mean,
    rdpo_loss,
    simpo_loss,
    una_binary_loss,
)

t = torch.tensor


def softplus(x):  # -log sigmoid(-x)
    return math.log1p(math.exp(x))


def test_una_binary_mse_and_bce():
    ratio, labels = t([0.0, 0.0]), t([1.0, 0.0])
    assert una_binary_loss(ratio, labels, beta=0.1, count=2, form="mse").item() == pytest.approx(0.25)
    assert una_binary_loss(ratio, labels, beta=0.1, count=2, form="bce").item() == pytest.approx(math.log(2))
    # ratio 10, beta 0.1: s = sigmoid(1); desirable mse (s - 1)^2, undesirable bce -log(1 - s)
    s = 1 / (1 + math.exp(-1))
    assert una_binary_loss(t([10.0]), t([1.0]), 0.1, 1, "mse").item() == pytest.approx((s - 1) ** 2)
    assert una_binary_loss(t([10.0]), t([0.0]), 0.1, 1, "bce").item() == pytest.approx(-math.log(1 - s))
    with pytest.raises(ValueError, match="'mse' or 'bce'"):
        una_binary_loss(ratio, labels, 0.1, 2, "hinge")


def test_dpo_and_label_smoothing():
    # Delta = 1, beta 0.5: -log sigmoid(0.5) = softplus(-0.5)
    assert dpo_loss(t([1.0]), t([0.0]), beta=0.5, count=1).item() == pytest.approx(softplus(-0.5))
    assert dpo_loss(t([1.0]), t([0.0]), 0.5, 1).item() == pytest.approx(0.474077, abs=1e-6)
    smoothed = dpo_loss(t([1.0]), t([0.0]), 0.5, 1, label_smoothing=0.1).item()
    assert smoothed == pytest.approx(0.9 * softplus(-0.5) + 0.1 * softplus(0.5))
    # normalised by the step's pair count, not the micro-batch's
    assert dpo_loss(t([1.0, 1.0]), t([0.0, 0.0]), 0.5, 4).item() == pytest.approx(softplus(-0.5) / 2)


def test_ipo_uses_per_token_means():
    chosen = masked_mean(t([[0.2, 0.4, 99.0]]), t([[1.0, 1.0, 0.0]]))  # 0.3
    rejected = masked_mean(t([[0.1, 0.0]]), t([[1.0, 0.0]]))  # 0.1
    assert ipo_loss(chosen, rejected, beta=0.5, count=1).item() == pytest.approx((0.2 - 1.0) ** 2)


def test_simpo():
    assert simpo_loss(t([-1.0]), t([-2.0]), beta=2.0, gamma=0.5, count=1).item() == pytest.approx(softplus(-1.5))


def test_rdpo_length_term():
    # 0.5 * 1 + 0.1 * 3 - 0.1 * 5 = 0.3
    loss = rdpo_loss(t([1.0]), t([0.0]), t([3.0]), t([5.0]), beta=0.5, alpha=0.1, count=1)
    assert loss.item() == pytest.approx(softplus(-0.3))


def test_kto_reference_point_and_loss():
    assert kto_reference_point(t([-1.0, -3.0])).item() == 0.0
    assert kto_reference_point(t([1.0, 2.0])).item() == pytest.approx(1.5)
    # desirable ratio 2 and undesirable ratio -1 around z_ref 0.5, beta 1: both terms are 1 - sigmoid(1.5)
    term = 1 - 1 / (1 + math.exp(-1.5))
    loss = kto_loss(t([2.0, -1.0]), t([1, 0]), t(0.5), beta=1.0, count=2, lambda_desirable=1.0, lambda_undesirable=2.0)
    assert loss.item() == pytest.approx((term + 2 * term) / 2)


def _gradients(loss_of, *inputs):
    tensors = [t([value], requires_grad=True) for value in inputs]
    loss_of(*tensors).backward()
    return [x.grad.item() for x in tensors]


@pytest.mark.parametrize("name, loss_of", [
    ("dpo", lambda c, r: dpo_loss(c, r, 0.5, 1)),
    ("cdpo", lambda c, r: dpo_loss(c, r, 0.5, 1, label_smoothing=0.2)),
    ("ipo", lambda c, r: ipo_loss(c, r, 0.1, 1)),  # IPO regresses the margin to 1 / (2 beta) = 5: below it, up
    ("simpo", lambda c, r: simpo_loss(c, r, 2.0, 0.5, 1)),
    ("rdpo", lambda c, r: rdpo_loss(c, r, t([3.0]), t([5.0]), 0.5, 0.1, 1)),
])
def test_each_pairwise_loss_raises_the_chosen_log_ratio_and_lowers_the_rejected(name, loss_of):
    """Gradient descent moves along minus the gradient: chosen up means d loss / d chosen < 0."""
    for chosen, rejected in ((0.0, 0.0), (1.0, -1.0), (-1.0, 1.0)):
        d_chosen, d_rejected = _gradients(loss_of, chosen, rejected)
        assert d_chosen < 0 < d_rejected, (name, chosen, rejected, d_chosen, d_rejected)


@pytest.mark.parametrize("name, loss_of", [
    ("una binary mse", lambda x, label: una_binary_loss(x, label, 0.1, 1, "mse")),
    ("una binary bce", lambda x, label: una_binary_loss(x, label, 0.1, 1, "bce")),
    ("kto", lambda x, label: kto_loss(x, label, t(0.0), 0.5, 1)),
])
def test_each_unpaired_loss_raises_desirable_and_lowers_undesirable_samples(name, loss_of):
    for ratio in (-2.0, 0.0, 2.0):
        up = t([ratio], requires_grad=True)
        loss_of(up, t([1.0])).backward()
        down = t([ratio], requires_grad=True)
        loss_of(down, t([0.0])).backward()
        assert up.grad.item() < 0 < down.grad.item(), (name, ratio)


def test_una_score_pulls_the_log_ratio_toward_its_target():
    from learner.losses import una_score_loss

    for target, sign in ((0.9, -1), (0.1, 1)):  # above sigmoid(0) = 0.5: raise the ratio; below: lower it
        policy = t([[0.0, 0.0]], requires_grad=True)
        loss, _ = una_score_loss(policy, t([[0.0, 0.0]]), t([[1.0, 1.0]]), t([target]), beta=0.1, num_sequences_in_step=1)
        loss.backward()
        assert all(math.copysign(1, g) == sign for g in policy.grad[0].tolist()), (target, policy.grad)
