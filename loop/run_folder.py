"""One run per run folder: a lock held for the run's lifetime, and a re-run of a finished run that says so.

The lock is an flock on RUN_DIR/.lock: the kernel releases it when the process ends however it ends, so a
killed run never leaves the next one waiting or refused."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from core.config import ConfigError, RunConfig
from loop.state import UNFINISHED

LOCK_FILE = ".lock"


def lock_run_folder(out_dir: Path) -> IO:
    """Hold the folder's lock (keep the returned file open for the run), or a ConfigError naming the holder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = open(out_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(f"{out_dir} is in use by {holder}; wait for it to end, or give this run another "
                          "--output-dir") from None
    handle.truncate(0)
    handle.write(f"process {os.getpid()} on {os.uname().nodename}")
    handle.flush()
    return handle


def finished_run(cfg: RunConfig, out_dir: Path) -> str | None:
    """A message when the folder holds a run that finished with this very config (re-running it would do
    nothing new), else None. Raising train.iterations or changing stopping.* extends a finished run."""
    from loop.report import ReportError, read_summary

    try:
        summary = read_summary(out_dir)
    except ReportError:
        return None
    if summary.get("stop_reason") in UNFINISHED or summary.get("config") != cfg.to_dict():
        return None
    return (f"the run in {out_dir} has already finished ({summary['stop_reason']}: {summary.get('stop_detail', '')}); "
            "nothing to do. To extend it raise train.iterations (or change stopping.*); for a new run give another "
            "--output-dir")
