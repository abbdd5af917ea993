"""The documentation: the site builds with broken links as errors, the configuration reference is the typed
config's, and the README's links and commands work."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import launch
from core.config_help import reference_markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_site_builds_strictly(tmp_path):
    """mkdocs --strict: a broken link or anchor, or a page left out of the nav, fails the build."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "config" / "index.html").is_file()


def test_the_configuration_reference_is_generated_from_the_typed_config():
    page = (ROOT / "docs" / "reference" / "config.md").read_text()
    assert page == reference_markdown() + "\n", "regenerate it: python -m core.config_help > docs/reference/config.md"
    for key in ("learner.compute_dtype", "cluster.gpu_memory_gib", "learner.gradient_checkpointing"):
        assert f"| `{key}` |" in page


def _slug(heading: str) -> str:
    """A heading's anchor as MkDocs and GitHub both make it (for the headings the docs use)."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_the_readmes_links_reach_pages_and_headings():
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", README)
    assert len(links) > 15
    for page, anchor in links:
        text = (ROOT / page).read_text()
        if anchor:
            anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
            assert anchor in anchors, f"README links to {page}#{anchor}, which has no such heading"


def _readme_commands() -> list[str]:
    """The commands of the README's bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split("  #")[0].strip()
            if command:
                commands.append(command)
    return commands


@pytest.mark.parametrize("command", _readme_commands())
def test_the_readmes_commands_run(command, tmp_path):
    """make targets exist; each launch.py command passes its dry run (its config and keys are valid)."""
    words = shlex.split(command)
    if words[0] == "make":
        done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return
    assert words[:2] == ["python", "launch.py"], f"a README command the test does not know how to check: {command}"
    args = [w for w in words[2:] if not w.startswith("--output-dir") and w != "runs/mine"]
    assert launch.main(["--dry-run", *args]) == 0


def test_the_readmes_dry_run_example_runs():
    command = re.search(r"`(python launch.py --dry-run [^`]+)`", README).group(1)
    assert launch.main(shlex.split(command)[2:]) == 0
