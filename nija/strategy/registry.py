"""Strategies by name: what `NIJA_STRATEGY` and the backtest's `--strategy` select.

Pure: a fixed table, no I/O. APEX v7.1 ("apex") is the default. nija/config.py validates
`NIJA_STRATEGY` against `STRATEGY_NAMES` there (config may not import strategy/, same layer);
tests/strategy/test_registry.py keeps the two lists equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from nija.strategy.apex_series import ApexStrategy
from nija.strategy.base import Strategy, UnknownStrategy

__all__ = ["DEFAULT_STRATEGY", "default_strategy", "get", "names"]

DEFAULT_STRATEGY: Final = "apex"
_FACTORIES: Final[dict[str, Callable[[], Strategy]]] = {"apex": ApexStrategy}


def names() -> tuple[str, ...]:
    """Every registered strategy name, the default first."""
    return tuple(sorted(_FACTORIES, key=lambda name: (name != DEFAULT_STRATEGY, name)))


def get(name: str) -> Strategy:
    """The strategy registered as `name` (case and surrounding spaces ignored), with its default parameters.

    Raises UnknownStrategy with one line naming the known strategies.
    """
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {', '.join(names())}")
    return _FACTORIES[key]()


def default_strategy() -> Strategy:
    """APEX v7.1 with its default parameters."""
    return get(DEFAULT_STRATEGY)
