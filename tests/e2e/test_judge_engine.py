"""The LLM judge's modes against a real vLLM engine (the tiny judge model in a Ray actor)."""


import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judge_engine(ray_local, tiny_config):
    import dataclasses

    from actors.rollout import RolloutEngine
    from actors.rollout_pool import RolloutPool
    from core.config import RolloutConfig
    from models.tiny import build_tiny_model

    path = str(build_tiny_model(dataclasses.replace(tiny_config, seed=1)))
    handle = ray_local.remote(num_cpus=0)(RolloutEngine).remote(path, RolloutConfig(), "float32", 256, 0)
    yield RolloutPool([handle], timeout_s=600, role="judge engine"), path


def _samples():
    from core.records import Sample

    return [Sample(f"train-i1-s1-p{p}-n{n}", f"p{p}", "", [1], [2], text, [0.0], "stop", 0, 1, 1,
                   prompt_messages=[{"role": "user", "content": f"write about the {topic}."}])
            for p, topic in enumerate(["moon", "river"]) for n, text in enumerate(["the moon is good.", "door door"])]


def test_direct_and_pointwise_judging_on_vllm(judge_engine):
    from core.config import JudgeConfig
    from rewards.judge import LLMJudge

    engine, path = judge_engine
    direct = LLMJudge(engine, path, JudgeConfig(mode="direct"), "llm_judge").score(_samples())
    assert all(0.0 <= fb.value <= 5.0 and fb.raw.startswith("P(score 0..5) = ") for fb in direct)

    pointwise = LLMJudge(engine, path, JudgeConfig(mode="pointwise", samples=3, max_new_tokens=8), "llm_judge")
    first, again = pointwise.score(_samples()), pointwise.score(_samples())
    assert [fb.raw for fb in first] == [fb.raw for fb in again]  # seeded per sample: reproducible
    for fb in first:  # three real replies each; a random judge rarely writes "Score: N", and then abstains
        assert fb.raw.count("reply ") == 3
        assert (fb.value is None) == ("score " not in fb.raw.replace("no score", ""))


def test_pairwise_judging_on_vllm_is_consistent_across_orders(judge_engine):
    from core.config import JudgeConfig
    from rewards.judge import LLMJudge

    engine, path = judge_engine
    feedback = LLMJudge(engine, path, JudgeConfig(mode="pairwise"), "llm_judge").score(_samples())
    for first, second in (feedback[0:2], feedback[2:4]):  # two samples per prompt: one comparison each
        assert first.value + second.value == pytest.approx(1.0)
        assert "as response 1:" in first.raw and "vs n1" in first.raw and "vs n0" in second.raw
