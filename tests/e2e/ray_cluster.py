"""Local Ray clusters from `ray start`, for the end-to-end tests: the one every run of the suite joins, and
test_two_node_cluster's head and worker. Stopped by killing their own processes only (`ray stop` would stop
every Ray instance on the machine)."""

from __future__ import annotations

import os
import shutil
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
    """Kill the processes of the cluster whose --temp-dir this is and their children (its workers and agents),
    and its client server, whose command line names the GCS's port but not the temp dir (left alone, it lived on
    for minutes after its GCS)."""
    named = [p for p in psutil.process_iter(["cmdline"])
             if temp_dir in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()]
    ports = {arg.split("=", 1)[1] for p in named for arg in p.info["cmdline"] or [] if arg.startswith("--gcs_server_port=")}
    client_servers = [p for p in psutil.process_iter(["cmdline"])
                      if "ray.util.client.server" in (p.info["cmdline"] or [])
                      and any(arg.startswith("--address=") and arg.rsplit(":", 1)[-1] in ports for arg in p.info["cmdline"])]
    mine = {child for p in named for child in _children(p)} | set(named) | set(client_servers)
    for process in mine:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(mine, timeout=30)


def stop_stale_clusters(prefix: str) -> None:
    """Stop the clusters in /tmp/{prefix}{pid}-* whose starting process (pid) is gone: a test session killed
    before it stopped its cluster (`ray start` does not tie the cluster's life to its caller's)."""
    for folder in Path("/tmp").glob(f"{prefix}*"):
        pid = folder.name.removeprefix(prefix).split("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            stop_cluster(str(folder))
            shutil.rmtree(folder, ignore_errors=True)


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
