"""Waiting on remote calls with a deadline, so that a hung or dead actor becomes an error that names it."""

from __future__ import annotations

from typing import Any

import ray


class ActorCallError(RuntimeError):
    """A remote call timed out or its actor died; the message names the actor and the call."""


def wait(refs: dict[str, ray.ObjectRef], timeout_s: float) -> dict[str, Any]:
    """The results of calls named by their actor ("rollout engine 1: generate"), all within timeout_s."""
    names = {ref: name for name, ref in refs.items()}
    ready, pending = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    if pending:
        late = ", ".join(names[ref] for ref in pending)
        raise ActorCallError(f"{late} did not answer within {timeout_s:g} s (cluster.call_timeout_s): the actor "
                             "hangs or its node is overloaded; its log is under the Ray session's logs/ folder")
    results = {}
    for name, ref in refs.items():
        try:
            results[name] = ray.get(ref)
        except ray.exceptions.RayActorError as err:
            raise ActorCallError(f"{name}: the actor died; its error follows:\n{err}") from err
    return results


def wait_one(ref: ray.ObjectRef, name: str, timeout_s: float) -> Any:
    return wait({name: ref}, timeout_s)[name]
