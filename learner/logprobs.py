"""Token log-probabilities of a causal LM: the learner, the reference scorer and checks share this."""

from __future__ import annotations

import torch

from core.records import Sample
from learner.batch import TokenBatch, collate, pack_by_tokens, sequence_lengths, unpad_response


def token_logprobs(model, batch: TokenBatch, compute_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """log p(input_ids[:, t+1] | input_ids[:, :t+1]) for every position: shape (B, T-1). compute_dtype
    bfloat16: the model's matrix products in bfloat16 (autocast; the weights stay as they are), the
    log-softmax in float32 (learner.compute_dtype)."""
    with torch.autocast(batch.input_ids.device.type, dtype=compute_dtype, enabled=compute_dtype != torch.float32):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float()
    targets = batch.input_ids[:, 1:]
    # log_softmax then gather; logsumexp form avoids materialising the full log-softmax twice
    picked = torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


@torch.no_grad()
def response_logprobs(model, samples: list[Sample], pad_token_id: int, micro_batch_size: int,
                      max_tokens: int = 0, compute_dtype: torch.dtype = torch.float32) -> list[list[float]]:
    """Per sample, the log-probs of its response tokens, computed micro-batch by micro-batch: micro_batch_size
    samples in order, or with max_tokens > 0 samples of similar length together (learner/batch.py)."""
    if max_tokens > 0:
        groups = [[i for (i,) in pack] for pack in pack_by_tokens([[i] for i in range(len(samples))],
                                                                   sequence_lengths(samples), max_tokens)]
    else:
        groups = [list(range(start, min(start + micro_batch_size, len(samples))))
                  for start in range(0, len(samples), micro_batch_size)]
    rows: list[list[float]] = [[] for _ in samples]
    for group in groups:
        batch = collate([samples[i] for i in group], pad_token_id).to(model.device)
        for i, values in zip(group, unpad_response(token_logprobs(model, batch, compute_dtype), batch)):
            rows[i] = values
    return rows
