"""learner.compute_dtype and model.dtype auto: bfloat16 where the hardware computes it natively, else float32."""

import json

import pytest

import launch
from core.config import load_config
from core.precision import concrete_dtype, resolve_precision


@pytest.mark.parametrize("overrides, native, compute, serving", [
    ([], True, "bfloat16", "bfloat16"),  # a CPU with AVX512-BF16 or AMX
    ([], False, "float32", "float32"),  # emulated bfloat16 would be slower than float32
    ([], None, "float32", "float32"),  # an architecture torch cannot tell about
    (["cluster.learner.gpus=1", "cluster.rollout.gpus=1"], False, "bfloat16", "bfloat16"),  # GPUs, whatever this CPU
    (["cluster.learner.gpus=1"], False, "bfloat16", "float32"),  # the engines on this CPU
    (["learner.compute_dtype=float32", "cluster.learner.gpus=1"], True, "float32", "bfloat16"),  # as written
    (["model.dtype=float16"], False, "float32", "float16"),
])
def test_auto_follows_where_the_actors_compute(overrides, native, compute, serving, monkeypatch):
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: native)
    cfg = load_config(None, overrides)
    precision = resolve_precision(cfg)
    assert (cfg.learner.compute_dtype, cfg.model.dtype) == (compute, serving)
    assert (precision.compute_dtype, precision.serving_dtype) == (compute, serving)
    chosen = "set in the config" if "learner.compute_dtype=float32" in overrides else "auto: "
    assert precision.reason.startswith(f"learner {compute} ({chosen}")


def test_auto_is_the_default_and_explicit_values_say_so(monkeypatch):
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: False)
    assert (load_config().learner.compute_dtype, load_config().model.dtype) == ("auto", "auto")
    reason = resolve_precision(load_config(None, ["learner.compute_dtype=bfloat16"])).reason
    assert reason.startswith("learner bfloat16 (set in the config); rollout engines float32 (auto: this CPU has no")


def test_a_learner_built_without_launch_resolves_auto_itself(monkeypatch):
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: True)
    assert concrete_dtype("auto", on_gpu=False) == "bfloat16"
    assert concrete_dtype("float32", on_gpu=True) == "float32"
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: False)
    assert concrete_dtype("auto", on_gpu=False) == "float32"
    assert concrete_dtype("auto", on_gpu=True) == "bfloat16"


def test_the_dry_run_says_what_auto_chose(monkeypatch, capsys):
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: True)
    assert launch.main(["--dry-run"]) == 0
    assert "precision: learner bfloat16 (auto: this CPU has bfloat16 instructions" in capsys.readouterr().out


def test_summary_and_model_card_record_the_precision(tmp_path):
    from loop.model_card import model_card
    from loop.state import LoopState
    from loop.summary import write_summary
    from loop.training import LoopResult

    cfg = load_config(None, ["learner.compute_dtype=bfloat16", "model.dtype=float32"])
    precision = resolve_precision(cfg)
    result = LoopResult([], "finished", "", [], 0, 0, 0, 0)
    path = write_summary(tmp_path, cfg, precision, result, {}, {}, "m", {})
    assert json.loads(path.read_text())["precision"] == {"compute_dtype": "bfloat16", "serving_dtype": "float32",
                                                         "reason": precision.reason}
    card = model_card(cfg, LoopState())
    assert ("- Precision: learner.compute_dtype bfloat16 (float32 weights and optimizer), rollout engines model.dtype "
            "float32") in card
