import json

import pytest

from core.config import ConfigError, RunConfig
from loop import checkpoint
from loop.state import IterationRow, LoopState

DATA = "0123456789abcdef"  # a data digest (core/data.PromptSets.digest)


def _write(out, iteration, config, metrics_bytes=0):
    state = LoopState(iteration=iteration, updates=3 * iteration, batches_drawn=3 * iteration,
                      rows=[IterationRow(0, 0.1, 0.0, 0, 0.0), IterationRow(1, 0.2, 0.5, 64, 1.5, 0.75)],
                      previous_rewards={"eval-0": [0.5, 0.25]})

    def save(staging):
        (staging / "model.safetensors").write_bytes(b"weights")
        (staging / "resume" / "optimizer.pt").write_bytes(b"adam")

    return checkpoint.write_checkpoint(out, iteration, save, state, config, DATA, metrics_bytes)


def test_a_checkpoint_round_trips_and_the_newest_complete_one_is_found(tmp_path):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "train-i1-s1.parquet").write_bytes(b"x")
    config = RunConfig().to_dict()
    _write(tmp_path, 1, config, metrics_bytes=7)
    _write(tmp_path, 2, config)
    (tmp_path / "checkpoints" / "iteration-3").mkdir()  # a folder without state: not resumable
    assert checkpoint.latest(tmp_path) == tmp_path / "checkpoints" / "iteration-2"

    state, records, metrics_bytes = checkpoint.read_state(tmp_path / "checkpoints" / "iteration-1", config, DATA)
    assert (state.iteration, state.updates, state.batches_drawn, metrics_bytes) == (1, 3, 3, 7)
    assert state.rows[1] == IterationRow(1, 0.2, 0.5, 64, 1.5, 0.75)
    assert state.previous_rewards == {"eval-0": [0.5, 0.25]}
    assert records == ["train-i1-s1.parquet"]
    assert not list((tmp_path / "checkpoints").glob(".staging-*"))


def test_resume_discards_what_was_written_after_the_checkpoint(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    for name in ("train-i1-s1.parquet", "eval-i1.parquet", "train-i2-s1.parquet", "train-i2-s2.parquet.tmp"):
        (records / name).write_bytes(b"x")
    lines = [json.dumps({"step": s}) + "\n" for s in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("".join(lines))
    (tmp_path / "checkpoints" / ".staging-iteration-2").mkdir(parents=True)

    removed = checkpoint.discard_after(tmp_path, ["eval-i1.parquet", "train-i1-s1.parquet"], len(lines[0]) + len(lines[1]))
    assert removed == 2
    assert sorted(p.name for p in records.iterdir()) == ["eval-i1.parquet", "train-i1-s1.parquet"]
    assert (tmp_path / "metrics.jsonl").read_text() == lines[0] + lines[1]
    assert not (tmp_path / "checkpoints" / ".staging-iteration-2").exists()


def test_a_changed_config_is_refused_except_for_iterations_and_stopping(tmp_path):
    (tmp_path / "records").mkdir()
    config = RunConfig().to_dict()
    folder = _write(tmp_path, 1, config)
    longer = RunConfig()
    longer.train.iterations, longer.stopping.patience = 9, 2
    assert checkpoint.read_state(folder, longer.to_dict(), DATA)[0].iteration == 1
    changed = RunConfig()
    changed.learner.lr = 0.5
    with pytest.raises(ConfigError, match=r"different config \(learner.lr\)"):
        checkpoint.read_state(folder, changed.to_dict(), DATA)


def test_a_resume_on_changed_data_is_refused(tmp_path):
    (tmp_path / "records").mkdir()
    folder = _write(tmp_path, 1, RunConfig().to_dict())
    with pytest.raises(ConfigError, match="holds a run on other prompt data than data.source toy has now "
                                          r"\(digest 0123456789abcdef, now fedcba9876543210\)"):
        checkpoint.read_state(folder, RunConfig().to_dict(), "fedcba9876543210")


def test_only_the_newest_checkpoints_keep_their_resume_state(tmp_path):
    (tmp_path / "records").mkdir()
    for iteration in (1, 2, 3):
        _write(tmp_path, iteration, RunConfig().to_dict())
    checkpoint.prune_resume_states(tmp_path, keep=1)
    kept = [p.parent.name for p in (tmp_path / "checkpoints").glob("iteration-*/resume")]
    assert kept == ["iteration-3"]
    assert all((tmp_path / "checkpoints" / f"iteration-{i}" / "model.safetensors").is_file() for i in (1, 2, 3))
    assert checkpoint.latest(tmp_path).name == "iteration-3"
