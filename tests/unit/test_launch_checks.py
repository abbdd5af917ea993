"""Every bad value is found before Ray starts: launch.main exits 2 with a message naming the key."""

import json
import shutil

import pytest

import launch
from core.config import RunConfig
from core.precision import resolve_precision


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ray.init was called: a check came too late")

    monkeypatch.setattr("ray.init", refuse)


@pytest.mark.parametrize("overrides, message", [
    ("reward.kind=regex reward.pattern=(", "reward.pattern '(' is not a valid regular expression"),
    ("reward.kind=remote reward.url=ftp://host/score", "reward.url must be an http:// or https:// address"),
    ("reward.target_letter=ab", "reward.target_letter must be one letter"),
    ("reward.kind=length reward.target_words=0", "reward.target_words must be positive"),
    ("learner.zero_stage=4", "'learner.zero_stage' is 4; choose one of 'auto', 0, 1, 2, 3"),
    ("reward.kind=function reward.function=no_such_module:score", "No module named 'no_such_module'"),
    ("evaluation.gold=no_such_module:gold", "evaluation.gold: No module named 'no_such_module'"),
    ("train.keep_resume_states=0", "'train.keep_resume_states' must be at least 1"),
    ("learner.lr=-1e-3", "'learner.lr' must be positive"),
    ("learner.micro_batch_size=0", "'learner.micro_batch_size' must be at least 1"),
    ("rollout.temperature=-1", "'rollout.temperature' must be at least 0"),
    ("rollout.max_new_tokens=0", "'rollout.max_new_tokens' must be at least 1"),
    ("cluster.reference.count=2", "cluster.reference.count: one reference actor is supported"),
    ("cluster.learner.tensor_parallel=2", "only vLLM engines (rollout, judge) are tensor-parallel"),
    ("algorithm.name=hinge", "algorithm.name 'hinge' is not registered"),
    ("model.lora.enabled=true model.lora.rank=0", "'model.lora.rank' must be at least 1"),
    ("model.lora.enabled=true model.lora.target_modules=[q_proj,qkv]", "['qkv'] match no linear layer"),
    ("model.lora.enabled=true model.lora.reference=separate model.lora.adapter_path=/tmp",
     "model.lora.adapter_path /tmp: not a PEFT adapter folder"),
])
def test_bad_values_exit_2_before_any_actor_starts(overrides, message, tiny_config, tmp_path, capsys):
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
                        *overrides.split()])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_resume_with_a_changed_config_exits_2_before_any_actor_starts(tiny_config, tmp_path, capsys):
    state = tmp_path / "checkpoints" / "iteration-1" / "resume" / "state.json"
    state.parent.mkdir(parents=True)
    old = RunConfig()
    old.model.tiny.cache_dir = tiny_config.cache_dir
    old.learner.lr = 0.5
    resolve_precision(old)  # a run folder holds the precision the run used, as launch.py resolved it
    state.write_text(json.dumps({"config": old.to_dict(), "state": {}, "records": [], "metrics_bytes": 0}))
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}"])
    assert code == 2
    assert "holds a run with a different config (learner.lr)" in capsys.readouterr().err


def test_a_resume_on_changed_data_exits_2_before_any_actor_starts(tiny_config, tmp_path, capsys):
    state = tmp_path / "checkpoints" / "iteration-1" / "resume" / "state.json"
    state.parent.mkdir(parents=True)
    cfg = launch.load_config(None, [f"model.tiny.cache_dir={tiny_config.cache_dir}"])
    state.write_text(json.dumps({"config": cfg.to_dict(), "data_digest": "0000000000000000", "state": {},
                                 "records": [], "metrics_bytes": 0}))
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}"])
    assert code == 2
    assert "holds a run on other prompt data than data.source toy has now" in capsys.readouterr().err


def test_a_finished_run_says_so_and_starts_nothing(tiny_config, tmp_path, capsys):
    args = ["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}"]
    cfg = launch.load_config(None, args[2:])
    resolve_precision(cfg)  # summary.json holds the precision the run used
    summary = {"config": cfg.to_dict(), "stop_reason": "plateau", "stop_detail": "no new best"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert launch.main(args) == 0
    assert "has already finished (plateau" in capsys.readouterr().out


def test_a_tracking_server_out_of_reach_exits_2_before_any_actor_starts(tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow would retry for minutes
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
                        "logging.trackers=[jsonl,mlflow]", "logging.mlflow_tracking_uri=http://127.0.0.1:9"])
    assert code == 2
    assert "error: opening the trackers of logging.trackers failed" in capsys.readouterr().err


def _damaged_copy(model_path: str, folder) -> str:
    shutil.copytree(model_path, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return str(folder)


@pytest.mark.parametrize("bad_input", ["truncated weights", "lone brace in a judge template", "empty JSONL",
                                       "JSONL with a broken line"])
def test_bad_files_exit_2_before_any_actor_starts(bad_input, tiny_config, tiny_model_path, tmp_path, capsys):
    args = ["--output-dir", str(tmp_path / "run"), f"model.tiny.cache_dir={tiny_config.cache_dir}"]
    if bad_input == "truncated weights":
        args.append(f"model.path={_damaged_copy(tiny_model_path, tmp_path / 'model')}")
        message = "model.safetensors is damaged or incomplete"
    elif bad_input == "lone brace in a judge template":
        (tmp_path / "judge.yaml").write_text("direct: 'Rate {question} {response} from { 0 to 5'\n")
        args += ["reward.kind=self_judge", f"reward.judge.templates={tmp_path / 'judge.yaml'}"]
        message = "'direct' template is not a valid format string"
    else:
        (tmp_path / "p.jsonl").write_text("" if bad_input == "empty JSONL" else '{"prompt": "a"}\n{"prompt": \n')
        args.append(f"data.source={tmp_path / 'p.jsonl'}")
        message = "holds no rows" if bad_input == "empty JSONL" else "line 2 is not valid JSON"
    assert launch.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # found before the run folder was even made


@pytest.mark.parametrize("overrides, native, warned", [
    (["learner.compute_dtype=bfloat16"], False, "learner.compute_dtype bfloat16"),
    (["learner.compute_dtype=bfloat16", "model.dtype=bfloat16"], False, "learner.compute_dtype and model.dtype bfloat16"),
    (["model.dtype=bfloat16", "cluster.rollout.gpus=1"], False, ""),  # vLLM on a GPU: this CPU does not matter
    (["learner.compute_dtype=bfloat16"], True, ""),
    (["learner.compute_dtype=bfloat16"], None, ""),  # an architecture torch cannot tell about
    ([], False, ""),
])
def test_bfloat16_on_a_cpu_that_emulates_it_is_warned_of(overrides, native, warned, monkeypatch, caplog):
    monkeypatch.setattr("core.device.cpu_has_native_bfloat16", lambda: native)
    with caplog.at_level("WARNING", logger="launch"):
        launch._warn_emulated_bfloat16(launch.load_config(None, overrides))
    assert (warned in caplog.text if warned else caplog.text == "")


def test_compiling_without_a_cpp_compiler_exits_2_before_any_actor_starts(tiny_config, tmp_path, capsys, monkeypatch):
    from torch._inductor import cpp_builder, exc

    def no_compiler():
        raise exc.InvalidCxxCompiler

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
                        "learner.compile=true"])
    assert code == 2
    assert "learner.compile on a CPU needs a C++ compiler" in capsys.readouterr().err
    assert launch.main(["--dry-run", "learner.compile=true", "learner.zero_stage=3"]) == 2
    assert "learner.compile is not built for learner.zero_stage 3" in capsys.readouterr().err
