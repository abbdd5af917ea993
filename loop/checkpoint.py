"""Resumable checkpoints, one per iteration, written atomically.

checkpoints/iteration-N/ holds the policy as a Hugging Face folder (transformers and vLLM load it) and,
for resuming, `resume/`: the learner's DeepSpeed state (weights, optimizer, critic, random states), the
reference weights when the reference moves, and `state.json` (the loop's counters and history, the data
cursor, the record files and the metrics length at that moment). Everything is written into a hidden
staging folder and renamed into place last, so a folder named iteration-N is always complete.

Resuming (the same command on the same --output-dir) restores the newest checkpoint and discards what
was written after it (record files, metrics lines), so every sample is recorded exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import ConfigError
from loop.state import LoopState

if TYPE_CHECKING:
    from ray.actor import ActorHandle

    from actors.learner_group import LearnerGroup
    from learner.engine import PolicyLearner
    from learner.reference import ReferenceScorer

STATE_FILE = "state.json"
REFERENCE_FILE = "reference.safetensors"
# keys a resumed run may change: how long it runs, when it stops, where its metrics go
RESUMABLE_CHANGES = ("train.iterations", "stopping.", "logging.")


def actor_saver(learner: LearnerGroup, moving_reference: ActorHandle[ReferenceScorer | PolicyLearner] | None,
                timeout_s: float) -> Callable[[Path], None]:
    """What write_checkpoint calls: the learner writes the model and its DeepSpeed state, the reference its
    weights when they move (moving_reference: the reference scorer, or learner rank 0 holding it, else None)."""
    from actors.calls import wait

    def save(staging: Path) -> None:
        calls = {f"learner rank {i}: save_pretrained": ref for i, ref in enumerate(learner.save_pretrained(str(staging)))}
        calls |= {f"learner rank {i}: save_state": ref
                  for i, ref in enumerate(learner.save_state(str(staging / "resume" / "learner")))}
        if moving_reference is not None:
            calls["reference: save_reference"] = moving_reference.save_reference.remote(str(staging / "resume" / REFERENCE_FILE))
        wait(calls, timeout_s)

    return save


def restore_reference(reference: ActorHandle[ReferenceScorer | PolicyLearner], folder: Path, policy_version: int,
                      timeout_s: float) -> None:
    """A moving reference's weights as the checkpoint saved them."""
    from actors.calls import wait_one

    ref = reference.load_reference.remote([(folder / "resume" / REFERENCE_FILE).read_bytes()], policy_version)
    wait_one(ref, "reference: load_reference", timeout_s)


def folder_of(out_dir: Path, iteration: int) -> Path:
    return out_dir / "checkpoints" / f"iteration-{iteration}"


def write_checkpoint(out_dir: Path, iteration: int, save: Callable[[Path], None], state: LoopState,
                     config: dict[str, Any], data_digest: str, metrics_bytes: int) -> Path:
    """save(staging) writes the model files; then state.json; then one rename makes the checkpoint exist."""
    final = folder_of(out_dir, iteration)
    staging = final.parent / f".staging-{final.name}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "resume").mkdir(parents=True)
    save(staging)
    records = sorted(p.name for p in (out_dir / "records").glob("*.parquet"))
    payload = {"state": state.to_dict(), "config": config, "data_digest": data_digest, "records": records,
               "metrics_bytes": metrics_bytes}
    (staging / "resume" / STATE_FILE).write_text(json.dumps(payload, indent=1))
    shutil.rmtree(final, ignore_errors=True)  # only after a crash between two renames of the same iteration
    os.replace(staging, final)
    return final


def latest(out_dir: Path) -> Path | None:
    """The newest complete checkpoint that can be resumed from, or None."""
    found = [(int(p.name.split("-")[1]), p) for p in (out_dir / "checkpoints").glob("iteration-*")
             if (p / "resume" / STATE_FILE).is_file()]
    return max(found)[1] if found else None


def read_state(folder: Path, config: dict[str, Any], data_digest: str) -> tuple[LoopState, list[str], int]:
    """(loop state, record files, metrics length) of a checkpoint; an error when the config or the data changed
    (core/data.PromptSets.digest: prompt ids would otherwise name other prompts than before)."""
    payload = json.loads((folder / "resume" / STATE_FILE).read_text())
    if payload.get("data_digest", data_digest) != data_digest:
        raise ConfigError(f"{folder.parent.parent} holds a run on other prompt data than data.source "
                          f"{config['data']['source']} has now (digest {payload['data_digest']}, now {data_digest}); "
                          "restore the data the run started with, or use a new --output-dir")
    changed = [key for key in _differences(payload["config"], config) if not key.startswith(RESUMABLE_CHANGES)]
    if changed:
        raise ConfigError(f"{folder.parent.parent} holds a run with a different config ({', '.join(changed[:5])}); "
                          "resume with the same config (only train.iterations, stopping.* and logging.* may change) or use a "
                          "new --output-dir")
    return LoopState.from_dict(payload["state"]), payload["records"], payload["metrics_bytes"]


def discard_after(out_dir: Path, records: list[str], metrics_bytes: int) -> int:
    """Remove what a crashed run wrote after its last checkpoint; returns the number of record files removed."""
    keep = set(records)
    stale = [p for p in (out_dir / "records").glob("*.parquet*") if p.name not in keep]
    for path in stale:
        path.unlink()
    metrics = out_dir / "metrics.jsonl"
    if metrics.exists():
        os.truncate(metrics, metrics_bytes)
    for staging in (out_dir / "checkpoints").glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
    return len(stale)


def prune_resume_states(out_dir: Path, keep: int) -> None:
    """Drop the resume/ part (optimizer state: the bulk) of all but the newest `keep` checkpoints."""
    complete = sorted((int(p.parent.name.split("-")[1]), p) for p in (out_dir / "checkpoints").glob("iteration-*/resume"))
    for _, resume in complete[: max(0, len(complete) - keep)]:
        shutil.rmtree(resume, ignore_errors=True)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [key for name in sorted(set(old) | set(new))
                for key in _differences(old.get(name), new.get(name), f"{prefix}{name}.")]
    return [] if old == new else [prefix.rstrip(".")]
