import json

import datasets

from core.records import Feedback, Sample
from loop.export import export, unfinished_note
from loop.records import RecordWriter
from rewards.preference_pairs import load_preference_pairs


def _write_run(run_dir):
    writer = RecordWriter(run_dir / "records")
    texts = {"a": [("oo", 1.0), ("ab", 0.0), ("o", 0.5)], "b": [("x", 0.2), ("y", 0.2)]}
    samples, feedback = [], []
    for pid, items in texts.items():
        for j, (text, reward) in enumerate(items):
            samples.append(Sample(f"{pid}{j}", pid, f"<|user|>prompt {pid}</s>", [1], [2], text, [0.0], "stop", 1, 1, 3,
                                  prompt_messages=[{"role": "user", "content": f"prompt {pid}"}]))
            feedback.append(Feedback(f"{pid}{j}", "score", reward, "rule"))
    samples.append(Sample("abstained", "a", "prompt a", [1], [2], "??", [0.0], "stop", 1, 1, 3))
    feedback.append(Feedback("abstained", "score", None, "judge", raw="no score"))
    writer.write("train-i1-s3", samples, feedback, [None] * len(samples))
    writer.write("eval-i1", samples[:1], feedback[:1], [None])


def test_pairs_best_against_worst_ties_dropped_in_trl_conversational_format(tmp_path):
    _write_run(tmp_path)
    assert export(tmp_path, "pairs", tmp_path / "pairs.parquet") == 1
    rows = datasets.load_dataset("parquet", data_files=str(tmp_path / "pairs.parquet"), split="train").to_list()
    assert rows == [{"prompt": [{"role": "user", "content": "prompt a"}], "chosen": [{"role": "assistant", "content": "oo"}],
                     "rejected": [{"role": "assistant", "content": "ab"}], "score_chosen": 1.0, "score_rejected": 0.0,
                     "iteration": 1}]
    # what train-rm and evaluation.judge_pairs read: the user's text, not the rendered template
    assert [pair.prompt for pair, _ in load_preference_pairs(str(tmp_path / "pairs.parquet"), "DATA")] == ["prompt a"]
    assert export(tmp_path, "pairs", tmp_path / "pairs.jsonl") == 1
    assert json.loads((tmp_path / "pairs.jsonl").read_text())["chosen"] == [{"role": "assistant", "content": "oo"}]


def test_an_unfinished_run_is_said(tmp_path):
    assert "no summary.json" in unfinished_note(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": "interrupted"}))
    assert "ended interrupted" in unfinished_note(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": "iteration_limit"}))
    assert unfinished_note(tmp_path) == ""


def test_binary_labels_against_the_group_mean_or_a_threshold(tmp_path):
    _write_run(tmp_path)
    assert export(tmp_path, "binary", tmp_path / "bin.parquet") == 5

    def labels_in(name):
        rows = datasets.load_dataset("parquet", data_files=str(tmp_path / name), split="train")
        return {r["completion"][0]["content"]: r["label"] for r in rows}

    assert labels_in("bin.parquet") == {"oo": True, "ab": False, "o": True, "x": True, "y": True}  # group a's mean: 0.5
    export(tmp_path, "binary", tmp_path / "bin2.parquet", threshold=0.6)
    labels = labels_in("bin2.parquet")
    assert labels == {"oo": True, "ab": False, "o": False, "x": False, "y": False}
