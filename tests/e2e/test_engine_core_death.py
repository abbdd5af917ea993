"""rollout.separate_engine_process (vLLM's engine core in a process of its own, as on GPUs): when that process
dies under a rollout engine (the OOM killer's pick), the engine's process exits with a message instead of
waiting forever in generate, so that Ray restarts it (the online run's test covers the restart and retry)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import psutil
from actors.rollout import RolloutEngine
from core.config import RolloutConfig
from core.records import Prompt

if __name__ == "__main__":
    engine = RolloutEngine(sys.argv[1], RolloutConfig(separate_engine_process=True, max_new_tokens=8), "float32", 128, 0)
    cores = [p for p in psutil.Process().children(recursive=True) if "EngineCore" in " ".join(p.cmdline())]
    assert len(cores) == 1, [p.cmdline() for p in psutil.Process().children(recursive=True)]
    print("generated", len(engine.generate([Prompt("p0", "", [5, 60, 70, 6])], 2, 0, 0, 0)), flush=True)
    cores[0].kill()
    engine.generate([Prompt("p0", "", [5, 60, 70, 6])], 2, 0, 0, 1)
    print("generate returned after the engine core died", flush=True)
"""


def test_the_engine_exits_when_its_engine_core_process_dies(tiny_model_path, tmp_path):
    script = tmp_path / "kill_engine_core.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script), tiny_model_path], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env=os.environ | {"PYTHONPATH": str(ROOT), "VLLM_CPU_KVCACHE_SPACE": "1"})
    assert "generated 2" in run.stdout, run.stderr[-3000:]
    assert run.returncode == 1 and "generate returned" not in run.stdout, run.stdout + run.stderr[-3000:]
    assert "vLLM's engine-core process exited unexpectedly" in run.stderr
