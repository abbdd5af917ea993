"""A remote call that hangs, or whose actor dies, becomes an error that names the actor and the call."""

import time

import pytest

from actors.calls import ActorCallError, wait

pytestmark = pytest.mark.slow


def test_hangs_and_deaths_name_the_actor():
    import ray

    class Sleeper:  # defined here so that Ray ships it by value
        def nap(self, seconds: float) -> str:
            time.sleep(seconds)
            return "rested"

        def die(self) -> None:
            import os

            os._exit(1)

    ray.init()  # the shared cluster (conftest.py)
    try:
        actors = [ray.remote(num_cpus=0)(Sleeper).remote() for _ in range(2)]
        assert wait({"sleeper 0: nap": actors[0].nap.remote(0.1)}, timeout_s=60) == {"sleeper 0: nap": "rested"}
        started = time.monotonic()
        with pytest.raises(ActorCallError, match=r"^sleeper 1: nap did not answer within 2 s"):
            wait({"sleeper 0: nap": actors[0].nap.remote(0.1), "sleeper 1: nap": actors[1].nap.remote(60)}, 2)
        assert time.monotonic() - started < 30
        with pytest.raises(ActorCallError, match="sleeper 0: die: the actor died"):
            wait({"sleeper 0: die": actors[0].die.remote()}, 60)
    finally:
        ray.shutdown()
