import json

import pytest

from core.config import DataConfig
from core.data import DataError, load_prompts


def test_toy_prompts_are_templated_and_eval_is_held_out(tokenizer):
    sets = load_prompts(DataConfig(toy_train_prompts=40, toy_eval_prompts=8), tokenizer, seed=0)
    assert (len(sets.train), len(sets.eval)) == (40, 8)
    assert not {p.text for p in sets.train} & {p.text for p in sets.eval}
    first = sets.train[0]
    assert first.text.startswith("<|user|>write about ") and first.text.endswith("</s><|assistant|>")
    assert first.token_ids == tokenizer(first.text, add_special_tokens=False)["input_ids"]
    assert len({p.prompt_id for p in sets.train + sets.eval}) == 48
    assert first.messages == [{"role": "user", "content": first.text[len("<|user|>"):-len("</s><|assistant|>")]}]


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


def test_user_jsonl_skips_and_counts_bad_rows(tmp_path, tokenizer):
    rows = [{"q": f"write about cats number {i}."} for i in range(10)]
    rows += [{"q": ""}, {"q": "   "}, {"q": "dog " * 200}, {"q": 5}]
    rows += [{"q": [{"role": "system", "content": "be brief."}, {"role": "user", "content": "write about rain."}]}]
    source = _write_jsonl(tmp_path / "prompts.jsonl", rows)
    sets = load_prompts(DataConfig(source=source, prompt_field="q", eval_fraction=0.2, max_prompt_tokens=64), tokenizer, 0)
    assert dict(sets.skipped) == {
        "empty prompt": 2,
        "longer than data.max_prompt_tokens=64": 1,
        "not text nor a list of {role, content} messages": 1,
    }
    assert len(sets.train) + len(sets.eval) == 11
    assert sets.eval and not {p.text for p in sets.train} & {p.text for p in sets.eval}
    chat = [p for p in sets.train + sets.eval if "<|system|>" in p.text]
    assert chat and chat[0].text == "<|system|>be brief.</s><|user|>write about rain.</s><|assistant|>"


def test_missing_prompt_field_names_it(tmp_path, tokenizer):
    source = _write_jsonl(tmp_path / "p.jsonl", [{"question": "hi"}, {"question": "there"}])
    with pytest.raises(DataError, match=r"no field 'prompt' \(data.prompt_field\); fields present: question"):
        load_prompts(DataConfig(source=source, eval_fraction=0.5), tokenizer, 0)


def test_parquet_with_a_separate_eval_file(tmp_path, tokenizer):
    import datasets

    datasets.Dataset.from_list([{"prompt": f"write about {w}."} for w in ("cats", "dogs", "rain")]).to_parquet(
        str(tmp_path / "train.parquet"))
    datasets.Dataset.from_list([{"prompt": "write about snow."}]).to_parquet(str(tmp_path / "eval.parquet"))
    cfg = DataConfig(source=str(tmp_path / "train.parquet"), eval_split=str(tmp_path / "eval.parquet"))
    sets = load_prompts(cfg, tokenizer, 0)
    assert (len(sets.train), len(sets.eval)) == (3, 1)
    assert "snow" in sets.eval[0].text


def test_saved_datasets_folder_with_named_splits(tmp_path, tokenizer):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"prompt": "write about cats."}, {"prompt": "write about dogs."}]),
        "test": datasets.Dataset.from_list([{"prompt": "write about rain."}]),
    }).save_to_disk(str(folder))
    sets = load_prompts(DataConfig(source=str(folder), eval_split="test"), tokenizer, 0)
    assert (len(sets.train), len(sets.eval)) == (2, 1)
    with pytest.raises(DataError, match="no split 'validation'; its splits: train, test"):
        load_prompts(DataConfig(source=str(folder), eval_split="validation"), tokenizer, 0)


def test_missing_source(tokenizer):
    with pytest.raises(DataError, match="data.source nowhere.jsonl does not exist"):
        load_prompts(DataConfig(source="nowhere.jsonl"), tokenizer, 0)


def test_answers_are_carried_and_rows_without_one_are_counted(tmp_path, tokenizer):
    rows = [{"prompt": f"what is {i} plus {i}?", "answer": str(2 * i)} for i in range(6)] + [{"prompt": "what?"}]
    source = _write_jsonl(tmp_path / "qa.jsonl", rows)
    sets = load_prompts(DataConfig(source=source, answer_field="answer", eval_fraction=0.3), tokenizer, 0)
    assert dict(sets.skipped) == {"no answer in data.answer_field='answer'": 1}
    assert {(p.messages[0]["content"], p.answer) for p in sets.train + sets.eval} == {
        (f"what is {i} plus {i}?", str(2 * i)) for i in range(6)}


@pytest.mark.parametrize("content, message", [
    (b"", "holds no rows; give one JSON object a line"),
    (b"\n  \n", "holds no rows"),
    (b'{"prompt": "a"}\n{"prompt": "b"\n', r"line 2 is not valid JSON \(Expecting ',' delimiter\)"),
    (b'{"prompt": "a"}\n{"prompt": "caf\xe9"}\n', r"line 2 is not UTF-8 text .*save the file as UTF-8"),
    (b'{"prompt": "a"}\n["b"]\n', "row 2 is list, not a JSON object"),
    (b'[{"prompt": "a"}, {"prompt": ', "not valid JSON at line 1"),
])
def test_a_damaged_json_file_names_the_file_and_the_line(tmp_path, tokenizer, content, message):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"{path}: .*{message}" if content.strip() else message):
        load_prompts(DataConfig(source=str(path)), tokenizer, 0)


def test_a_json_array_file_is_read_like_json_lines(tmp_path, tokenizer):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"prompt": f"write about {w}."} for w in ("cats", "dogs", "rain", "snow")]))
    sets = load_prompts(DataConfig(source=str(path), eval_fraction=0.25), tokenizer, 0)
    assert (len(sets.train), len(sets.eval)) == (3, 1)


def test_a_damaged_parquet_file_is_a_data_error(tmp_path, tokenizer):
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match="could not be read as Parquet"):
        load_prompts(DataConfig(source=str(path)), tokenizer, 0)


def test_the_data_digest_changes_with_any_prompt_or_answer_and_only_then(tmp_path, tokenizer):
    rows = [{"prompt": f"write about {w}.", "answer": w} for w in ("cats", "dogs", "rain", "snow")]
    cfg = DataConfig(source=_write_jsonl(tmp_path / "p.jsonl", rows), answer_field="answer", eval_fraction=0.25)
    digest = load_prompts(cfg, tokenizer, 0).digest
    assert load_prompts(cfg, tokenizer, 0).digest == digest
    rows[2]["answer"] = "snowfall"
    _write_jsonl(tmp_path / "p.jsonl", rows)
    assert load_prompts(cfg, tokenizer, 0).digest != digest
