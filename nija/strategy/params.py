"""Parameter overrides for any strategy's frozen parameter dataclass (`--set name=value`).

Pure: no I/O, no clock, no state. Text values are parsed by the type of the parameter's
default (whole number, number, comma list of numbers, true/false); the dataclass's own checks
then run, so every error is one `ParameterError` line naming the parameter and what it allows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from nija.strategy.base import ParameterError

__all__ = ["parameter_names", "with_overrides"]

P = TypeVar("P")


def parameter_names(params: object) -> tuple[str, ...]:
    """The names `with_overrides` accepts for `params` (its dataclass fields, in order)."""
    return tuple(field.name for field in dataclasses.fields(params))  # type: ignore[arg-type]


def with_overrides(params: P, overrides: Mapping[str, object]) -> P:
    """A new frozen `params` with `overrides` applied; raises ParameterError on an unknown name or a bad value."""
    names = parameter_names(params)
    changes: dict[str, Any] = {}
    for name, raw in overrides.items():
        if name not in names:
            raise ParameterError(f"unknown parameter {name!r}; known: {', '.join(names)}")
        changes[name] = _parse(name, raw, getattr(params, name))
    try:
        return dataclasses.replace(params, **changes)  # type: ignore[type-var]
    except ParameterError:
        raise
    except (TypeError, ValueError) as exc:  # a dataclass without its own ParameterError checks
        raise ParameterError(f"{', '.join(changes)}: {exc}") from None


def _parse(name: str, raw: object, current: object) -> object:
    # Parse `raw` as the type of the current value; non-text values are taken as they are.
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if isinstance(current, bool):
        if text.lower() not in {"true", "false"}:
            raise ParameterError(f"{name}: must be true or false, was {raw!r}")
        return text.lower() == "true"
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ParameterError(f"{name}: must be a whole number, was {raw!r}") from None
    if isinstance(current, float):
        return _number(name, text, raw)
    if isinstance(current, tuple):
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise ParameterError(f"{name}: must be a comma list of numbers, was {raw!r}")
        return tuple(_number(name, part, raw) for part in parts)
    return text


def _number(name: str, text: str, raw: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"{name}: must be a number, was {raw!r}") from None
    if not math.isfinite(value):
        raise ParameterError(f"{name}: must be a finite number, was {raw!r}")
    return value
