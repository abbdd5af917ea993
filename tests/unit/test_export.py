import datasets

from core.records import Feedback, Sample
from loop.export import export
from loop.records import RecordWriter


def _write_run(run_dir):
    writer = RecordWriter(run_dir / "records")
    texts = {"a": [("oo", 1.0), ("ab", 0.0), ("o", 0.5)], "b": [("x", 0.2), ("y", 0.2)]}
    samples, feedback = [], []
    for pid, items in texts.items():
        for j, (text, reward) in enumerate(items):
            samples.append(Sample(f"{pid}{j}", pid, f"prompt {pid}", [1], [2], text, [0.0], "stop", 1, 1, 3))
            feedback.append(Feedback(f"{pid}{j}", "score", reward, "rule"))
    samples.append(Sample("abstained", "a", "prompt a", [1], [2], "??", [0.0], "stop", 1, 1, 3))
    feedback.append(Feedback("abstained", "score", None, "judge", raw="no score"))
    writer.write("train-i1-s3", samples, feedback, [None] * len(samples))
    writer.write("eval-i1", samples[:1], feedback[:1], [None])


def test_pairs_best_against_worst_ties_dropped(tmp_path):
    _write_run(tmp_path)
    assert export(tmp_path, "pairs", tmp_path / "pairs") == 1
    rows = datasets.load_from_disk(str(tmp_path / "pairs")).to_list()
    assert rows == [{"prompt": "prompt a", "chosen": "oo", "rejected": "ab", "score_chosen": 1.0,
                     "score_rejected": 0.0, "iteration": 1}]


def test_binary_labels_against_the_group_mean_or_a_threshold(tmp_path):
    _write_run(tmp_path)
    assert export(tmp_path, "binary", tmp_path / "bin") == 5
    labels = {r["completion"]: r["label"] for r in datasets.load_from_disk(str(tmp_path / "bin"))}
    assert labels == {"oo": True, "ab": False, "o": True, "x": True, "y": True}  # group a's mean is 0.5
    export(tmp_path, "binary", tmp_path / "bin2", threshold=0.6)
    labels = {r["completion"]: r["label"] for r in datasets.load_from_disk(str(tmp_path / "bin2"))}
    assert labels == {"oo": True, "ab": False, "o": False, "x": False, "y": False}
