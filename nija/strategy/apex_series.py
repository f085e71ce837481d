"""APEX v7.1 as a `Strategy` object, and its whole-series evaluation for backtests.

Pure: no I/O, no clock, no state beyond immutable inputs and arrays computed once.

`ApexSeries` computes APEX's indicators once over a whole candle series (`window.series_readings`:
TA-Lib once per seed period) and answers, for any candle i, what `evaluate_entry` /
`evaluate_exit` decide on the candles up to i: the same `decide_entry` / `decide_exit` rules,
fed the same numbers, so the decisions are equal bit for bit (tests/strategy prove it on real
and synthetic series). Only where the indicator values come from differs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import ClassVar

import numpy as np

from nija.models import Candles, Position
from nija.strategy.apex import decide_entry, evaluate_entries, evaluate_entry
from nija.strategy.apex_exit import ExitReadings, decide_exit, evaluate_exit, initial_exit_state, take_profit_ladder
from nija.strategy.apex_params import DEFAULT_PARAMS, ApexParams
from nija.strategy.base import EntryDecision, ExitDecision, ExitState
from nija.strategy.params import with_overrides
from nija.strategy.window import bad_window_reason, insufficient_reason, no_seed_reason, series_readings

__all__ = ["ApexSeries", "ApexStrategy"]

_EMA9, _EMA21, _ATR = 0, 1, 7  # columns of Readings used by the exit rules


class ApexSeries:
    """APEX's decisions for every candle of one series (a `SeriesEvaluation`)."""

    def __init__(self, candles: Candles, params: ApexParams = DEFAULT_PARAMS) -> None:
        n = len(candles)
        arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in
                  (candles.open, candles.high, candles.low, candles.close, candles.volume, candles.ts)]  # fmt: skip
        if any(a.shape != (n,) for a in arrays):
            raise ValueError("candle arrays of different lengths")
        self.params = params
        self._spec = params.window
        self._rows = np.stack(arrays[:4])  # open, high, low, close: (4, n), as a checked window's rows
        self._volume, self._ts = arrays[4], arrays[5]
        readings = series_readings(*arrays[:5], arrays[5], self._spec)
        # Python lists: one candle's lookup per decision costs list indexing, not numpy scalars.
        self._bad: list[bool] = readings.bad.tolist()
        self._seed: list[int] = readings.seed.tolist()
        # A candle's Readings fields become floats (its row's tolist) when it is decided on:
        # converting every row up front cost a third of this constructor, for candles mostly
        # never asked about.
        self._values: np.ndarray = readings.values
        self._index: dict[float, int] | None = None

    def __len__(self) -> int:
        return int(self._ts.shape[0])

    def index_of(self, ts: float) -> int | None:
        """The index of the candle opening at `ts` (epoch ms), None when the series has none."""
        if self._index is None:
            self._index = {t: i for i, t in enumerate(self._ts.tolist())}
        return self._index.get(float(ts))

    def evaluate_entry(self, i: int) -> EntryDecision:
        """What `evaluate_entry` decides on the candles up to and including candle i."""
        lookback = self._spec.lookback
        if i + 1 < lookback:
            return EntryDecision(False, insufficient_reason(i + 1, self._spec))
        rows, volume = self._rows[:, i + 1 - lookback : i + 1], self._volume[i + 1 - lookback : i + 1]
        if self._bad[i]:
            return EntryDecision(False, bad_window_reason(rows, volume), price=rows.item(3, -1))
        if self._seed[i] < 0:
            return EntryDecision(False, no_seed_reason(self._spec), price=rows.item(3, -1))
        return decide_entry(self._values[i].tolist(), rows, volume, self.params)

    def exit_readings(self, i: int) -> ExitReadings | None:
        """EMA9, EMA21 and ATR at candle i as `evaluate_exit` reads them; None when it would skip them."""
        if i + 1 < self._spec.lookback or self._bad[i] or self._seed[i] < 0:
            return None
        row = self._values[i].tolist()
        values = (row[_EMA9], row[_EMA21], row[_ATR])
        return values if math.isfinite(sum(values)) else None

    def evaluate_exit(self, i: int, position: Position, state: ExitState, price: Decimal) -> ExitDecision:
        """What `evaluate_exit` decides at `price` with the candles up to candle i."""
        return decide_exit(position, state, price, lambda: self.exit_readings(i), self.params)


@dataclass(frozen=True, slots=True)
class ApexStrategy:
    """APEX v7.1 (canonical S0) behind the `Strategy` protocol; the registry's default."""

    params: ApexParams = DEFAULT_PARAMS
    name: ClassVar[str] = "apex"

    @property
    def candles_needed(self) -> int:
        """Candles per symbol a decision reads (`ApexParams.window.lookback`)."""
        return self.params.window.lookback

    def with_overrides(self, overrides: Mapping[str, object]) -> ApexStrategy:
        """A copy with parameters changed; raises ParameterError naming a bad one."""
        return ApexStrategy(with_overrides(self.params, overrides))

    def with_fee_floor(self, min_take_profit_pct: float) -> ApexStrategy:
        """A copy whose take-profit levels each gain at least this fraction of the entry."""
        return ApexStrategy(replace(self.params, min_take_profit_pct=min_take_profit_pct))

    def evaluate_entry(self, candles: Candles) -> EntryDecision:
        """Whether to open a long on the last candle."""
        return evaluate_entry(candles, self.params)

    def evaluate_entries(self, universe: Sequence[Candles]) -> list[EntryDecision]:
        """`evaluate_entry` for every candle set, in order, checked together."""
        return evaluate_entries(universe, self.params)

    def entry_note(self, decision: EntryDecision) -> str | None:
        """The take-profit ladder's note when the fee floor raised it."""
        ladder = take_profit_ladder(Decimal(repr(decision.price)), Decimal(repr(decision.risk_per_unit)), self.params)
        return ladder.note

    def initial_exit_state(self, position: Position, planned_stop: Decimal | None) -> ExitState:
        """The exit state of a position just opened."""
        return initial_exit_state(position, planned_stop, self.params)

    def state_from_record(self, record: Mapping[str, str | int | None]) -> ExitState:
        """The exit state kept in the store."""
        return ExitState.from_record(record)

    def evaluate_exit(
        self, position: Position, state: ExitState, price: Decimal, candles: Candles | None
    ) -> ExitDecision:
        """The one exit action for `position` at `price`."""
        return evaluate_exit(position, state, price, candles, self.params)

    def precompute(self, candles: Candles) -> ApexSeries:
        """Every decision of a whole series at once."""
        return ApexSeries(candles, self.params)
