"""Every bad value is found before Ray starts: launch.main exits 2 with a message naming the key."""

import json

import pytest

import launch
from core.config import RunConfig


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
    ("learner.zero_stage=4", "'learner.zero_stage' is 4; choose one of 0, 1, 2, 3"),
    ("reward.kind=function reward.function=no_such_module:score", "No module named 'no_such_module'"),
    ("evaluation.gold=no_such_module:gold", "evaluation.gold: No module named 'no_such_module'"),
    ("train.keep_resume_states=0", "train.keep_resume_states must be at least 1"),
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
    state.write_text(json.dumps({"config": old.to_dict(), "state": {}, "records": [], "metrics_bytes": 0}))
    code = launch.main(["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}"])
    assert code == 2
    assert "holds a run with a different config (learner.lr)" in capsys.readouterr().err


def test_a_finished_run_says_so_and_starts_nothing(tiny_config, tmp_path, capsys):
    args = ["--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}"]
    cfg = launch.load_config(None, args[2:])
    summary = {"config": cfg.to_dict(), "stop_reason": "plateau", "stop_detail": "no new best"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert launch.main(args) == 0
    assert "has already finished (plateau" in capsys.readouterr().out
