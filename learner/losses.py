"""Loss functions: pure functions of tensors. Formulas: shared/ALGORITHMS.md."""

from __future__ import annotations

import torch


def masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over the last (token) dimension of the entries where mask is 1: a per-sequence total."""
    return (values * mask).sum(dim=-1)


def una_score_loss(
    policy_logprobs: torch.Tensor,
    reference_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    target_scores: torch.Tensor,
    beta: float,
    num_sequences_in_step: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """UNA with score feedback (Wang et al. 2024, arXiv 2408.15339, eq. for score feedback).

    ratio(y) = sum over response tokens of (log pi(y_t) - log pi_ref(y_t))
    implicit score s_theta = sigmoid(beta * ratio(y))
    L = sum over the micro-batch of (s_theta - s_phi)^2, divided by the number of sequences in the
    whole optimizer step (so gradient accumulation gives the same update as one large batch).

    Compared against the reference policy, as the paper defines online UNA (its released code uses the
    rollout policy's log-probs instead). Tensors: log-probs and mask (B, T), targets (B,) in [0, 1].
    """
    ratio = masked_sum(policy_logprobs - reference_logprobs, response_mask)
    implicit_score = torch.sigmoid(beta * ratio)
    loss = ((implicit_score - target_scores) ** 2).sum() / num_sequences_in_step
    stats = {"implicit_score": implicit_score.detach(), "log_ratio": ratio.detach()}
    return loss, stats
