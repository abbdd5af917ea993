"""The same job through `ray job submit` against a `ray start --head` cluster with token authentication."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
GCS_PORT, DASHBOARD_PORT = 6391, 8271
pytestmark = pytest.mark.slow


@pytest.fixture
def ray_cluster():
    # Ray 2.60's dashboard refuses job submissions without a token (ENVIRONMENT.md).
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, capture_output=True, check=True, timeout=120)
    start = subprocess.run([RAY, "start", "--head", f"--port={GCS_PORT}", "--dashboard-host=127.0.0.1",
                            f"--dashboard-port={DASHBOARD_PORT}", "--num-cpus=2", "--disable-usage-stats",
                            f"--temp-dir={temp_dir}"], env=env, capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
    try:
        yield env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=300)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_launch_joins_the_cluster_it_is_submitted_to(ray_cluster, tmp_path, tiny_config):
    out = tmp_path / "run"
    command = [RAY, "job", "submit", "--address", f"http://127.0.0.1:{DASHBOARD_PORT}", "--working-dir", str(ROOT),
               "--", sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=1", "train.steps_per_iteration=3", "data.toy_eval_prompts=8"]
    run = subprocess.run(command, cwd=ROOT, env=ray_cluster, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "succeeded" in run.stdout.lower()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ray"]["gcs_address"].endswith(f":{GCS_PORT}")  # joined the running cluster, started none
    assert [row["iteration"] for row in summary["iterations"]] == [0, 1]
