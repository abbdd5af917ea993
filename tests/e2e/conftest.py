import os
import shutil
import tempfile
from pathlib import Path

import pytest
from ray_cluster import free_port, ray_start, stop_cluster, stop_stale_clusters

ROOT = Path(__file__).resolve().parents[2]
SHARED_PREFIX = "ray-e2e-"  # then the pid of the pytest process that started it


@pytest.fixture(scope="session", autouse=True)
def shared_ray_cluster():
    """One local Ray cluster (`ray start --head`) that every run and test here joins through RAY_ADDRESS, as a
    run joins the cluster it was submitted to: a run then spends no time starting and stopping a Ray instance
    of its own (15-20 s of a 50 s run on 2 cores). test_online_run's default run starts its own, as a plain
    `python launch.py` does."""
    stop_stale_clusters(SHARED_PREFIX)
    # short: Ray's socket paths must fit 107 bytes
    temp_dir = tempfile.mkdtemp(prefix=f"{SHARED_PREFIX}{os.getpid()}-", dir="/tmp")
    address = f"127.0.0.1:{free_port()}"
    # token authentication off whether or not ~/.ray holds a token (test_two_node_cluster's makes one)
    auth = {"RAY_AUTH_MODE": "disabled"}
    try:
        # the cluster's workers find the project's packages, as those of an instance launch.py starts do
        ray_start(os.environ | auth | {"PYTHONPATH": str(ROOT)}, "--head", f"--port={address.split(':')[1]}",
                  "--include-dashboard=false", f"--temp-dir={temp_dir}",
                  # ports of their own: on Ray's fixed defaults (52365, 10001) another cluster's job agent and
                  # client server would not start (test_two_node_cluster's job submission waits for its agent)
                  f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}")
        with pytest.MonkeyPatch.context() as env:
            for name, value in (auth | {"RAY_ADDRESS": address}).items():
                env.setenv(name, value)
            yield address
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_local():
    """The shared cluster, joined by this test module's process; its workers find the project's packages."""
    import ray

    ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()
