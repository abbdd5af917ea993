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
