"""The reference scorer: log-probs of sampled responses under a frozen (or refreshed) policy copy. Its own actor
(actors/group.py), or held by learner rank 0 (learner.reference_engine learner: PolicyLearner.score)."""

from __future__ import annotations

import torch

from core.device import compute_device
from core.memory import ReportsMemory
from core.precision import concrete_dtype
from core.records import Sample
from learner.attention import use_float32_attention
from learner.compile import compile_model
from learner.logprobs import response_logprobs
from learner.shared_prompts import shares_prompts
from learner.weights import iter_buckets, serialize_state_dict


class ReferenceScorer(ReportsMemory):
    def __init__(self, model_path: str, micro_batch_size: int, max_tokens_per_micro_batch: int = 0,
                 share_prompts: bool = False, adapter_path: str = "", compute_dtype: str = "auto",
                 compile: bool = False):
        """share_prompts, adapter_path (a LoRA policy's starting adapter, model.lora.adapter_path, merged into the
        weights), compute_dtype and compile: the learner's settings, so that reference and policy are computed alike."""
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        if adapter_path:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
        self.model = model.to(compute_device()).eval()
        self.pad_token_id = self.model.config.pad_token_id or 0
        self.micro_batch_size, self.max_tokens = micro_batch_size, max_tokens_per_micro_batch
        self.compute_dtype = getattr(torch, concrete_dtype(compute_dtype, torch.cuda.is_available()))
        use_float32_attention(self.model, self.compute_dtype)
        compile_model(self.model, compile)
        self.share_prompts = shares_prompts(share_prompts, max_tokens_per_micro_batch, self.model)
        self.version = 0

    def score(self, samples: list[Sample]) -> list[list[float]]:
        return response_logprobs(self.model, samples, self.pad_token_id, self.micro_batch_size, self.max_tokens,
                                 self.compute_dtype, self.share_prompts)

    @torch.no_grad()
    def load_reference(self, buckets: list[bytes], version: int, ema_rate: float | None = None) -> None:
        """Refresh the reference from the learner's exported weights (the same buckets generators get):
        replace them, or with ema_rate r move them to (1 - r) * reference + r * policy."""
        state_dict = dict(iter_buckets(buckets))
        if ema_rate is not None:
            current = self.model.state_dict()
            state_dict = {name: current[name].lerp(tensor.to(current[name].device), ema_rate)
                          for name, tensor in state_dict.items()}
        missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
        tied = self.model.config.tie_word_embeddings
        if unexpected or [m for m in missing if not (tied and m == "lm_head.weight")]:
            raise RuntimeError(f"reference refresh: weights do not fit the model (missing {missing}, unexpected {unexpected})")
        self.version = version

    def save_reference(self, path: str) -> None:
        """The current (refreshed) reference weights, one bucket of the format load_reference takes."""
        with open(path, "wb") as file:
            file.write(serialize_state_dict(self.model.state_dict()))
