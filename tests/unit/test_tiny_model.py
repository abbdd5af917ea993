import dataclasses

import pytest
import torch

from models.tiny import build_tiny_model


def test_builds_a_loadable_llama_with_head_size_64(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert model.config.model_type == "llama"
    assert model.config.hidden_size // model.config.num_attention_heads == 64
    logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, model.config.vocab_size)


def test_is_cached(tiny_config, tiny_model_path):
    weights = next(p for p in __import__("pathlib").Path(tiny_model_path).glob("*.safetensors"))
    before = weights.stat().st_mtime_ns
    assert str(build_tiny_model(tiny_config)) == tiny_model_path
    assert weights.stat().st_mtime_ns == before


def test_a_different_config_gets_its_own_folder(tiny_config, tiny_model_path):
    other = build_tiny_model(dataclasses.replace(tiny_config, seed=1))
    assert str(other) != tiny_model_path


def test_tokenizer_round_trips_text_and_has_a_chat_template(tokenizer):
    text = "write about cats and rain."
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert rendered == "<|user|>hi</s><|assistant|>"
    assert tokenizer.eos_token == "</s>" and tokenizer.pad_token == "<pad>"


def test_rejects_a_head_size_vllm_cannot_run(tiny_config):
    with pytest.raises(ValueError, match="head size 32"):
        build_tiny_model(dataclasses.replace(tiny_config, num_heads=4))
