"""Peak resident memory of this process and the live processes it started (vLLM's engine core), and where it runs."""

from __future__ import annotations

import resource

import psutil


def peak_rss_mb() -> float:
    own_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    children = psutil.Process().children(recursive=True)
    child_rss = 0
    for child in children:
        try:
            child_rss += child.memory_info().rss
        except psutil.Error:  # exited meanwhile
            continue
    return own_peak_kb / 1024 + child_rss / 2**20


class ReportsMemory:
    """Mixin for actor classes: the driver asks each actor for its peak memory and its node for summary.json."""

    def peak_memory_mb(self) -> float:
        return peak_rss_mb()

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()
