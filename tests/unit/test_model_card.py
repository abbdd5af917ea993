"""A checkpoint's model card (loop/model_card.py): Hub metadata, what the policy was trained from and how, and
the held-out metrics up to that checkpoint."""

import yaml

from core.config import load_config
from loop.model_card import model_card
from loop.state import IterationRow, LoopState


def test_the_card_names_base_algorithm_feedback_data_steps_and_metrics():
    cfg = load_config(None, ["algorithm.name=dpo", "reward.kind=length", "reward.target_words=5", "model.lora.enabled=true"])
    state = LoopState(iteration=1, step=50, updates=50, policy_version=50,
                      rows=[IterationRow(0, 0.125, 0.0, 0, 0.0, guard=0.25), IterationRow(1, 0.5, 3.25, 3200, 60.0, 0.75, 0.5)])
    card = model_card(cfg, state)
    _, front, body = card.split("---", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "transformers" and {"dpo", "feedback-length", "lora"} <= set(meta["tags"])
    assert "# dpo policy, iteration 1" in body
    assert "- Base model: the tiny Llama built locally" in body
    assert "- Feedback source: reward.kind length" in body and "- Data: toy" in body
    assert "1 iterations, 50 steps, 50 optimizer updates" in body and "LoRA: rank 8" in body
    assert "| iteration | held-out reward | KL to initial | win rate vs previous | guard |" in body  # no gold column
    assert "| 0 | 0.125 | 0 |  | 0.25 |" in body and "| 1 | 0.5 | 3.25 | 0.75 | 0.5 |" in body
