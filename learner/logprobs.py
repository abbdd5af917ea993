"""Token log-probabilities of a causal LM: the learner, the reference scorer and checks share this."""

from __future__ import annotations

import torch

from learner.batch import TokenBatch


def token_logprobs(model, batch: TokenBatch) -> torch.Tensor:
    """log p(input_ids[:, t+1] | input_ids[:, :t+1]) for every position: shape (B, T-1)."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float()
    targets = batch.input_ids[:, 1:]
    # log_softmax then gather; logsumexp form avoids materialising the full log-softmax twice
    picked = torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
