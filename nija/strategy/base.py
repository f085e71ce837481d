"""The Strategy protocol the broker loop and the backtest call, and the decisions it returns.

Pure: no I/O, no clock, no state. A strategy is an immutable object holding its frozen
parameters; everything it decides is a function of candles, a position, its exit state and a
price. Its exit state (stop, take-profit stage, trailing stop) changes only by its own decisions
(DESIGN invariant 6).

    Strategy                        what the caller uses it for
    name                            registry key (NIJA_STRATEGY, --strategy)
    params                          its frozen parameter dataclass
    candles_needed                  the daemon fetches at least this many candles per symbol
    with_overrides(mapping)         a copy with parameters changed (--set), validated
    with_fee_floor(fraction)        a copy whose take-profits clear a broker's round trip
    evaluate_entry(candles)         EntryDecision on the last candle
    evaluate_entries(universe)      evaluate_entry of many symbols (the loop's scan, one call)
    entry_note(decision)            text for the entry order's reason (None: nothing to add)
    initial_exit_state(pos, stop)   the exit state of a position just opened
    state_from_record(record)       the exit state the store kept (ExitState.to_record)
    evaluate_exit(pos, st, p, c)    ExitDecision: one action and the state that follows
    precompute(candles)             SeriesEvaluation of a whole series (backtests)

    SeriesEvaluation                decisions of the window ending at candle i, equal bit for bit
    index_of(ts)                    to what the Strategy decides on those candles
    evaluate_entry(i)
    evaluate_exit(i, pos, st, p)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from nija.models import Candles, Position

__all__ = [
    "EntryDecision",
    "ExitAction",
    "ExitDecision",
    "ExitState",
    "ParameterError",
    "SeriesEvaluation",
    "Strategy",
    "UnknownStrategy",
]

_NAN: Final = float("nan")


class ParameterError(ValueError):
    """A strategy parameter override names no parameter or has a value it does not allow."""


class UnknownStrategy(ValueError):
    """No strategy is registered under that name."""


class EntryDecision(NamedTuple):
    """Whether to open a long now, and why; indicator readings are NaN when not computable.

    A named tuple, not a frozen dataclass: one is built for every symbol of every cycle and every
    candle a backtest scans, and a tuple is built three times faster."""

    enter: bool
    reason: str
    score: int = 0  # APEX: enhanced 0–100 score (research note §1.5)
    conditions_met: int = 0  # APEX: legacy 0–5 entry conditions (§1.4)
    adx: float = _NAN
    atr: float = _NAN
    price: float = _NAN  # last close
    stop_price: float = _NAN
    risk_per_unit: float = _NAN  # price − stop_price


class ExitAction(StrEnum):
    """What an exit decision does; NONE still carries stop/trailing updates to persist."""

    NONE = "none"
    EMERGENCY = "emergency"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    EMA_CROSS = "ema_cross"
    KILL_SWITCH = "kill_switch"  # set by the broker loop when its broker is halted, never by a strategy


@dataclass(frozen=True, slots=True)
class ExitState:
    """A strategy's exit state of one position, stored beside it between cycles.

    It changes only by the strategy's own decisions (`ExitDecision.state`): a manual or outside
    sell changes the position's quantity, never the stop, the take-profit stage or the trailing stop.
    """

    stop_price: Decimal
    risk_per_unit: Decimal  # R = entry − initial stop
    initial_qty: Decimal  # base held at entry: the take-profit ladder sells fractions of it
    tp_stage: int = 0  # take-profit levels already taken
    trailing_stop: Decimal | None = None

    def to_record(self) -> dict[str, str | int | None]:
        """The state as plain values (Decimals as text), for the store."""
        return {
            "stop_price": str(self.stop_price), "risk_per_unit": str(self.risk_per_unit),
            "initial_qty": str(self.initial_qty), "tp_stage": self.tp_stage,
            "trailing_stop": None if self.trailing_stop is None else str(self.trailing_stop),
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping[str, str | int | None]) -> ExitState:
        """The state `to_record` wrote."""
        trailing = record.get("trailing_stop")
        return cls(
            stop_price=Decimal(str(record["stop_price"])), risk_per_unit=Decimal(str(record["risk_per_unit"])),
            initial_qty=Decimal(str(record["initial_qty"])), tp_stage=int(record.get("tp_stage") or 0),
            trailing_stop=None if trailing is None else Decimal(str(trailing)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """One exit action, sized in base units held, and the exit state that follows from it:
    persisted at once when nothing is sold, and when its sell fills otherwise."""

    action: ExitAction
    sell_qty: Decimal  # base units, 0 ≤ sell_qty ≤ position.qty
    reason: str
    state: ExitState


@runtime_checkable
class SeriesEvaluation(Protocol):
    """A strategy's decisions for every candle of one series, computed once (see module docstring)."""

    def index_of(self, ts: float) -> int | None:
        """The index of the candle opening at `ts` (epoch ms), None when the series has none."""
        ...

    def evaluate_entry(self, i: int) -> EntryDecision:
        """What `Strategy.evaluate_entry` decides on the candles up to and including candle i."""
        ...

    def evaluate_exit(self, i: int, position: Position, state: ExitState, price: Decimal) -> ExitDecision:
        """What `Strategy.evaluate_exit` decides at `price` with the candles up to candle i."""
        ...


@runtime_checkable
class Strategy(Protocol):
    """Entries, exits and exit state of one trading strategy (see the module docstring)."""

    @property
    def name(self) -> str:
        """The registry name."""
        ...

    @property
    def params(self) -> Any:
        """The frozen parameter dataclass."""
        ...

    @property
    def candles_needed(self) -> int:
        """Candles per symbol a decision reads; fewer means no entry."""
        ...

    def with_overrides(self, overrides: Mapping[str, object]) -> Strategy:
        """A copy with parameters changed; raises ParameterError naming a bad one."""
        ...

    def with_fee_floor(self, min_take_profit_pct: float) -> Strategy:
        """A copy whose take-profit levels each gain at least this fraction of the entry."""
        ...

    def evaluate_entry(self, candles: Candles) -> EntryDecision:
        """Whether to open a long on the last candle; never raises on bad data."""
        ...

    def evaluate_entries(self, universe: Sequence[Candles]) -> list[EntryDecision]:
        """`evaluate_entry` of every candle set, in order (the loop's scan: one call per cycle,
        so a strategy can share work across symbols)."""
        ...

    def entry_note(self, decision: EntryDecision) -> str | None:
        """Anything the entry order's reason should add (APEX: a take-profit ladder raised)."""
        ...

    def initial_exit_state(self, position: Position, planned_stop: Decimal | None) -> ExitState:
        """The exit state of a position just opened."""
        ...

    def state_from_record(self, record: Mapping[str, str | int | None]) -> ExitState:
        """The exit state kept in the store."""
        ...

    def evaluate_exit(
        self, position: Position, state: ExitState, price: Decimal, candles: Candles | None
    ) -> ExitDecision:
        """The one exit action for `position` at `price`; never raises, never sells on missing data."""
        ...

    def precompute(self, candles: Candles) -> SeriesEvaluation:
        """Every decision of a whole series at once, for backtests."""
        ...
