"""PPO and group-baseline pieces: pure functions of tensors. Formulas: Schulman et al. 2017 (PPO, GAE), GRPO
(Shao et al. 2024) and RLOO (Ahmadian et al. 2024); each docstring gives its own.

Token tensors are (B, T) with a response mask of 1 on valid tokens. Token losses are summed over valid
tokens and divided by `num_tokens`, the valid-token count of the whole optimizer step.
"""

from __future__ import annotations

import torch


def kl_estimate(logprobs: torch.Tensor, reference_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimators of KL(pi || pi_ref) from d = log pi - log pi_ref (Schulman 2020):
    k1 = d, k2 = d^2 / 2, k3 = exp(-d) - 1 + d."""
    d = logprobs - reference_logprobs
    if estimator == "k1":
        return d
    if estimator == "k2":
        return d**2 / 2
    if estimator == "k3":
        return torch.exp(-d) - 1 + d
    raise ValueError(f"KL estimator must be k1, k2 or k3, got {estimator!r}")


def token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """r_t = -kl_coef * KL_t on every response token, plus the sequence score on the last one."""
    rewards = -kl_coef * kl * mask
    last = (mask.cumsum(dim=-1) == mask.sum(dim=-1, keepdim=True)) & mask.bool()
    return rewards + last * scores.unsqueeze(-1)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016), right to left over valid tokens:
    delta_t = r_t + gamma V_{t+1} - V_t;  A_t = delta_t + gamma lam A_{t+1};  returns R = A + V.
    V after the last valid token is 0."""
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_advantage = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        valid = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = advantage * valid
        next_value = torch.where(valid.bool(), values[:, t], next_value)
        next_advantage = torch.where(valid.bool(), advantage, next_advantage)
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / std over the valid entries only (unbiased variance, as TRL's masked_whiten)."""
    count = mask.sum()
    mean = (values * mask).sum() / count
    variance = (((values - mean) * mask) ** 2).sum() / (count - 1).clamp(min=1)
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def ppo_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_eps: float, num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate: max(-A rho, -A clip(rho, 1 - eps, 1 + eps)), rho = exp(logp - logp_old).
    Returns the loss and the fraction of valid tokens where clipping was active."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    loss = (torch.maximum(unclipped, clipped) * mask).sum() / num_tokens
    clip_fraction = ((clipped > unclipped).float() * mask).sum() / mask.sum().clamp(min=1)
    return loss, clip_fraction.detach()


def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   clip_eps: float, num_tokens: int) -> torch.Tensor:
    """0.5 max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2), summed over valid tokens."""
    clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    losses = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return (losses * mask).sum() / num_tokens


def grpo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """GRPO (Shao et al. 2024): A_i = (r_i - mean of its group) / (std of its group + 1e-4).
    rewards (P, k): k samples for each of P prompts; std is the unbiased one, as in TRL."""
    return (rewards - rewards.mean(dim=1, keepdim=True)) / (rewards.std(dim=1, keepdim=True) + 1e-4)


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024): A_i = r_i - mean of the other k - 1 rewards of the same prompt."""
    k = rewards.shape[1]
    if k < 2:
        raise ValueError("RLOO needs at least 2 samples per prompt (rollout.samples_per_prompt)")
    return rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)


def reinforce_plus_plus_advantages(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """REINFORCE++ (Hu 2025): token returns G_t = sum_{s >= t} gamma^(s-t) r_s of the KL-shaped token
    rewards (see token_rewards), whitened over every valid token of the batch (a global baseline)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running * mask[:, t]
        returns[:, t] = running
    return whiten(returns * mask, mask)
