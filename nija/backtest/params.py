"""Which strategy a backtest runs and with which parameters (`--strategy`, `--set name=value`).

The strategy registry (`nija.strategy.registry`) is the one list of strategies and each
strategy's `with_overrides` the one parser of its parameters: its frozen parameter object checks
the result, and every refusal is one line naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

from nija.strategy import registry
from nija.strategy.base import ParameterError, Strategy, UnknownStrategy

__all__ = ["ParamError", "parse_assignment", "strategy_for"]


class ParamError(ValueError):
    """An unknown strategy or parameter, or a value its field cannot take; one line."""


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `name=value`; ParamError when there is no `=` or no name."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParamError(f"--set/--sweep takes name=value, was {text!r}")
    return name.strip(), value.strip()


def strategy_for(name: str, overrides: Mapping[str, str]) -> Strategy:
    """The registered strategy `name` with `overrides` (parameter name -> text) applied."""
    try:
        strategy = registry.get(name)
        return strategy.with_overrides(overrides) if overrides else strategy
    except UnknownStrategy as error:
        raise ParamError(str(error)) from None
    except ParameterError as error:
        raise ParamError(f"strategy {name}: {error}") from None
