"""A strategy whose decisions come from its own whole-series evaluation: the backtest's speed-up.

`SeriesStrategy` wraps the strategy a run trades and hands the broker loop the same object
shape (`Strategy`). Where the loop asks for an entry or exit decision on a window of candles,
it answers from `Strategy.precompute` over the whole series at that window's last candle: the
strategy computes its indicators once instead of once per cycle. The strategy guarantees both
paths decide the same bit for bit (its own tests), and the backtest's tests compare whole runs
both ways. A window whose last candle is not in the series is decided the ordinary way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nija.models import Candles, Position
from nija.strategy.base import (
    EntryDecision,
    ExitDecision,
    ExitState,
    SeriesEvaluation,
    Strategy,
)

__all__ = ["SeriesStrategy"]


@dataclass(frozen=True, eq=False)  # identity equality: its candles are arrays
class SeriesStrategy:
    """`inner`'s decisions for windows of `candles`, read from its whole-series evaluation."""

    inner: Strategy
    candles: Candles
    _series: list[SeriesEvaluation] = field(default_factory=list, repr=False, compare=False)  # computed on first use

    @property
    def name(self) -> str:
        """The wrapped strategy's registry name."""
        return self.inner.name

    @property
    def params(self) -> Any:
        """The wrapped strategy's parameters."""
        return self.inner.params

    @property
    def candles_needed(self) -> int:
        """Candles per symbol a decision reads."""
        return self.inner.candles_needed

    def _evaluation(self) -> SeriesEvaluation:
        if not self._series:
            self._series.append(self.inner.precompute(self.candles))
        return self._series[0]

    def _index(self, window: Candles | None) -> int | None:
        if window is None or not len(window):
            return None
        return self._evaluation().index_of(float(window.ts[-1]))

    def with_overrides(self, overrides: Mapping[str, object]) -> SeriesStrategy:
        """The same series under changed parameters (evaluated afresh)."""
        return SeriesStrategy(self.inner.with_overrides(overrides), self.candles)

    def with_fee_floor(self, min_take_profit_pct: float) -> SeriesStrategy:
        """The same series with the broker's take-profit fee floor (evaluated afresh)."""
        return SeriesStrategy(self.inner.with_fee_floor(min_take_profit_pct), self.candles)

    def evaluate_entry(self, candles: Candles) -> EntryDecision:
        """The entry decision on the window's last candle."""
        i = self._index(candles)
        return self.inner.evaluate_entry(candles) if i is None else self._evaluation().evaluate_entry(i)

    def evaluate_entries(self, universe: Sequence[Candles]) -> list[EntryDecision]:
        """The entry decision of each window, in order (looked up in the series one by one)."""
        return [self.evaluate_entry(candles) for candles in universe]

    def entry_note(self, decision: EntryDecision) -> str | None:
        """The wrapped strategy's note for the entry order's reason."""
        return self.inner.entry_note(decision)

    def initial_exit_state(self, position: Position, planned_stop: Decimal | None) -> ExitState:
        """The exit state of a position just opened."""
        return self.inner.initial_exit_state(position, planned_stop)

    def state_from_record(self, record: Mapping[str, str | int | None]) -> ExitState:
        """The exit state kept in the store."""
        return self.inner.state_from_record(record)

    def evaluate_exit(
        self, position: Position, state: ExitState, price: Decimal, candles: Candles | None
    ) -> ExitDecision:
        """The exit decision at `price` on the window's last candle."""
        i = self._index(candles)
        if i is None:
            return self.inner.evaluate_exit(position, state, price, candles)
        return self._evaluation().evaluate_exit(i, position, state, price)

    def precompute(self, candles: Candles) -> SeriesEvaluation:
        """The wrapped strategy's evaluation of `candles` (its own series when they are the same)."""
        return self._evaluation() if candles is self.candles else self.inner.precompute(candles)
