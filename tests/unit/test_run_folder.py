import json
import subprocess
import sys
import time

import pytest

from core.config import ConfigError, RunConfig
from loop.run_folder import finished_run, lock_run_folder


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path):
    first = lock_run_folder(tmp_path)
    with pytest.raises(ConfigError, match=r"is in use by process \d+ on .*another --output-dir"):
        lock_run_folder(tmp_path)
    first.close()
    lock_run_folder(tmp_path).close()  # free again once the first run ends


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.'); from pathlib import Path; "
        f"from loop.run_folder import lock_run_folder; h = lock_run_folder(Path({str(tmp_path)!r})); "
        "print('locked', flush=True); time.sleep(600)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ConfigError, match=f"process {holder.pid}"):
        lock_run_folder(tmp_path)
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    lock_run_folder(tmp_path).close()


def test_a_finished_run_with_the_same_config_is_not_run_again(tmp_path):
    cfg = RunConfig()
    assert finished_run(cfg, tmp_path) is None  # nothing there yet
    summary = {"config": cfg.to_dict(), "stop_reason": "iteration_limit", "stop_detail": "ran all 4 iterations"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert "has already finished (iteration_limit" in finished_run(cfg, tmp_path)
    longer = RunConfig()
    longer.train.iterations = 6
    assert finished_run(longer, tmp_path) is None  # extends the run
    (tmp_path / "summary.json").write_text(json.dumps(summary | {"stop_reason": "interrupted"}))
    assert finished_run(cfg, tmp_path) is None  # resumes
