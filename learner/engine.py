"""The policy learner: a DeepSpeed engine (ZeRO, gloo on the CPU) that owns the trainable weights."""

from __future__ import annotations

import math
import os
import socket

import torch

from core.config import AlgorithmConfig, LearnerConfig
from core.memory import ReportsMemory
from core.records import Sample
from learner.batch import TokenBatch, collate, unpad_response
from learner.logprobs import token_logprobs
from learner.losses import una_score_loss
from learner.weights import serialize_state_dict


def init_single_process_group() -> None:
    """DeepSpeed needs a torch.distributed group even for one rank; gloo works on the CPU."""
    import deepspeed

    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(dist_backend="gloo" if not torch.cuda.is_available() else "nccl")


class PolicyLearner(ReportsMemory):
    def __init__(self, model_path: str, learner: LearnerConfig, algorithm: AlgorithmConfig,
                 samples_per_step: int, seed: int):
        import deepspeed
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.model_path = model_path
        init_single_process_group()
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        self.pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
        self.algorithm = algorithm
        self.micro_batch_size = min(learner.micro_batch_size, samples_per_step)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=learner.lr, betas=tuple(learner.adam_betas), weight_decay=learner.weight_decay
        )
        ds_config = {
            "train_micro_batch_size_per_gpu": self.micro_batch_size,
            "gradient_accumulation_steps": math.ceil(samples_per_step / self.micro_batch_size),
            "gradient_clipping": learner.grad_clip,
            "zero_optimization": {"stage": learner.zero_stage},
            "steps_per_print": 10**9,
        }
        self.engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
        self.zero_stage = learner.zero_stage

    def train_step(self, samples: list[Sample], reference_logprobs: list[list[float]],
                   targets: list[float]) -> dict[str, float]:
        """One optimizer step over all samples (micro-batched), UNA score loss against the reference."""
        _check_inputs(samples, reference_logprobs, targets)
        self.engine.train()
        total, losses, nonfinite = len(samples), [], 0
        implicit, ratios = [], []
        for start in range(0, total, self.micro_batch_size):
            part = slice(start, start + self.micro_batch_size)
            batch = collate(samples[part], self.pad_token_id)
            ref = _pad_like(reference_logprobs[part], batch)
            policy = token_logprobs(self.engine, batch)
            loss, stats = una_score_loss(policy, ref, batch.response_mask, torch.tensor(targets[part]),
                                         self.algorithm.beta, total)
            if not torch.isfinite(loss):
                # Only broken weights make the loss non-finite (inputs were checked): back-propagate
                # nothing for this micro-batch so the optimizer state stays finite; the loop counts it.
                nonfinite += 1
                loss = sum(p.sum() for p in self.engine.module.parameters()) * 0.0
            self.engine.backward(loss, scale_wrt_gas=False)  # the loss is already divided by the step's count
            self.engine.step()
            losses.append(loss.item())
            implicit.append(stats["implicit_score"])
            ratios.append(stats["log_ratio"])
        implicit_all, ratio_all = torch.cat(implicit), torch.cat(ratios)
        return {
            "loss": sum(losses),
            "nonfinite_microbatches": float(nonfinite),
            "implicit_score_mean": implicit_all.mean().item(),
            "log_ratio_mean": ratio_all.mean().item(),
            "grad_norm": float(self.engine.get_global_grad_norm() or 0.0),
        }

    @torch.no_grad()
    def sequence_logprobs(self, samples: list[Sample]) -> list[list[float]]:
        """The current policy's log-probs of each sample's response tokens."""
        self.engine.eval()
        batch = collate(samples, self.pad_token_id)
        return unpad_response(token_logprobs(self.engine.module, batch), batch)

    def export_weights(self) -> bytes:
        """The full weights as safetensors bytes (gathered first under ZeRO-3)."""
        return serialize_state_dict(self._full_state_dict())

    def save_pretrained(self, folder: str) -> None:
        """A Hugging Face folder (weights, config, tokenizer) that transformers and vLLM load."""
        from transformers import AutoTokenizer

        self.engine.module.save_pretrained(folder, state_dict=self._full_state_dict(), safe_serialization=True)
        AutoTokenizer.from_pretrained(self.model_path).save_pretrained(folder)

    def _full_state_dict(self) -> dict[str, torch.Tensor]:
        module = self.engine.module
        if self.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None):
                return {k: v.detach().clone() for k, v in module.state_dict().items()}
        return {k: v.detach() for k, v in module.state_dict().items()}


def _pad_like(rows: list[list[float]], batch: TokenBatch) -> torch.Tensor:
    out = torch.zeros_like(batch.response_mask)
    for row, (values, mask) in enumerate(zip(rows, batch.response_mask)):
        out[row, mask.bool()] = torch.tensor(values, dtype=out.dtype)
    return out


def _check_inputs(samples: list[Sample], reference_logprobs: list[list[float]], targets: list[float]) -> None:
    if not (len(samples) == len(reference_logprobs) == len(targets)):
        raise ValueError(f"train_step got {len(samples)} samples, {len(reference_logprobs)} reference rows, "
                         f"{len(targets)} targets; they must match one to one")
    for sample, ref, target in zip(samples, reference_logprobs, targets):
        if len(ref) != len(sample.response_token_ids):
            raise ValueError(f"sample {sample.sample_id}: {len(ref)} reference log-probs for "
                             f"{len(sample.response_token_ids)} response tokens")
        if not math.isfinite(target) or not all(math.isfinite(v) for v in ref):
            raise ValueError(f"sample {sample.sample_id}: non-finite score target {target} or reference log-prob")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
