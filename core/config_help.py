"""Every config key's meaning, read from the one place it is written: the comments beside the typed config's
fields in core/config.py (a section's meaning is its dataclass's docstring). `una-align config` prints them."""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from core.config import RunConfig


@dataclass
class KeyHelp:
    key: str  # dotted, e.g. learner.lr
    value: Any  # in the config given (the default when none is)
    meaning: str


def section_meaning(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return "" if doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())  # dataclass's generated doc: none


def key_help(config: Any, prefix: str = "") -> list[KeyHelp]:
    """The keys of a config object (RunConfig or a section), depth first, with their values and meanings."""
    meanings = _field_comments(type(config))
    rows = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            rows += key_help(value, f"{prefix}{field.name}.")
        else:
            rows.append(KeyHelp(f"{prefix}{field.name}", value, meanings.get(field.name, "")))
    return rows


def format_config(cfg: RunConfig, section: str = "") -> str:
    """The resolved config as YAML-like lines, each key with its meaning; one section when given."""
    names = [f.name for f in dataclasses.fields(cfg)]
    if section and section not in names:
        raise ValueError(f"no config section {section!r}; the sections are {', '.join(names)}")
    defaults = {row.key: row.value for row in key_help(RunConfig())}
    lines = []
    for name in [section] if section else names:
        part = getattr(cfg, name)
        lines.append(f"{name}:" + (f"  # {section_meaning(type(part))}" if section_meaning(type(part)) else ""))
        for row in key_help(part, f"{name}."):
            changed = f" (default {defaults[row.key]!r})" if row.value != defaults[row.key] else ""
            lines.append(f"  {row.key} = {row.value!r}{changed}" + (f"  # {row.meaning}" if row.meaning else ""))
    return "\n".join(lines)


def sections() -> list[tuple[str, str]]:
    """(section, meaning) of every top-level config section, for `una-align run --help`."""
    meanings = _field_comments(RunConfig)
    return [(f.name, section_meaning(type(getattr(RunConfig(), f.name))) or meanings.get(f.name, ""))
            for f in dataclasses.fields(RunConfig)]


def _field_comments(cls: type) -> dict[str, str]:
    """field name -> the comment on its line, after the comment lines right above it."""
    source = inspect.getsource(cls)
    comments = {token.start[0]: token.string.lstrip("# ").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    lines = source.splitlines()
    found = {}
    for number, line in enumerate(lines, start=1):
        match = re.match(r"    (\w+): ", line)
        if not match:
            continue
        above, row = [], number - 1
        while row >= 1 and lines[row - 1].strip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        found[match.group(1)] = " ".join(above + ([comments[number]] if number in comments else []))
    return found
