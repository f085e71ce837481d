"""APEX v7.1's frozen parameters: every threshold and window, each checked when built.

Pure: no I/O, no clock, no state. The rule behind each parameter is in `nija.strategy.apex`'s
docstring; the windows (`indicator_window`, `seed_period_minutes`, `vwap_window`) are described
in `nija.strategy.window`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import cached_property
from typing import Final

from nija.strategy.base import ParameterError
from nija.strategy.window import WindowSpec, window_spec

__all__ = ["DEFAULT_PARAMS", "LOW_BARS", "MAX_INDICATOR_WINDOW", "MIN_INDICATOR_WINDOW", "ApexParams", "ExitDecimals"]

LOW_BARS: Final = 20  # §1.5 "20-bar low"; the higher-low test compares its two halves
# MACD(12/26/9) needs 34 candles for its first two histogram values; 60 also covers EMA50, the
# 20-candle structure look-back and a few candles of smoothing. 5000 keeps a fetch sane.
MIN_INDICATOR_WINDOW: Final = 60
MAX_INDICATOR_WINDOW: Final = 5000


@dataclass(frozen=True)
class ApexParams:
    """APEX v7.1 S0 thresholds and windows; see the module docstrings for the rule behind each one."""

    indicator_window: int = 200  # candles from the seed to the decision, at least
    seed_period_minutes: int = 60  # indicators are seeded at the first candle of such a period
    vwap_window: int = 100  # VWAP over the last 100 candles, as the original (§1.2)
    adx_min: float = 20.0
    volume_ratio_min: float = 0.5  # hard gate
    volume_ratio_window: int = 5
    pullback_tolerance: float = 0.005
    rsi_low: float = 30.0
    rsi_high: float = 70.0
    entry_min_conditions: int = 3
    volume_prev_mult: float = 0.6  # volume ≥ 0.6 × mean of the previous 2 candles
    swing_lookback: int = 10
    stop_atr_mult: float = 0.5
    tp_r_multiples: tuple[float, ...] = (1.0, 2.0, 3.0)
    tp_fractions: tuple[float, ...] = (0.5, 0.25, 0.25)  # of the ORIGINAL size; the last sells all
    trailing_atr_mult: float = 1.5
    emergency_loss_pct: float = 0.01  # −1 %
    min_take_profit_pct: float = 0.0  # fraction of entry every TP level must gain (fees + net)

    def __post_init__(self) -> None:
        for name, ok, allowed in _CHECKS:
            if not ok(self):
                raise ParameterError(f"{name}: must be {allowed}, was {getattr(self, name)!r}")
        if len(self.tp_r_multiples) != len(self.tp_fractions):
            raise ParameterError(
                f"tp_r_multiples and tp_fractions must pair up, were {len(self.tp_r_multiples)}"
                f" and {len(self.tp_fractions)} long"
            )

    @cached_property
    def window(self) -> WindowSpec:
        """Which candles a decision reads (computed once: it is read for every decision)."""
        return window_spec(self.indicator_window, self.seed_period_minutes, self.vwap_window)

    @cached_property
    def exit_decimals(self) -> ExitDecimals:
        """The exit parameters as Decimals (converted once: every exit check reads them)."""
        return ExitDecimals(
            emergency_loss_pct=_decimal(self.emergency_loss_pct),
            trailing_atr_mult=_decimal(self.trailing_atr_mult),
            tp_r_multiples=tuple(_decimal(m) for m in self.tp_r_multiples),
            tp_fractions=tuple(_decimal(f) for f in self.tp_fractions),
            min_take_profit_pct=_decimal(self.min_take_profit_pct),
        )


@dataclass(frozen=True, slots=True)
class ExitDecimals:
    """`ApexParams`' exit parameters as Decimals, for arithmetic on prices and quantities."""

    emergency_loss_pct: Decimal
    trailing_atr_mult: Decimal
    tp_r_multiples: tuple[Decimal, ...]
    tp_fractions: tuple[Decimal, ...]
    min_take_profit_pct: Decimal


def _decimal(value: float) -> Decimal:
    # Parameters are written as short decimals (0.5, 0.01): str() keeps them exact.
    return Decimal(str(value))


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _ladder(values: tuple[float, ...], low: float, high: float) -> bool:
    return bool(values) and all(_finite(v) and low < v <= high for v in values)


# (parameter, check, what is allowed): the first failing check is the error.
_CHECKS: Final[tuple[tuple[str, Callable[[ApexParams], bool], str], ...]] = (
    ("indicator_window", lambda p: _whole(p.indicator_window, MIN_INDICATOR_WINDOW, MAX_INDICATOR_WINDOW),
     f"a whole number from {MIN_INDICATOR_WINDOW} to {MAX_INDICATOR_WINDOW}"),
    ("seed_period_minutes", lambda p: _whole(p.seed_period_minutes, 1, 1440),
     "a whole number of minutes from 1 to 1440"),
    ("vwap_window", lambda p: _whole(p.vwap_window, 1, p.indicator_window),
     "a whole number from 1 to indicator_window"),
    ("adx_min", lambda p: _finite(p.adx_min) and 0 <= p.adx_min <= 100, "a number from 0 to 100"),
    ("volume_ratio_min", lambda p: _finite(p.volume_ratio_min) and p.volume_ratio_min >= 0, "a number >= 0"),
    ("volume_ratio_window", lambda p: _whole(p.volume_ratio_window, 1, p.indicator_window),
     "a whole number from 1 to indicator_window"),
    ("pullback_tolerance", lambda p: _finite(p.pullback_tolerance) and 0 <= p.pullback_tolerance < 1,
     "a fraction from 0 to below 1 (0.005 = 0.5 %)"),
    ("rsi_low", lambda p: _finite(p.rsi_low) and 0 <= p.rsi_low <= 100, "a number from 0 to 100"),
    ("rsi_high", lambda p: _finite(p.rsi_high) and p.rsi_low <= p.rsi_high <= 100,
     "a number from rsi_low to 100"),
    ("entry_min_conditions", lambda p: _whole(p.entry_min_conditions, 0, 5), "a whole number from 0 to 5"),
    ("volume_prev_mult", lambda p: _finite(p.volume_prev_mult) and p.volume_prev_mult >= 0, "a number >= 0"),
    ("swing_lookback", lambda p: _whole(p.swing_lookback, 1, p.indicator_window),
     "a whole number from 1 to indicator_window"),
    ("stop_atr_mult", lambda p: _finite(p.stop_atr_mult), "a finite number"),
    ("tp_r_multiples", lambda p: _ladder(p.tp_r_multiples, 0.0, 1000.0),
     "a comma list of R multiples above 0 (e.g. 1,2,3)"),
    ("tp_fractions", lambda p: _ladder(p.tp_fractions, 0.0, 1.0), "a comma list of fractions in (0, 1]"),
    ("trailing_atr_mult", lambda p: _finite(p.trailing_atr_mult) and p.trailing_atr_mult >= 0, "a number >= 0"),
    ("emergency_loss_pct", lambda p: _finite(p.emergency_loss_pct) and 0 < p.emergency_loss_pct < 1,
     "a fraction above 0 and below 1 (0.01 = 1 %)"),
    ("min_take_profit_pct", lambda p: _finite(p.min_take_profit_pct) and 0 <= p.min_take_profit_pct < 1,
     "a fraction from 0 to below 1"),
)  # fmt: skip
assert {name for name, _, _ in _CHECKS} == {f.name for f in fields(ApexParams)}, "every parameter is checked"

DEFAULT_PARAMS: Final = ApexParams()
