"""A judge engine (rewards/judge.JudgeEngine) on a transformers model in this process, where no vLLM engine runs:
the lab model's warm start measures its judging skill with it, and `una-align` commands judge files with it."""

from __future__ import annotations

import torch

BATCH = 64  # prefixes per forward pass


class TransformersEngine:
    def __init__(self, model, pad_token_id: int):
        self.model, self.pad_token_id = model, pad_token_id

    @torch.no_grad()
    def next_token_logprobs(self, prefixes: list[list[int]], candidates: list[int]) -> list[list[float]]:
        """Each prefix's next-token log-probs of the candidates (padded on the right: a causal model's last real
        position does not see the padding)."""
        rows = []
        for start in range(0, len(prefixes), BATCH):
            chunk = prefixes[start:start + BATCH]
            width = max(len(ids) for ids in chunk)
            ids = torch.full((len(chunk), width), self.pad_token_id)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, prefix in enumerate(chunk):
                ids[row, : len(prefix)] = torch.tensor(prefix)
                mask[row, : len(prefix)] = 1
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            last = logits[torch.arange(len(chunk)), torch.tensor([len(p) - 1 for p in chunk])]
            rows += torch.log_softmax(last.float(), dim=-1)[:, candidates].tolist()
        return rows

    def sample_texts(self, prefixes, n, temperature, top_p, max_tokens, seeds):
        raise NotImplementedError("the transformers engine reads next-token log-probs only: use judge mode direct "
                                  "or pairwise")
