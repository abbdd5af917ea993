"""logging.trackers: MLflow and W&B get every metrics row, the config and the run's files, read back through
their own APIs; a resumed run continues the same runs; a missing library is an error naming the extra."""

import json

import pytest
from tracker_runs import mlflow_run, wandb_run

from core.config import ConfigError, LoggingConfig, load_config
from loop.metrics import MetricsLog
from loop.trackers import check_trackers_installed, open_trackers

ROWS = [(1, {"train/reward_mean": 0.25, "iteration": 1}), (2, {"train/reward_mean": 0.5, "note": "text", "gap": None}),
        (3, {"eval/reward": 0.75, "iteration": 1, "nan": float("nan")})]


def _log(out_dir, trackers, rows, resume_after_step=None, artifacts=()):
    cfg = load_config(None, ["train.iterations=7"])
    opened = open_trackers(LoggingConfig(trackers=["jsonl", *trackers]), cfg.to_dict(), out_dir, resume_after_step)
    metrics = MetricsLog(out_dir, opened)
    for step, values in rows:
        metrics.log(step, values)
    metrics.close(list(artifacts))
    metrics.close()  # a second close does nothing


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_rows_config_and_files_reach_the_tracker_and_a_resume_continues_the_run(tracker, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))  # W&B stages artifacts there
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    _log(tmp_path, [tracker], ROWS, artifacts=[report, tmp_path / "never-written.png"])
    _log(tmp_path, [tracker], [(3, {"eval/reward": 0.8}), (4, {"train/reward_mean": 0.9})], resume_after_step=2)

    run = (mlflow_run if tracker == "mlflow" else wandb_run)(tmp_path)
    assert run.runs == (1 if tracker == "mlflow" else 2)  # W&B: one offline folder per process, one run id
    assert run.metrics["train/reward_mean"] == {1: 0.25, 2: 0.5, 4: 0.9}
    assert run.metrics["eval/reward"][3] == pytest.approx(0.8)  # the resumed run's value is the last one
    assert run.metrics["iteration"] == {1: 1.0, 3: 1.0}
    assert not {"note", "gap", "nan"} & set(run.metrics)  # text, None and NaN are not numbers to plot
    assert run.artifacts == ["report.md"]
    assert run.status == "FINISHED"
    iterations = run.params["train.iterations"] if tracker == "mlflow" else run.params["train"]["iterations"]
    assert str(iterations) == "7"
    if tracker == "wandb":
        assert len(run.extra["ids"]) == 1
    ids = json.loads((tmp_path / "trackers.json").read_text())
    assert list(ids) == [tracker]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 5


def test_a_fresh_run_in_a_folder_without_checkpoint_starts_a_new_tracker_run(tmp_path):
    _log(tmp_path, ["mlflow"], ROWS[:1])
    _log(tmp_path, ["mlflow"], ROWS[:1])  # resume_after_step None: started over
    assert mlflow_run(tmp_path).runs == 2


def test_tensorboard_events_are_written(tmp_path):
    _log(tmp_path, ["tensorboard"], ROWS)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("tracker, module", [("mlflow", "mlflow"), ("mlflow", "sqlalchemy"), ("wandb", "wandb")])
def test_a_tracker_whose_library_is_missing_names_the_extra(tracker, module, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(ConfigError, match=rf"logging.trackers includes {tracker}, but {module} is not installed: "
                                          rf"pip install 'una-align\[{tracker}\]'"):
        check_trackers_installed(LoggingConfig(trackers=["jsonl", tracker]))


def test_a_tracking_server_needs_no_database_driver(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sqlalchemy" else real(name, *a))
    check_trackers_installed(LoggingConfig(trackers=["jsonl", "mlflow"], mlflow_tracking_uri="http://mlflow:5000"))


def test_trackers_without_jsonl_or_with_an_unknown_name_are_refused():
    with pytest.raises(ConfigError, match="logging.trackers must include jsonl"):
        load_config(None, ["logging.trackers=[tensorboard]"])
    with pytest.raises(ConfigError, match=r"'logging.trackers\[1\]' is 'neptune'"):
        load_config(None, ["logging.trackers=[jsonl,neptune]"])
