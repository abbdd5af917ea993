import pytest

from core.config import TinyModelConfig


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> TinyModelConfig:
    return TinyModelConfig(cache_dir=str(tmp_path_factory.mktemp("tiny_models")))


@pytest.fixture(scope="session")
def tiny_model_path(tiny_config) -> str:
    from models.tiny import build_tiny_model

    return str(build_tiny_model(tiny_config))


@pytest.fixture(scope="session")
def tokenizer(tiny_model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path)


@pytest.fixture(scope="session")
def lab_tokenizer():
    """The lab model's tokenizer (digits one token each), trained as models/tiny.py trains it."""
    from models.tiny import train_tokenizer

    return train_tokenizer(400, 0, ["arithmetic", "writing"])


@pytest.fixture(scope="session")
def random_samples():
    """make(count, rng): samples of 4 per prompt with random response tokens, a 4-token prompt and flat
    behaviour log-probs, for the learner's tests."""
    from core.records import Sample

    def make(count: int, rng) -> list[Sample]:
        samples = []
        for i in range(count):
            response = [rng.randrange(10, 200) for _ in range(rng.randrange(3, 9))]
            samples.append(Sample(f"s{i}", f"p{i // 4}", "", [5, 60, 70, 6], response, "", [-5.5] * len(response),
                                  "length", 0, 0, 0))
        return samples

    return make
