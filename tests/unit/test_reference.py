import torch

from actors.reference import ReferenceScorer
from learner.weights import serialize_state_dict


def test_reference_replace_and_ema_refresh(tiny_model_path):
    scorer = ReferenceScorer(tiny_model_path, micro_batch_size=4)
    start = {k: v.clone() for k, v in scorer.model.state_dict().items()}
    target = {k: torch.full_like(v, 2.0) for k, v in start.items() if k != "lm_head.weight"}

    scorer.load_weights([serialize_state_dict(target)], version=1, ema_rate=0.25)
    norm = scorer.model.state_dict()["model.norm.weight"]  # starts at 1: 0.75 * 1 + 0.25 * 2
    assert torch.allclose(norm, torch.full_like(norm, 1.25))
    embed = scorer.model.state_dict()["model.embed_tokens.weight"]
    assert torch.allclose(embed, 0.75 * start["model.embed_tokens.weight"] + 0.5)
    assert torch.equal(scorer.model.lm_head.weight, embed)  # still tied

    scorer.load_weights([serialize_state_dict(target)], version=2)
    assert torch.equal(scorer.model.state_dict()["model.norm.weight"], torch.full_like(norm, 2.0))
    assert scorer.version == 2
