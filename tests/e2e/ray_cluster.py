"""Local Ray clusters from `ray start`, for the end-to-end tests: the one every run of the suite joins, and
test_two_node_cluster's head and worker. Stopped by killing their own processes only (`ray stop` would stop
every Ray instance on the machine)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).parent / "ray")


def ray_start(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([RAY, "start", "--disable-usage-stats", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def stop_cluster(temp_dir: str) -> None:
    """Kill the processes of the cluster whose --temp-dir this is (its workers end with its raylet)."""
    mine = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    for process in mine:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(mine, timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
