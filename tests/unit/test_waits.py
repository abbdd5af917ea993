"""Bounded waits that are never silent (actors/calls.py), on a fake clock and fake Ray calls."""

import logging

import pytest

from actors import calls


class FakeRay:
    """Calls that finish at given fake times; ray.wait advances the clock as a real wait would."""

    def __init__(self, done_at: dict[str, float]):
        self.now, self.done_at = 0.0, done_at

    def monotonic(self):
        return self.now

    def wait(self, pending, num_returns, timeout):
        finish = max(self.done_at[ref] for ref in pending)
        self.now = min(self.now + timeout, finish)
        return [r for r in pending if self.done_at[r] <= self.now], [r for r in pending if self.done_at[r] > self.now]

    def get(self, ref):
        return f"result of {ref}"


@pytest.fixture
def fake(monkeypatch):
    def install(done_at):
        ray = FakeRay(done_at)
        monkeypatch.setattr(calls.time, "monotonic", ray.monotonic)
        monkeypatch.setattr(calls.ray, "wait", ray.wait)
        monkeypatch.setattr(calls.ray, "get", ray.get)
        return ray

    return install


def test_a_long_wait_says_what_it_waits_for_every_minute(fake, caplog):
    fake({"a": 10.0, "b": 150.0})
    with caplog.at_level(logging.INFO, logger="actors.calls"):
        results = calls.wait({"rollout 0: generate": "a", "learner rank 0: train_step": "b"}, timeout_s=1800)
    assert results == {"rollout 0: generate": "result of a", "learner rank 0: train_step": "result of b"}
    notes = [r.getMessage() for r in caplog.records]
    assert notes == ["still waiting for learner rank 0: train_step: 60 s so far (the limit is cluster.call_timeout_s=1800)",
                     "still waiting for learner rank 0: train_step: 120 s so far (the limit is cluster.call_timeout_s=1800)"]


def test_a_call_past_the_limit_is_an_error_naming_the_actor(fake):
    clock = fake({"a": 5000.0})
    with pytest.raises(calls.ActorCallError, match=r"reference: score did not answer within 300 s"):
        calls.wait({"reference: score": "a"}, timeout_s=300)
    assert clock.now == 300


def test_a_rollout_engine_exits_when_its_engine_core_process_dies(monkeypatch):
    """vLLM marks its engine core dead but a waiting generate() never wakes, and a later call raises
    EngineDeadError: either way the actor must exit (Ray then restarts it)."""
    import threading
    from types import SimpleNamespace

    from actors import rollout

    exited = threading.Event()
    monkeypatch.setattr(rollout, "exit_for_restart", exited.set)
    monkeypatch.setattr(rollout, "ENGINE_WATCH_S", 0.01)
    resources = SimpleNamespace(engine_dead=False)
    llm = SimpleNamespace(llm_engine=SimpleNamespace(engine_core=SimpleNamespace(resources=resources)))
    watcher = rollout.exit_when_engine_core_dies(llm)
    assert not exited.wait(0.1)  # alive: nothing happens
    resources.engine_dead = True
    assert exited.wait(5)
    watcher.join(1)
    in_process = SimpleNamespace(llm_engine=SimpleNamespace(engine_core=SimpleNamespace()))
    assert rollout.exit_when_engine_core_dies(in_process) is None

    class EngineDeadError(RuntimeError):  # vLLM's, matched by name
        pass

    @rollout.exits_when_engine_dead
    class Engine:
        def generate(self, error):
            raise error

    exited.clear()
    with pytest.raises(ValueError):
        Engine().generate(ValueError("another error is the caller's"))
    assert not exited.is_set()
    with pytest.raises(EngineDeadError):  # (the real exit never returns)
        Engine().generate(EngineDeadError())
    assert exited.is_set()


class Probe:
    """An actor handle whose node_id call dies a given number of times, then answers."""

    def __init__(self, deaths: int):
        self.deaths, self.node_id = deaths, self

    def remote(self):
        return self


def test_a_dead_actor_ray_does_not_restart_is_an_error_at_once_and_a_restarting_one_is_waited_for(monkeypatch):
    probes = []

    def wait_one(probe, name, timeout_s):
        probes.append(name)
        if probe.deaths:
            probe.deaths -= 1
            raise calls.ActorCallError(f"{name}: the actor died", died=True)
        return "node"

    monkeypatch.setattr(calls, "wait_one", wait_one)
    monkeypatch.setattr(calls.time, "sleep", lambda s: None)
    calls.wait_until_answering({"rollout": Probe(2), "oracle": Probe(0)}, 1800, restartable={"rollout", "oracle"})
    assert probes == ["rollout: node_id"] * 3 + ["oracle: node_id"]
    with pytest.raises(calls.ActorCallError, match="learner: the actor died and Ray does not restart it") as err:
        calls.wait_until_answering({"rollout": Probe(0), "learner": Probe(10**6)}, 1800, restartable={"rollout"})
    assert err.value.died and probes[-2:] == ["rollout: node_id", "learner: node_id"]
