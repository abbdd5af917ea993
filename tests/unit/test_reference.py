import torch

from learner.reference import ReferenceScorer
from learner.weights import serialize_state_dict


def test_reference_replace_and_ema_refresh(tiny_model_path):
    scorer = ReferenceScorer(tiny_model_path, micro_batch_size=4)
    start = {k: v.clone() for k, v in scorer.model.state_dict().items()}
    target = {k: torch.full_like(v, 2.0) for k, v in start.items() if k != "lm_head.weight"}

    scorer.load_reference([serialize_state_dict(target)], version=1, ema_rate=0.25)
    norm = scorer.model.state_dict()["model.norm.weight"]  # starts at 1: 0.75 * 1 + 0.25 * 2
    assert torch.allclose(norm, torch.full_like(norm, 1.25))
    embed = scorer.model.state_dict()["model.embed_tokens.weight"]
    assert torch.allclose(embed, 0.75 * start["model.embed_tokens.weight"] + 0.5)
    assert torch.equal(scorer.model.lm_head.weight, embed)  # still tied

    scorer.load_reference([serialize_state_dict(target)], version=2)
    assert torch.equal(scorer.model.state_dict()["model.norm.weight"], torch.full_like(norm, 2.0))
    assert scorer.version == 2


def test_a_learner_holding_the_reference_scores_refreshes_and_saves_it_as_the_scorer_does(tiny_model_path, random_samples,
                                                                                           tmp_path):
    """learner.reference_engine learner: rank 0's copy answers score / load_reference / save_reference as the
    scorer's actor does, and stays apart from the policy it trains."""
    import random

    from core.config import AlgorithmConfig, LearnerConfig
    from learner.engine import PolicyLearner

    samples = random_samples(6, random.Random(1))
    config = LearnerConfig(micro_batch_size=4)

    def scorer_like_the_learner():  # batched alike (shared-prompt rows round differently from plain ones)
        return ReferenceScorer(tiny_model_path, 4, config.max_tokens_per_micro_batch, config.share_prompts)

    scorer = scorer_like_the_learner()
    learner = PolicyLearner(tiny_model_path, config, AlgorithmConfig(), 8, seed=0, holds_reference=True)
    assert learner.score(samples) == scorer.score(samples)
    with torch.no_grad():
        next(learner.engine.module.parameters()).add_(1.0)  # the policy moves; the reference does not
    assert learner.score(samples) == scorer.score(samples)

    target = {k: v + 0.01 for k, v in scorer.model.state_dict().items() if k != "lm_head.weight"}
    for holder in (learner, scorer):
        holder.load_reference([serialize_state_dict(target)], version=3, ema_rate=0.5)
    moved = learner.score(samples)
    assert moved == scorer.score(samples) and moved != scorer_like_the_learner().score(samples)

    learner.save_reference(str(tmp_path / "reference.safetensors"))
    reloaded = scorer_like_the_learner()
    reloaded.load_reference([(tmp_path / "reference.safetensors").read_bytes()], version=3)
    assert reloaded.score(samples) == moved
