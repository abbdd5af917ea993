"""Every sample, its feedback and log-probs, appended to Parquet part files that `datasets` reads back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.records import Feedback, Sample

SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("prompt_id", pa.string()), ("prompt_text", pa.string()),
    ("prompt_token_ids", pa.list_(pa.int64())), ("response_token_ids", pa.list_(pa.int64())),
    ("response_text", pa.string()), ("behaviour_logprobs", pa.list_(pa.float64())),
    ("finish_reason", pa.string()), ("policy_version", pa.int64()), ("iteration", pa.int64()),
    ("step", pa.int64()), ("reward", pa.float64()), ("reward_source", pa.string()),
    ("feedback_kind", pa.string()), ("feedback_raw", pa.string()), ("target", pa.float64()),
    ("reference_logprobs", pa.list_(pa.float64())),
    ("prompt_messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("answer", pa.string()),
    ("staleness", pa.int64()),  # policy versions between the sample's generator and the learner that trained on it
])


class RecordWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows_written = 0

    def write(self, name: str, samples: list[Sample], feedback: list[Feedback],
              targets: list[float | None], reference_logprobs: list[list[float]] | None = None,
              staleness: list[int] | None = None) -> Path:
        """One Parquet file per call, named after the step, e.g. train-i1-s7.parquet."""
        rows = []
        for k, (sample, fb, target) in enumerate(zip(samples, feedback, targets)):
            rows.append({
                **asdict(sample),
                "reward": fb.value,
                "reward_source": fb.source,
                "feedback_kind": fb.kind,
                "feedback_raw": fb.raw,
                "target": target,
                "reference_logprobs": reference_logprobs[k] if reference_logprobs else None,
                "staleness": staleness[k] if staleness else None,
            })
        path = self.folder / f"{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
        tmp.rename(path)  # a reader never sees half a file
        self.rows_written += len(rows)
        return path
