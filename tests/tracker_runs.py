"""What a run left in MLflow and W&B, read back through each library's own API: MLflow's client on the run
folder's store, and W&B's record schema (wandb_internal_pb2) over the offline run's .wandb file."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrackedRun:
    params: dict  # MLflow: {'train.iterations': '2'}; W&B: {'train': {'iterations': 2}}
    metrics: dict[str, dict[int, float]]  # name -> step -> value
    artifacts: list[str]
    status: str
    runs: int = 1  # MLflow runs in the experiment, W&B offline folders
    extra: dict = field(default_factory=dict)


def mlflow_run(out_dir: Path, experiment: str = "una-align") -> TrackedRun:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out_dir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    run = runs[0]
    metrics = {name: {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}
               for name in run.data.metrics}
    artifacts = [item.path for item in client.list_artifacts(run.info.run_id)]
    return TrackedRun(run.data.params, metrics, artifacts, run.info.status, len(runs))


def wandb_run(out_dir: Path) -> TrackedRun:
    """All offline folders of the run (a resumed run writes one more, with the same id), in order."""
    from wandb.proto import wandb_internal_pb2

    folders = sorted((out_dir / "wandb").glob("offline-run-*"))
    params: dict = {}
    metrics: dict[str, dict[int, float]] = {}
    artifacts: list[str] = []
    ids = set()
    status = "RUNNING"
    for folder in folders:
        for data in _leveldb_records(next(folder.glob("run-*.wandb")).read_bytes()):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                ids.add(record.run.run_id)
                params |= {item.key: json.loads(item.value_json) for item in record.run.config.update}
            elif kind == "history":
                row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
                for name, value in row.items():
                    if not name.startswith("_") and name != "step":
                        metrics.setdefault(name, {})[int(row["step"])] = value
            elif kind == "artifact":
                artifacts += [Path(entry.path).name for entry in record.artifact.manifest.contents]
            elif kind == "exit":
                status = "FINISHED" if record.exit.exit_code == 0 else "FAILED"
    return TrackedRun(params, metrics, artifacts, status, len(folders), {"ids": ids})


def _leveldb_records(data: bytes) -> list[bytes]:
    """The records of W&B's transaction log: LevelDB's log format (32 KiB blocks, each record a 7-byte header
    of checksum, length and type, then its bytes, long records split FIRST/MIDDLE/LAST) after a 7-byte file
    header (W&B's own Python reader of it was removed in 0.2x, the format was not)."""
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        if kind == 0 and length == 0:
            break
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # FULL or LAST
            records.append(pending)
            pending = b""
    return records
