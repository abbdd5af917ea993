"""PPO's critic: a value head on a causal LM's backbone, trained by its own DeepSpeed engine."""

from __future__ import annotations

import torch
from torch import nn

from learner.batch import TokenBatch
from learner.optimizer import learner_optimizer


class ValueModel(nn.Module):
    """V(state) for every prefix: the backbone's last hidden state through one linear layer."""

    def __init__(self, model_path: str):
        super().__init__()
        from transformers import AutoModel

        self.backbone = AutoModel.from_pretrained(model_path, dtype=torch.float32)
        self.value_head = nn.Linear(self.backbone.config.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        """(B, T-1): the value of the state before each target token, aligned with response_mask."""
        hidden = self.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                               use_cache=False).last_hidden_state
        return self.value_head(hidden[:, :-1]).squeeze(-1)


def build_critic_engine(model_path: str, lr: float, micro_batch_size: int, accumulation_steps: int,
                        grad_clip: float, zero_stage: int, gradient_checkpointing: bool = False):
    import deepspeed

    model = ValueModel(model_path)
    if gradient_checkpointing:  # learner.gradient_checkpointing: the critic's backbone as the policy's
        model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer, grad_clip = learner_optimizer(list(model.parameters()), zero_stage, grad_clip, lr=lr)
    config = {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": accumulation_steps,
        "gradient_clipping": grad_clip,
        "zero_optimization": {"stage": zero_stage},
        "steps_per_print": 10**9,
    }
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    return engine
