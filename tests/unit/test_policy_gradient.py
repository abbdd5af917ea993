"""Hand-computed values for the PPO and group-baseline pieces."""

import math

import pytest
import torch

from learner.policy_gradient import (
    gae,
    grpo_advantages,
    kl_estimate,
    ppo_policy_loss,
    ppo_value_loss,
    reinforce_plus_plus_advantages,
    rloo_advantages,
    token_rewards,
    truncated_importance_weights,
    truncated_is_policy_loss,
    whiten,
)

t = torch.tensor


def test_kl_estimators():
    logp, ref = t([0.5]), t([0.0])
    assert kl_estimate(logp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_estimate(logp, ref, "k2").item() == pytest.approx(0.125)
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(math.exp(-0.5) - 1 + 0.5)


def test_token_rewards_put_the_score_on_the_last_valid_token():
    rewards = token_rewards(t([2.0]), t([[0.1, 0.2, 0.3, 9.0]]), t([[1.0, 1.0, 1.0, 0.0]]), kl_coef=0.5)
    assert rewards.tolist()[0] == pytest.approx([-0.05, -0.1, -0.15 + 2.0, 0.0])


def test_gae_by_hand_and_padding_ignored():
    rewards = t([[0.0, 0.0, 1.0, 7.0]])
    values = t([[0.5, 0.5, 0.5, 9.0]])
    mask = t([[1.0, 1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert advantages.tolist()[0] == pytest.approx([0.5, 0.5, 0.5, 0.0])
    assert returns.tolist()[0] == pytest.approx([1.0, 1.0, 1.0, 0.0])
    advantages, _ = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # t2: 1 - 0.5 = 0.5; t1: delta 0 + 0.5 * 0.5; t0: delta 0 + 0.5 * 0.25
    assert advantages.tolist()[0] == pytest.approx([0.125, 0.25, 0.5, 0.0])


def test_whiten_over_valid_entries():
    assert whiten(t([[1.0, 2.0, 3.0, 100.0]]), t([[1.0, 1.0, 1.0, 0.0]])).tolist()[0] == pytest.approx([-1, 0, 1, 0], abs=1e-6)


def test_ppo_policy_loss_clips_by_advantage_sign():
    logp = torch.full((1, 2), math.log(1.5))  # rho = 1.5 on both tokens
    loss, clip_fraction = ppo_policy_loss(logp, torch.zeros(1, 2), t([[1.0, -1.0]]), torch.ones(1, 2), 0.2, num_tokens=2)
    # A = 1: max(-1.5, -1.2) = -1.2 (clipped); A = -1: max(1.5, 1.2) = 1.5 (not clipped)
    assert loss.item() == pytest.approx((-1.2 + 1.5) / 2)
    assert clip_fraction.item() == pytest.approx(0.5)


def test_truncated_importance_weights_correct_stale_tokens_by_hand():
    # pi_prox / pi_behav per token: 0.5 / 0.25 = 2 (kept), 0.9 / 0.3 = 3 (truncated to the cap 2.5), 0.2 / 0.4 = 0.5
    proximal, behaviour = t([[0.5, 0.9, 0.2]]).log(), t([[0.25, 0.3, 0.4]]).log()
    assert truncated_importance_weights(proximal, behaviour, 2.5).tolist()[0] == pytest.approx([2.0, 2.5, 0.5])
    logp = proximal.clone().requires_grad_(True)
    advantages, mask = t([[1.0, -2.0, 4.0]]), t([[1.0, 1.0, 0.0]])  # the third token is padding
    loss, truncated = truncated_is_policy_loss(logp, behaviour, advantages, mask, cap=2.5, num_tokens=2)
    # -(w A) summed over valid tokens / 2 = -(2 * 1 + 2.5 * -2) / 2 = 1.5; d loss / d logp_t = -w_t A_t / 2
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert logp.grad.tolist()[0] == pytest.approx([-1.0, 2.5, 0.0])
    assert truncated.item() == pytest.approx(0.5)  # one of the two valid tokens hit the cap


def test_ppo_policy_loss_takes_importance_weights_per_token():
    logp = torch.full((1, 2), math.log(1.5))
    weights = t([[2.0, 0.5]])
    loss, _ = ppo_policy_loss(logp, torch.zeros(1, 2), t([[1.0, -1.0]]), torch.ones(1, 2), 0.2, 2, weights)
    assert loss.item() == pytest.approx((-1.2 * 2.0 + 1.5 * 0.5) / 2)


def test_ppo_value_loss_takes_the_larger_error():
    loss = ppo_value_loss(t([[2.0]]), t([[1.0]]), t([[3.0]]), t([[1.0]]), clip_eps=0.5, num_tokens=1)
    assert loss.item() == pytest.approx(0.5 * (1.5 - 3.0) ** 2)


def test_group_baselines():
    grpo = grpo_advantages(t([[1.0, 0.0]]))
    assert grpo.tolist()[0] == pytest.approx([0.5 / (math.sqrt(0.5) + 1e-4), -0.5 / (math.sqrt(0.5) + 1e-4)])
    assert rloo_advantages(t([[1.0, 0.0, 2.0]])).tolist()[0] == pytest.approx([0.0, -1.5, 1.5])
    with pytest.raises(ValueError, match="at least 2 samples"):
        rloo_advantages(t([[1.0]]))


def test_reinforce_plus_plus_whitens_returns_over_the_batch():
    # returns [[1, 1], [1, 0]]: mean 0.75, unbiased std 0.5
    advantages = reinforce_plus_plus_advantages(t([[0.0, 1.0], [1.0, 0.0]]), torch.ones(2, 2))
    assert advantages.tolist() == [pytest.approx([0.5, 0.5], abs=1e-5), pytest.approx([0.5, -1.5], abs=1e-5)]
