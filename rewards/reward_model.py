"""A reward model: a Hugging Face sequence-classification model with its own tokenizer and chat template.

The policy's conversation (prompt messages + response) is re-rendered with the reward model's template,
since the two tokenizers differ; scored in batches; the raw logit is the feedback value (kept in the
records), and reward.normalization maps it for the learner (e.g. sigmoid).
"""

from __future__ import annotations

import torch

from core.device import compute_device
from core.records import Feedback, Sample


def render_conversation(tokenizer, messages: list[dict[str, str]]) -> str:
    """A conversation as the reward model reads it: in its chat template, or its turns one a line without one."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n".join(m["content"] for m in messages)


class RewardModelSource:
    def __init__(self, model_path: str, batch_size: int, max_tokens: int = 1024):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_path, dtype=torch.float32)
        self.model = model.to(compute_device()).eval()
        if self.model.config.num_labels != 1:
            raise ValueError(f"reward.model_path {model_path}: a reward model has one output, this one has "
                             f"{self.model.config.num_labels} labels")
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.name = f"reward_model[{model_path}]"

    def render(self, sample: Sample) -> str:
        return render_conversation(self.tokenizer, sample.prompt_messages + [{"role": "assistant",
                                                                              "content": sample.response_text}])

    @torch.no_grad()
    def score(self, samples: list[Sample]) -> list[Feedback]:
        feedback = []
        for start in range(0, len(samples), self.batch_size):
            part = samples[start : start + self.batch_size]
            inputs = self.tokenizer([self.render(s) for s in part], return_tensors="pt", padding=True,
                                    truncation=True, max_length=self.max_tokens, add_special_tokens=False)
            logits = self.model(**inputs.to(self.model.device)).logits[:, 0].tolist()
            feedback += [Feedback(s.sample_id, "score", value, self.name) for s, value in zip(part, logits)]
        return feedback
