"""How YAML data becomes the typed config (core/config.py): key names, types, choices and number ranges,
each refused with a message that names the key, what it got and what it accepts."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal


class ConfigError(ValueError):
    """A config problem a user can fix; the message names the key and the file."""


@dataclass(frozen=True)
class Range:
    """The numbers a key accepts (a config field typed `Annotated[float, Range(...)]`)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # low itself is refused
    high_open: bool = False

    def accepts(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and not math.isnan(value)

    def describe(self) -> str:
        if self.high == math.inf:
            if self.low == 0 and self.low_open:
                return "positive"
            return f"{'above' if self.low_open else 'at least'} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
AT_LEAST_0 = Range(0)
AT_LEAST_1 = Range(1)
SHARE = Range(0, 1)  # a fraction or probability, both ends allowed
OPEN_SHARE = Range(0, 1, low_open=True)  # (0, 1]: a share that cannot be zero


def apply_override(data: dict[str, Any], item: str) -> None:
    """`section.key=value` (the value read as YAML) set in the nested mapping `data`."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' must look like section.key=value, e.g. train.iterations=2")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
    node[leaf] = yaml.safe_load(raw) if raw != "" else ""


def build(cls: type, data: Any, prefix: str, source: str) -> Any:
    """The dataclass `cls` from a mapping, every key known and every value of its declared type and range."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}'; known keys here: {', '.join(sorted(known))}"
        )
    values = {name: _convert(hints[name], value, f"{prefix}{name}", source) for name, value in data.items()}
    return cls(**values)


def _convert(hint: Any, value: Any, key: str, source: str) -> Any:
    if typing.get_origin(hint) is typing.Annotated:
        converted = _convert(typing.get_args(hint)[0], value, key, source)
        _check_range(hint, converted, key, source)
        return converted
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".", source)
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{source}: '{key}' is {value!r}; choose one of {', '.join(map(repr, allowed))}")
        return value
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        return [_convert(item_type, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: '{key}' must be {hint.__name__}, got {value!r} ({type(value).__name__})")
    return value


def _check_range(hint: Any, value: Any, key: str, source: str) -> None:
    if typing.get_origin(hint) is not typing.Annotated:
        return
    for mark in typing.get_args(hint)[1:]:
        if isinstance(mark, Range) and not mark.accepts(value):
            raise ConfigError(f"{source}: '{key}' must be {mark.describe()}, got {value!r}")
