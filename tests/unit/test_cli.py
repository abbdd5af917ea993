"""The installed command, `una-align` (launch.cli): its commands, and the config with every key's meaning."""

import os
from pathlib import Path

import pytest

import launch

ROOT = Path(__file__).resolve().parents[2]


def test_config_prints_every_key_with_its_value_default_and_meaning(capsys):
    assert launch.cli(["config", "--section", "learner", "learner.lr=0.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("learner:  # The DeepSpeed learner")
    assert "  learner.lr = 0.5 (default 0.001)  # AdamW's learning rate" in out
    assert "  learner.zero_stage = 'auto'  # DeepSpeed ZeRO" in out
    assert "model." not in out  # one section
    assert launch.cli(["config"]) == 0
    whole = capsys.readouterr().out
    keys = [line for line in whole.splitlines() if line.startswith("  ")]
    assert all("  # " in line for line in keys), [line for line in keys if "  # " not in line]  # every key explained
    assert "  model.lora.serve = 'adapter'" in whole and "cluster:" in whole


def test_bad_sections_commands_and_keys_are_named(capsys):
    assert launch.cli(["config", "--section", "optimizer"]) == 2
    assert "no config section 'optimizer'; the sections are model, data" in capsys.readouterr().err
    assert launch.cli(["config", "learner.lrr=1"]) == 2
    assert "learner.lrr" in capsys.readouterr().err
    assert launch.cli(["train"]) == 2
    assert "commands:\n  run " in capsys.readouterr().err


def test_run_help_lists_the_config_sections(capsys):
    with pytest.raises(SystemExit):
        launch.cli(["run", "--help"])
    out = capsys.readouterr().out
    assert "config sections" in out and "  stopping    Checks after each iteration's evaluation" in out


def test_dry_run_is_a_command(capsys):
    assert launch.cli(["dry-run", "cluster.rollout.count=2"]) == 0
    out = capsys.readouterr().out
    assert "fits the declared cluster" in out
    assert "learner: 1 rank(s), DeepSpeed ZeRO stage 0 (learner.zero_stage auto" in out
    assert launch.cli(["dry-run", "cluster.learner.count=2", "learner.zero_stage=3"]) == 0
    assert "learner: 2 rank(s), DeepSpeed ZeRO stage 3\n" in capsys.readouterr().out


@pytest.mark.parametrize("verbose", [False, True])
def test_a_first_run_does_not_print_matplotlibs_font_cache_notice(verbose, tmp_path):
    """A fresh matplotlib config folder (a new machine) makes matplotlib build its font cache and log it at INFO."""
    import subprocess
    import sys

    code = (f"from core.console import configure_driver; configure_driver({verbose}); "
            "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; plt.figure()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "MPLCONFIGDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fontlist").exists() or any(tmp_path.glob("fontlist*.json"))  # the cache was built here
    assert "fontManager" not in done.stderr + done.stdout
