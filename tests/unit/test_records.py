from core.records import Feedback, Sample
from loop.records import RecordWriter


def test_parquet_records_reload_with_datasets(tmp_path):
    import datasets

    writer = RecordWriter(tmp_path / "records")
    samples = [Sample(f"s{i}", "p0", "prompt", [1, 2], [3, 4, 5][: i + 1], "oo", [-0.5] * (i + 1), "stop", 2, 1, 7)
               for i in range(3)]
    feedback = [Feedback("s0", "score", 0.5, "rule"), Feedback("s1", "score", None, "judge", raw="no score found"),
                Feedback("s2", "score", 1.0, "rule")]
    writer.write("train-i1-s7", samples, feedback, [0.0, None, 1.0], [[-0.1], None, [-0.1, -0.2, -0.3]])
    writer.write("eval-i1", samples[:1], feedback[:1], [None])

    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "records" / "*.parquet"), split="train")
    rows = {(r["sample_id"], r["target"] is None) : r for r in loaded}
    assert len(loaded) == 4 and writer.rows_written == 4
    abstained = rows[("s1", True)]
    assert abstained["reward"] is None and abstained["feedback_raw"] == "no score found"
    kept = rows[("s2", False)]
    assert kept["response_token_ids"] == [3, 4, 5] and kept["reference_logprobs"] == [-0.1, -0.2, -0.3]
    assert (kept["policy_version"], kept["iteration"], kept["step"]) == (2, 1, 7)
