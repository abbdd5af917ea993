"""The attention kernel of the learner's and the reference scorer's models: float32 attention when
learner.compute_dtype is bfloat16 on a CPU.

torch 2.13's CPU flash-attention kernel (what transformers' sdpa calls) is slower in bfloat16 than in float32
once its backward pass runs: forward and backward over 7 rows of 150 tokens, 8 heads of 64, 15.0 ms against 7.3
(`python bench/bf16.py`, Xeon with AMX), though the forward alone is faster in bfloat16 (1.2 ms against 2.1). At
25M parameters that backward was a quarter of the bfloat16 learner's step. So on a CPU under bfloat16 autocast
both models use `sdpa_float32`: transformers' sdpa with query, key and value cast to float32 and autocast off
inside, so the attention's products and softmax run in float32 (more exact, too) and every other matrix product in
bfloat16. Both models, so that a policy equal to its reference scores each token alike. GPUs keep sdpa.
"""

from __future__ import annotations

import torch

FLOAT32_SDPA = "sdpa_float32"
TAKES_4D_MASK = ("sdpa", FLOAT32_SDPA)  # the implementations shared-prompt rows can use (learner/shared_prompts.py)


def sdpa_float32(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask, **kwargs):
    """transformers' sdpa attention computed in float32; the output back in the query's dtype."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    with torch.autocast(query.device.type, enabled=False):
        output, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask,
                                                 **kwargs)
    return output.to(query.dtype), weights


def use_float32_attention(model, compute_dtype: torch.dtype) -> None:
    """Switch a CPU model that computes in bfloat16 with sdpa attention to sdpa_float32 (see the module's
    docstring); any other model is left as it is."""
    from core.device import compute_device

    if compute_dtype != torch.bfloat16 or compute_device().type != "cpu":
        return
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(FLOAT32_SDPA, sdpa_float32)
    AttentionMaskInterface.register(FLOAT32_SDPA, sdpa_mask)  # the same masks as sdpa
    model.set_attn_implementation(FLOAT32_SDPA)
