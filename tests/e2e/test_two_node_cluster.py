"""A two-node Ray cluster on this machine (a head and a worker from `ray start`, each with its own CPUs and a
custom resource), a short run submitted with `ray job submit`: the plan pins two vLLM engines and the oracle to
the head, two learner ranks and the reference to the worker, and summary.json says where each actor ran."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ray_cluster import RAY, ray_start, stop_cluster

ROOT = Path(__file__).resolve().parents[2]
GCS_PORT, DASHBOARD_PORT = 6391, 8271
pytestmark = pytest.mark.slow


@pytest.fixture
def two_nodes():
    # Ray 2.60's dashboard refuses job submissions without a token.
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, capture_output=True, check=True, timeout=120)
    try:
        ray_start(env, "--head", f"--port={GCS_PORT}", "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
                  "--num-cpus=2", '--resources={"head_node": 1}', f"--temp-dir={temp_dir}")
        ray_start(env, f"--address=127.0.0.1:{GCS_PORT}", "--num-cpus=2", '--resources={"worker_node": 1}')
        yield env
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_submitted_run_places_actors_on_both_nodes(two_nodes, tmp_path, tiny_config):
    out = tmp_path / "run"
    pins = ["cluster.rollout.count=2", "cluster.rollout.node_resource=head_node", "cluster.oracle.node_resource=head_node",
            "cluster.learner.count=2", "cluster.learner.node_resource=worker_node",
            "learner.reference_engine=transformers",  # the reference scorer's own actor, on the other node
            "cluster.reference.node_resource=worker_node", "cluster.call_timeout_s=900",
            "cluster.weight_transport=ray",  # what a real second machine needs (shm reaches one machine)
            "cluster.weight_bucket_mb=1", "train.verify_sync=true",  # the 1.4 MB of weights in two buckets, checked
            "learner.compute_dtype=float32", "model.dtype=float32"]  # exactly: float32 (auto is bfloat16 on some CPUs)
    command = [RAY, "job", "submit", "--address", f"http://127.0.0.1:{DASHBOARD_PORT}", "--working-dir", str(ROOT),
               "--", sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=1", "train.steps_per_iteration=3", "data.toy_eval_prompts=8", *pins]
    deadline = time.time() + 420  # on a busy machine the head's job agent may take minutes to start
    while True:
        run = subprocess.run(command, cwd=ROOT, env=two_nodes, capture_output=True, text=True, timeout=1200)
        if "No available agent to submit job" not in run.stderr or time.time() > deadline:
            break
        time.sleep(5)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "succeeded" in run.stdout.lower()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ray"]["gcs_address"].endswith(f":{GCS_PORT}")  # joined the running cluster, started none
    assert summary["ray"]["nodes"] == "2"
    placement = summary["ray"]["placement"]
    assert set(placement) == {"rollout 0", "rollout 1", "oracle", "learner 0", "learner 1", "reference"}
    head = {placement[name] for name in ("rollout 0", "rollout 1", "oracle")}
    worker = {placement[name] for name in ("learner 0", "learner 1", "reference")}
    assert len(head) == len(worker) == 1 and head != worker  # each group on its node, the two nodes distinct
    assert [row["iteration"] for row in summary["iterations"]] == [0, 1]
    assert summary["iterations"][1]["train_samples"] == 3 * 16 * 4  # both engines' samples, none lost
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    synced = [row["train/sync_max_logprob_diff"] for row in steps if "train/sync_max_logprob_diff" in row]
    assert len(synced) == 3 and max(synced) < 1e-3  # every push through Ray's object store reached the engines
