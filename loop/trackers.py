"""Where a run's metrics go besides metrics.jsonl (logging.trackers): TensorBoard, MLflow, Weights & Biases.

Each tracker gets every row metrics.jsonl gets (keyed by the run's step), MLflow and W&B also the resolved
config as parameters and, at the end, the report, curves and summary as artifacts. A resumed run continues the
same MLflow and W&B runs (their ids are kept in the run folder's trackers.json); the steps logged between the
checkpoint and a crash then appear twice in their histories (metrics.jsonl and TensorBoard drop them).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Protocol

from core.config import LoggingConfig
from core.config_schema import ConfigError
from core.files import write_text_atomic

log = logging.getLogger(__name__)

# the modules each optional tracker imports, and the extra that installs them
_NEEDS = {"mlflow": ("mlflow", "sqlalchemy", "alembic"), "wandb": ("wandb",)}
IDS_FILE = "trackers.json"


class Tracker(Protocol):
    def log(self, step: int, values: dict[str, float]) -> None: ...

    def finish(self, artifacts: list[Path]) -> None: ...


def check_trackers_installed(cfg: LoggingConfig) -> None:
    """Before Ray starts: a configured tracker whose library is missing is an error naming the extra."""
    for name in cfg.trackers:
        needs = _NEEDS.get(name, ())
        if name == "mlflow" and cfg.mlflow_tracking_uri and not cfg.mlflow_tracking_uri.startswith("sqlite:"):
            needs = ("mlflow",)  # a tracking server or a file store needs no database driver here
        missing = [module for module in needs if importlib.util.find_spec(module) is None]
        if missing:
            raise ConfigError(f"logging.trackers includes {name}, but {', '.join(missing)} is not installed: "
                              f"pip install 'una-align[{name}]' (or remove {name} from logging.trackers)")


def open_trackers(cfg: LoggingConfig, run_config: dict[str, Any], out_dir: Path,
                  resume_after_step: int | None) -> list[Tracker]:
    """The trackers logging.trackers names (jsonl is metrics.jsonl itself: loop/metrics.py), opened before Ray
    starts so that an unreachable tracking server fails the run before its actors do.
    resume_after_step: a resumed run's last logged step."""
    ids_path = out_dir / IDS_FILE
    ids = json.loads(ids_path.read_text()) if resume_after_step is not None and ids_path.is_file() else {}
    name = cfg.run_name or out_dir.name
    trackers: list[Tracker] = []
    if "tensorboard" in cfg.trackers:
        trackers.append(TensorBoardTracker(out_dir / "tensorboard", resume_after_step))
    if "mlflow" in cfg.trackers:
        mlflow = MlflowTracker(cfg, name, run_config, out_dir, ids.get("mlflow"))
        trackers.append(mlflow)
        ids["mlflow"] = mlflow.run_id
    if "wandb" in cfg.trackers:
        wandb = WandbTracker(cfg, name, run_config, out_dir, ids.get("wandb"))
        trackers.append(wandb)
        ids["wandb"] = wandb.run_id
    if ids:
        write_text_atomic(ids_path, json.dumps(ids, indent=2))
    return trackers


def finish_trackers(trackers: list[Tracker], artifacts: list[Path]) -> None:
    """artifacts (the report, curves, summary) go to the trackers that keep files; one tracker's failure is
    logged, not raised: the run's own files are written and must not be hidden by it."""
    for tracker in trackers:
        try:
            tracker.finish(list(artifacts))
        except Exception as err:
            log.error("closing the %s tracker failed: %s", type(tracker).__name__, err)


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics row (trackers take no text, None or bools)."""
    return {key: float(value) for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"model.lora.rank": "8", ...}: the nested config as the flat string parameters MLflow keeps."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            params |= flat_params(value, f"{prefix}{key}.")
        else:
            params[f"{prefix}{key}"] = str(value)[:6000]  # MLflow's longest parameter value
    return params


class TensorBoardTracker:
    def __init__(self, folder: Path, resume_after_step: int | None):
        """resume_after_step: a resumed run's last logged step; TensorBoard drops the events after it."""
        from torch.utils.tensorboard import SummaryWriter

        purge = None if resume_after_step is None else resume_after_step + 1
        self._writer = SummaryWriter(str(folder), purge_step=purge)

    def log(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)

    def finish(self, artifacts: list[Path]) -> None:
        self._writer.close()


class MlflowTracker:
    def __init__(self, cfg: LoggingConfig, name: str, run_config: dict[str, Any], out_dir: Path, run_id: str | None):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.uri = cfg.mlflow_tracking_uri or f"sqlite:///{out_dir / 'mlflow.db'}"
        self._client = MlflowClient(self.uri)
        if run_id is None:
            experiment = self._client.get_experiment_by_name(cfg.project)
            experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(
                cfg.project, artifact_location=None if cfg.mlflow_tracking_uri else (out_dir / "mlflow-artifacts").as_uri())
            run_id = self._client.create_run(experiment_id, run_name=name).info.run_id
            params = [Param(key, value) for key, value in flat_params(run_config).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
                self._client.log_batch(run_id, params=params[start:start + 100])
        else:
            self._client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        log.info("MLflow: run %s in experiment %s at %s", run_id, cfg.project, self.uri)

    def log(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[Metric(key, value, now, step) for key, value in values.items()])

    def finish(self, artifacts: list[Path]) -> None:
        for path in artifacts:
            if path.is_file():
                self._client.log_artifact(self.run_id, str(path))
        self._client.set_terminated(self.run_id)


class WandbTracker:
    def __init__(self, cfg: LoggingConfig, name: str, run_config: dict[str, Any], out_dir: Path, run_id: str | None):
        import wandb

        settings = wandb.Settings(console="off", silent=not cfg.verbose)  # the terminal stays ours
        self._run = wandb.init(project=cfg.project, name=name, id=run_id, resume="allow" if run_id else None,
                               dir=str(out_dir), mode=cfg.wandb_mode, config=run_config, settings=settings)
        self._run.define_metric("*", step_metric="step")  # the run's step, not W&B's own counter: resumes rewind it
        self.run_id = self._run.id
        self.folder = Path(self._run.dir).parent
        log.info("W&B: run %s (%s) in %s%s", self.run_id, cfg.wandb_mode, self.folder,
                 f"; upload it with `wandb sync {self.folder}`" if cfg.wandb_mode == "offline" else "")

    def log(self, step: int, values: dict[str, float]) -> None:
        self._run.log({"step": step, **values})

    def finish(self, artifacts: list[Path]) -> None:
        import wandb

        files = [path for path in artifacts if path.is_file()]
        if files:
            artifact = wandb.Artifact(f"{self.run_id}-report", type="run-report")
            for path in files:
                artifact.add_file(str(path))
            self._run.log_artifact(artifact)
        self._run.finish()
