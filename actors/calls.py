"""Waiting on remote calls with a deadline, so that a hung or dead actor becomes an error that names it,
and a long wait is never silent: every PATIENCE_S the driver says what it is still waiting for."""

from __future__ import annotations

import logging
import time
from typing import Any

import ray

log = logging.getLogger(__name__)
PATIENCE_S = 60.0


class ActorCallError(RuntimeError):
    """A remote call timed out or its actor died; the message names the actor and the call."""

    def __init__(self, message: str, died: bool = False):
        super().__init__(message)
        self.died = died  # the actor's process ended (Ray restarts it when it may: cluster.max_restarts)


def wait(refs: dict[str, ray.ObjectRef], timeout_s: float) -> dict[str, Any]:
    """The results of calls named by their actor ("rollout engine 1: generate"), all within timeout_s."""
    names = {ref: name for name, ref in refs.items()}
    pending = list(refs.values())
    started = time.monotonic()
    deadline, next_note = started + timeout_s, started + PATIENCE_S
    while pending:
        now = time.monotonic()
        if now >= deadline:
            late = ", ".join(names[ref] for ref in pending)
            raise ActorCallError(f"{late} did not answer within {timeout_s:g} s (cluster.call_timeout_s): the actor "
                                 "hangs or its node is overloaded; its log is under the Ray session's logs/ folder")
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=min(deadline, next_note) - now)
        if pending and time.monotonic() >= next_note:
            log.info("still waiting for %s: %.0f s so far (the limit is cluster.call_timeout_s=%g)",
                     ", ".join(names[ref] for ref in pending), time.monotonic() - started, timeout_s)
            next_note += PATIENCE_S
    results = {}
    for name, ref in refs.items():
        try:
            results[name] = ray.get(ref)
        except ray.exceptions.RayActorError as err:
            raise ActorCallError(f"{name}: the actor died; its error follows:\n{err}", died=True) from err
    return results


def wait_until_answering(actors: dict[str, ray.actor.ActorHandle], timeout_s: float, restartable: set[str]) -> None:
    """Until every actor answers a cheap call (node_id): an actor Ray is restarting refuses calls meanwhile.
    restartable: the names of the actors Ray restarts; one of the others that died is an error at once."""
    deadline = time.monotonic() + timeout_s
    for name, actor in actors.items():
        while True:
            try:
                wait_one(actor.node_id.remote(), f"{name}: node_id", max(1.0, deadline - time.monotonic()))
                break
            except ActorCallError as err:
                if err.died and name not in restartable:
                    raise ActorCallError(f"{name}: the actor died and Ray does not restart it (the learner, and a "
                                         f"reference model it or an actor of its own holds, keep state a restart "
                                         f"would lose)\n{err}", died=True) from err
                if not err.died or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)


def wait_one(ref: ray.ObjectRef, name: str, timeout_s: float) -> Any:
    return wait({name: ref}, timeout_s)[name]
