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
