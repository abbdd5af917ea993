"""Token log-probabilities of a causal LM: the learner, the reference scorer and checks share this."""

from __future__ import annotations

import torch

from core.records import Sample
from learner.batch import TokenBatch, collate, pack_by_tokens, unpad_response
from learner.shared_prompts import merge_by_prompt


def token_logprobs(model, batch: TokenBatch, compute_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """log p(input_ids[:, t+1] | input_ids[:, :t+1]) for every position: shape (B, T-1). compute_dtype
    bfloat16: the model's matrix products in bfloat16 (autocast; the weights stay as they are), the
    log-softmax in float32 (learner.compute_dtype). A batch of shared-prompt rows is computed as those rows, its
    logits laid out per sample as a plain batch's."""
    shared = batch.shared
    with torch.autocast(batch.input_ids.device.type, dtype=compute_dtype, enabled=compute_dtype != torch.float32):
        if shared is None:
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
        else:
            logits = model(input_ids=shared.input_ids, position_ids=shared.position_ids,
                           attention_mask=shared.attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float() if shared is None else logits[shared.row, shared.position].float()
    targets = batch.input_ids[:, 1:]
    # log_softmax then gather; logsumexp form avoids materialising the full log-softmax twice
    picked = torch.gather(logits, -1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


@torch.no_grad()
def response_logprobs(model, samples: list[Sample], pad_token_id: int, micro_batch_size: int,
                      max_tokens: int = 0, compute_dtype: torch.dtype = torch.float32,
                      share: bool = False) -> list[list[float]]:
    """Per sample, the log-probs of its response tokens, computed micro-batch by micro-batch: micro_batch_size
    samples in order, or with max_tokens > 0 samples of similar length together (learner/batch.py), with share
    those of one prompt as one row (learner/shared_prompts.py)."""
    share = share and max_tokens > 0
    if max_tokens > 0:
        units = [[i] for i in range(len(samples))]
        if share:
            units = merge_by_prompt(units, samples, max_tokens)
        groups = [[i for unit in pack for i in unit] for pack in pack_by_tokens(units, samples, max_tokens, share)]
    else:
        groups = [list(range(start, min(start + micro_batch_size, len(samples))))
                  for start in range(0, len(samples), micro_batch_size)]
    rows: list[list[float]] = [[] for _ in samples]
    for group in groups:
        batch = collate([samples[i] for i in group], pad_token_id, share).to(model.device)
        for i, values in zip(group, unpad_response(token_logprobs(model, batch, compute_dtype), batch)):
            rows[i] = values
    return rows
