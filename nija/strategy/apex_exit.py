"""APEX v7.1 exits (research note §1.9 S0 with the §1.11 fixes); the rules are listed in
`nija.strategy.apex`'s docstring.

Pure: functions of a position, its exit state, a price and candles; no I/O, no clock, no state.
`decide_exit` holds the rules once; `evaluate_exit` feeds it from a window of candles and a
precomputed series (`nija.strategy.apex_series`) feeds it from whole-series indicator arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from nija.models import Candles, Position
from nija.strategy.apex_params import DEFAULT_PARAMS, ApexParams
from nija.strategy.base import ExitAction, ExitDecision, ExitState
from nija.strategy.window import Rejected, check_window, exit_readings

__all__ = [
    "ExitReadings",
    "TakeProfitLadder",
    "decide_exit",
    "evaluate_exit",
    "initial_exit_state",
    "take_profit_ladder",
]

ExitReadings = tuple[float, float, float]  # EMA9, EMA21, ATR at the last candle
_ZERO: Final = Decimal(0)
# EMA9 below EMA21 by less than this share is float rounding of equal averages (flat candles at a
# price binary floats cannot hold, e.g. 12345.678), not a cross.
_EMA_CROSS_TOLERANCE: Final = 1e-12
# A take-profit remainder at or below this fraction of the initial quantity is dust: sell it too.
_DUST_FRACTION: Final = Decimal("1e-12")


def initial_exit_state(position: Position, planned_stop: Decimal | None, params: ApexParams = DEFAULT_PARAMS) -> ExitState:
    """The exit state of a position just opened: the stop planned with its entry when it lies
    below the average entry, else (a manual buy, a planned stop the fill price passed) one at
    `emergency_loss_pct` below it."""
    entry = position.entry_price
    if planned_stop is None or not 0 < planned_stop < entry:
        planned_stop = entry * (1 - params.exit_decimals.emergency_loss_pct)
    return ExitState(stop_price=planned_stop, risk_per_unit=entry - planned_stop, initial_qty=position.qty)


def evaluate_exit(
    position: Position, state: ExitState, price: Decimal, candles: Candles | None, params: ApexParams = DEFAULT_PARAMS
) -> ExitDecision:
    """Decide the one exit action for `position` at `price` (§1.9 S0); never raises, never sells on missing data."""
    return decide_exit(position, state, price, lambda: _exit_readings(candles, params), params)


def decide_exit(
    position: Position, state: ExitState, price: Decimal, readings: Callable[[], ExitReadings | None],
    params: ApexParams,
) -> ExitDecision:  # fmt: skip
    """The exit rules (§1.9 S0), given how to read EMA9, EMA21 and ATR at the last candle (None:
    no usable candles); the one rule set behind `evaluate_exit` and a precomputed series."""
    held, entry, stop = position.qty, position.entry_price, state.stop_price
    decimals = params.exit_decimals

    def keep(reason: str, trailing: Decimal | None = state.trailing_stop) -> ExitDecision:
        return ExitDecision(ExitAction.NONE, _ZERO, reason, _with_trailing(state, trailing))

    def sell_all(action: ExitAction, reason: str, trailing: Decimal | None = state.trailing_stop) -> ExitDecision:
        return ExitDecision(action, held, reason, _with_trailing(state, trailing))

    if not held > 0:
        return keep("nothing held")
    if not (price.is_finite() and price > 0 and entry > 0):
        return keep(f"invalid price {price} or entry {entry}")
    if price - entry <= -decimals.emergency_loss_pct * entry:  # no division: exact at -1 %
        change = (price - entry) / entry
        return sell_all(ExitAction.EMERGENCY, f"emergency: {change:.2%} <= -{params.emergency_loss_pct * 100:g}%")
    if price <= stop:
        return sell_all(ExitAction.STOP, f"stop: price {price} <= stop {stop}")
    take_profit = _take_profit(position, state, price, params)
    if take_profit is not None:
        return take_profit
    trailing = state.trailing_stop
    if state.tp_stage >= 1 and trailing is not None and price <= trailing:
        return sell_all(ExitAction.TRAILING_STOP, f"trailing stop: price {price} <= {trailing}")

    values = readings()
    if values is None:
        return keep("hold (no usable candles: indicator exits skipped)")
    ema9, ema21, atr_last = values
    if state.tp_stage >= 1:
        # Breakeven trailing (§1.9): never below entry, never lowered.
        raised = price - decimals.trailing_atr_mult * Decimal(repr(atr_last))
        trailing = max(entry, trailing if trailing is not None else entry, raised)
    if ema9 < ema21 - abs(ema21) * _EMA_CROSS_TOLERANCE:
        return sell_all(ExitAction.EMA_CROSS, f"EMA9 {ema9:.8g} < EMA21 {ema21:.8g}", trailing)
    return keep("hold", trailing)


def _with_trailing(state: ExitState, trailing: Decimal | None) -> ExitState:
    # The state itself when the trailing stop stays (most checks): frozen, so as good as a copy.
    return state if trailing is state.trailing_stop else replace(state, trailing_stop=trailing)


@dataclass(frozen=True, slots=True)
class TakeProfitLadder:
    """The take-profit prices of a position, after the fee floor; `note` says if it was raised."""

    targets: tuple[Decimal, ...]
    note: str | None  # None: the R ladder already clears the floor


def take_profit_ladder(entry: Decimal, risk_per_unit: Decimal, params: ApexParams = DEFAULT_PARAMS) -> TakeProfitLadder:
    """TP prices entry + m × R for each R multiple m, scaled up so the lowest gains the floor."""
    decimals = params.exit_decimals
    multiples = decimals.tp_r_multiples
    targets = [entry + m * risk_per_unit for m in multiples]
    floor = decimals.min_take_profit_pct
    if floor <= 0 or entry <= 0 or not multiples:
        return TakeProfitLadder(tuple(targets), None)
    lowest = min(multiples)
    gain = lowest * risk_per_unit / entry
    if gain >= floor:
        return TakeProfitLadder(tuple(targets), None)
    # Scale R so the lowest level gains exactly the floor; a zero R (no stop distance) uses it as 1R.
    unit = floor * entry / lowest
    raised = tuple(entry + m * unit for m in multiples)
    note = f"TP ladder raised: {lowest:g}R = {gain:.2%} < fee floor {floor:.2%}; {lowest:g}R now {floor:.2%}"
    return TakeProfitLadder(raised, note)


def _take_profit(position: Position, state: ExitState, price: Decimal, params: ApexParams) -> ExitDecision | None:
    stage = state.tp_stage
    if stage >= len(params.tp_r_multiples):
        return None
    entry, held, initial = position.entry_price, position.qty, state.initial_qty
    ladder = take_profit_ladder(entry, state.risk_per_unit, params)
    target = ladder.targets[stage]
    if price < target:
        return None
    last = stage == len(params.tp_r_multiples) - 1
    qty = held if last else min(held, params.exit_decimals.tp_fractions[stage] * initial)
    if held - qty <= _DUST_FRACTION * initial:
        qty = held  # a sub-dust remainder could never be sold on its own
    new_stop = max(state.stop_price, entry)  # breakeven from TP1 on (§1.9)
    reason = f"take profit {stage + 1}: price {price} >= {target} ({params.tp_r_multiples[stage]:g}R)"
    if ladder.note:
        reason = f"{reason}; {ladder.note}"
    return ExitDecision(ExitAction.TAKE_PROFIT, qty, reason, replace(state, stop_price=new_stop, tp_stage=stage + 1))


def _exit_readings(candles: Candles | None, params: ApexParams) -> ExitReadings | None:
    # EMA9, EMA21 and ATR at the last candle, or None when the candles cannot be trusted.
    if candles is None:
        return None
    window = check_window(candles, params.window)
    return None if isinstance(window, Rejected) else exit_readings(window)
