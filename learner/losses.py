"""UNA and preference losses: pure functions of tensors. Each docstring gives its formula and source.

Every loss returns the SUM over its rows divided by `count`, the number of rows (sequences or pairs) in
the whole optimizer step, so micro-batches with gradient accumulation add up to the large-batch loss.
Log-ratios are ratio(y) = sum over response tokens of (log pi - log pi_ref), see `sequence_log_ratio`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over the last (token) dimension of the entries where mask is 1: a per-sequence total."""
    return (values * mask).sum(dim=-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence mean over the tokens where mask is 1 (a sequence with none gives 0)."""
    return masked_sum(values, mask) / mask.sum(dim=-1).clamp(min=1)


def sequence_log_ratio(policy_logprobs: torch.Tensor, reference_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_sum(policy_logprobs - reference_logprobs, mask)


def una_score_loss(
    policy_logprobs: torch.Tensor,
    reference_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    target_scores: torch.Tensor,
    beta: float,
    num_sequences_in_step: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """UNA with score feedback (Wang et al. 2024, arXiv 2408.15339, eq. for score feedback).

    implicit score s_theta = sigmoid(beta * ratio(y));  L = sum of (s_theta - s_phi)^2 / count.

    Compared against the reference policy, as the paper defines online UNA (its released code uses the
    rollout policy's log-probs instead). Tensors: log-probs and mask (B, T), targets (B,) in [0, 1].
    """
    ratio = sequence_log_ratio(policy_logprobs, reference_logprobs, response_mask)
    implicit_score = torch.sigmoid(beta * ratio)
    loss = ((implicit_score - target_scores) ** 2).sum() / num_sequences_in_step
    return loss, {"implicit_score": implicit_score.detach(), "log_ratio": ratio.detach()}


def una_binary_loss(ratio: torch.Tensor, labels: torch.Tensor, beta: float, count: int, form: str = "mse") -> torch.Tensor:
    """UNA with binary feedback (thumbs up = 1, down = 0), s_theta = sigmoid(beta * ratio).

    mse: (s_theta - label)^2;  bce: -log s_theta for desirable, -log(1 - s_theta) for undesirable.
    The paper's equations carry a stray leading minus; like its code, the positive loss is minimised.
    """
    if form == "mse":
        return ((torch.sigmoid(beta * ratio) - labels) ** 2).sum() / count
    if form == "bce":
        return F.binary_cross_entropy_with_logits(beta * ratio, labels, reduction="sum") / count
    raise ValueError(f"UNA binary loss form must be 'mse' or 'bce', got {form!r}")


def dpo_loss(chosen_ratio: torch.Tensor, rejected_ratio: torch.Tensor, beta: float, count: int,
             label_smoothing: float = 0.0) -> torch.Tensor:
    """DPO (Rafailov et al. 2023), conservative DPO when label_smoothing eps > 0:
    -(1 - eps) log sigma(beta Delta) - eps log sigma(-beta Delta), Delta = ratio(y_w) - ratio(y_l).
    UNA with pairwise feedback is exactly this loss with eps = 0. The eps term is TRL's "sigmoid" loss up
    to 0.28 (and its "aot" losses since); TRL 0.29 and 1.x's "sigmoid" ignore label_smoothing (read in
    their dpo_trainer.py), so compare with TRL at eps = 0 only."""
    logits = beta * (chosen_ratio - rejected_ratio)
    losses = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    return losses.sum() / count


def ipo_loss(chosen_mean_ratio: torch.Tensor, rejected_mean_ratio: torch.Tensor, beta: float, count: int) -> torch.Tensor:
    """IPO (Azar et al. 2023) as TRL implements it: (Delta_mean - 1 / (2 beta))^2, with log-ratios
    averaged per token (`masked_mean`) rather than summed."""
    return ((chosen_mean_ratio - rejected_mean_ratio - 1 / (2 * beta)) ** 2).sum() / count


def simpo_loss(chosen_mean_logp: torch.Tensor, rejected_mean_logp: torch.Tensor, beta: float, gamma: float,
               count: int) -> torch.Tensor:
    """SimPO (Meng et al. 2024), reference-free: -log sigma(beta (mean_logp(y_w) - mean_logp(y_l)) - gamma)."""
    return -F.logsigmoid(beta * (chosen_mean_logp - rejected_mean_logp) - gamma).sum() / count


def rdpo_loss(chosen_ratio: torch.Tensor, rejected_ratio: torch.Tensor, chosen_length: torch.Tensor,
              rejected_length: torch.Tensor, beta: float, alpha: float, count: int) -> torch.Tensor:
    """R-DPO (Park et al. 2024), length-regularised: -log sigma(beta Delta + alpha |y_w| - alpha |y_l|)."""
    logits = beta * (chosen_ratio - rejected_ratio) + alpha * chosen_length - alpha * rejected_length
    return -F.logsigmoid(logits).sum() / count


def kto_reference_point(mismatched_ratio: torch.Tensor) -> torch.Tensor:
    """KTO's z_ref: max(0, detached batch mean of the log-ratio on mismatched (x, y') pairs).
    Every learner rank computes it from the whole step's mismatched pairs (learner/algorithms/kto.Kto.prepare), so
    the ranks agree without a collective."""
    return mismatched_ratio.detach().mean().clamp(min=0)


def kto_loss(ratio: torch.Tensor, desirable: torch.Tensor, z_ref: torch.Tensor, beta: float, count: int,
             lambda_desirable: float = 1.0, lambda_undesirable: float = 1.0) -> torch.Tensor:
    """KTO (Ethayarajh et al. 2024) as TRL defines it:
    desirable lambda_D (1 - sigma(beta (ratio - z_ref))), undesirable lambda_U (1 - sigma(beta (z_ref - ratio)))."""
    good = lambda_desirable * (1 - torch.sigmoid(beta * (ratio - z_ref)))
    bad = lambda_undesirable * (1 - torch.sigmoid(beta * (z_ref - ratio)))
    return torch.where(desirable.bool(), good, bad).sum() / count
