"""APEX exits: emergency, stop, the take-profit ladder, breakeven trailing and the EMA cross."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from nija.models import BrokerName, Candles, Position
from nija.strategy.apex import (
    DEFAULT_PARAMS,
    ExitAction,
    ExitDecision,
    ExitState,
    evaluate_exit,
    initial_exit_state,
    take_profit_ladder,
)
from nija.strategy.indicators import compute

from .builders import downtrend_arrays, entry_arrays, seeded, to_candles

D = Decimal
UPTREND = to_candles(entry_arrays())  # EMA9 > EMA21 at the end: no cross
DOWNTREND = to_candles(downtrend_arrays())  # EMA9 < EMA21 at the end: the cross
UPTREND_ATR = compute(seeded(UPTREND)).atr[-1]


def position(qty: str = "3", entry: str = "100") -> Position:
    """A long of `qty` bought at `entry` (100): the accounting side only."""
    return Position(
        broker=BrokerName.KRAKEN,
        account="master",
        symbol="BTC/USD",
        qty=D(qty),
        entry_price=D(entry),
        opened_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def state(
    stop: str = "99.5", stage: int = 0, trailing: str | None = None, initial: str = "3", risk: str = "0.5"
) -> ExitState:
    """By default APEX's state of 3 bought at 100 with R = 0.5: TP1 100.5, TP2 101, TP3 101.5; emergency at 99."""
    return ExitState(
        stop_price=D(stop),
        risk_per_unit=D(risk),
        initial_qty=D(initial),
        tp_stage=stage,
        trailing_stop=None if trailing is None else D(trailing),
    )


def exit_at(pos: Position, st: ExitState, price: str, candles: Candles | None = UPTREND) -> ExitDecision:
    return evaluate_exit(pos, st, D(price), candles)


def test_emergency_sells_everything_at_minus_one_percent() -> None:
    decision = exit_at(position(), state(stop="98"), "99")  # exactly -1 %; the stop (98) is not hit
    assert decision.action is ExitAction.EMERGENCY
    assert decision.sell_qty == D("3")
    assert decision.state.tp_stage == 0 and decision.state.stop_price == D("98")


def test_emergency_wins_over_stop_trailing_and_take_profit_state() -> None:
    # After TP2, with a trailing stop above the price and the stop at entry: all would fire.
    decision = exit_at(position(qty="0.75"), state(stage=2, stop="100", trailing="100.4"), "98.7", DOWNTREND)
    assert decision.action is ExitAction.EMERGENCY
    assert decision.sell_qty == D("0.75")


def test_just_above_emergency_is_the_stop() -> None:
    decision = exit_at(position(), state(stop="99.5"), "99.01")
    assert decision.action is ExitAction.STOP
    assert decision.sell_qty == D("3")


def test_stop_fires_at_the_stop_price() -> None:
    assert exit_at(position(), state(), "99.5").action is ExitAction.STOP
    assert exit_at(position(), state(), "99.51").action is ExitAction.NONE


def test_tp1_sells_half_of_initial_and_moves_stop_to_entry() -> None:
    decision = exit_at(position(), state(), "100.5")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("1.5")
    assert decision.state.tp_stage == 1
    assert decision.state.stop_price == D("100")
    assert decision.state.trailing_stop is None


def test_below_tp1_holds() -> None:
    decision = exit_at(position(), state(), "100.49")
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0
    assert decision.state.tp_stage == 0 and decision.state.trailing_stop is None  # no trailing before TP1


def test_tp2_sells_a_quarter_of_initial() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100"), "101")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("0.75")
    assert decision.state.tp_stage == 2
    assert decision.state.stop_price == D("100")


def test_tp3_sells_the_rest() -> None:
    decision = exit_at(position(qty="0.75"), state(stage=2, stop="100"), "101.5")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("0.75")
    assert decision.state.tp_stage == 3


def test_one_take_profit_per_call_even_past_tp3() -> None:
    decision = exit_at(position(), state(), "110")
    assert decision.state.tp_stage == 1
    assert decision.sell_qty == D("1.5")


def test_take_profit_is_capped_at_what_is_held() -> None:
    decision = exit_at(position(qty="1"), state(), "100.5")  # TP1 wants 1.5 of the initial 3
    assert decision.sell_qty == D("1")
    assert decision.state.tp_stage == 1


def test_dust_remainder_is_sold_too() -> None:
    decision = exit_at(position(qty="0.750000000000001"), state(stage=1, stop="100"), "101")
    assert decision.sell_qty == D("0.750000000000001")
    decision = exit_at(position(qty="0.7500001"), state(stage=1, stop="100"), "101")
    assert decision.sell_qty == D("0.75")  # a real remainder stays


def test_trailing_is_set_after_tp1_from_atr() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100"), "100.9")
    expected = D("100.9") - D("1.5") * D(repr(float(UPTREND_ATR)))
    assert decision.action is ExitAction.NONE
    assert decision.state.trailing_stop == expected
    assert D("100") < decision.state.trailing_stop < D("100.9")


def test_trailing_never_below_entry() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100"), "100.3")  # 100.3 - 0.62 < entry
    assert decision.state.trailing_stop == D("100")


def test_trailing_never_lowered() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100", trailing="100.6"), "100.9")
    assert decision.action is ExitAction.NONE
    assert decision.state.trailing_stop == D("100.6")


def test_trailing_rises_with_price() -> None:
    decision = exit_at(position(qty="0.75"), state(stage=2, stop="100", trailing="100.2"), "101.4")
    assert decision.state.trailing_stop == D("101.4") - D("1.5") * D(repr(float(UPTREND_ATR)))
    assert decision.state.trailing_stop > D("100.2")


def test_trailing_fires_without_candles() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100", trailing="100.6"), "100.6", None)
    assert decision.action is ExitAction.TRAILING_STOP
    assert decision.sell_qty == D("1.5")


def test_trailing_ignored_before_tp1() -> None:
    # A stray trailing value in a stage-0 state is not acted upon.
    decision = exit_at(position(), state(trailing="100.4"), "100.3")
    assert decision.action is ExitAction.NONE


def test_ema_cross_sells_everything() -> None:
    decision = exit_at(position(), state(), "100.2", DOWNTREND)
    assert decision.action is ExitAction.EMA_CROSS
    assert decision.sell_qty == D("3")


def test_ema_cross_carries_the_updated_trailing() -> None:
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100"), "100.9", DOWNTREND)
    assert decision.action is ExitAction.EMA_CROSS
    assert decision.state.trailing_stop is not None and decision.state.trailing_stop >= D("100")


def test_no_candles_means_only_price_exits() -> None:
    decision = exit_at(position(), state(), "100.2", None)
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0
    assert "indicator exits skipped" in decision.reason
    decision = exit_at(position(qty="1.5"), state(stage=1, stop="100"), "100.9", None)
    assert decision.state.trailing_stop is None  # not updated without an ATR


@pytest.mark.parametrize(
    "candles",
    [
        to_candles(downtrend_arrays(99)),  # too short
        to_candles({**downtrend_arrays(), "low": np.where(np.arange(300) == 290, np.nan, downtrend_arrays()["low"])}),
        Candles(*(np.empty(0) for _ in range(6))),
    ],
    ids=["short", "nan", "empty"],
)
def test_missing_or_bad_candles_never_sell(candles: Candles) -> None:
    decision = exit_at(position(), state(), "100.2", candles)
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0


def test_nothing_held_and_bad_price_hold() -> None:
    # A Position holds more than 0 by validation; the defensive branch is reached by skipping it.
    nothing = position().model_copy(update={"qty": D(0)})
    assert exit_at(nothing, state(), "90").action is ExitAction.NONE
    decision = exit_at(position(), state(), "NaN")
    assert decision.action is ExitAction.NONE
    assert decision.reason.startswith("invalid price")
    assert exit_at(position(), state(), "0").action is ExitAction.NONE


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
@pytest.mark.parametrize("qty", ["0.0001", "0.5", "1.5", "3"])
@pytest.mark.parametrize("price", ["98", "99.4", "100", "100.5", "101", "101.5", "103"])
def test_sells_never_exceed_held(stage: int, qty: str, price: str) -> None:
    stop = "99.5" if stage == 0 else "100"
    decision = exit_at(position(qty=qty), state(stage=stage, stop=stop), price, DOWNTREND)
    assert D(0) <= decision.sell_qty <= D(qty)
    assert (decision.sell_qty > 0) == (decision.action is not ExitAction.NONE)


# -- fee floor on the take-profit ladder -----------------------------------------------------------

KRAKEN_FLOOR = replace(DEFAULT_PARAMS, min_take_profit_pct=0.0082)  # 0.62 % round trip + 0.2 % net


def test_a_ladder_below_the_fee_floor_is_raised_keeping_its_ratios() -> None:
    # R = 0.5 on 100: TP1 at +0.5 % would lose money after Kraken's 0.62 % round trip.
    ladder = take_profit_ladder(D(100), D("0.5"), KRAKEN_FLOOR)
    assert ladder.targets == (D("100.82"), D("101.64"), D("102.46"))
    assert ladder.note is not None and "raised" in ladder.note and "0.82%" in ladder.note


def test_a_ladder_above_the_floor_is_untouched() -> None:
    ladder = take_profit_ladder(D(100), D("1.0"), KRAKEN_FLOOR)  # 1R = +1 % > 0.82 %
    assert ladder.targets == (D(101), D(102), D(103)) and ladder.note is None
    coinbase = replace(DEFAULT_PARAMS, min_take_profit_pct=0.016)  # 1.4 % + 0.2 %
    assert take_profit_ladder(D(100), D("1.0"), coinbase).targets[0] == D("101.6")


@pytest.mark.parametrize("broker_floor", [0.0025 + 0.002, 0.0062 + 0.002, 0.014 + 0.002])
def test_every_level_clears_the_floor_for_every_stop_distance(broker_floor: float) -> None:
    params = replace(DEFAULT_PARAMS, min_take_profit_pct=broker_floor)
    for risk in ("0", "0.01", "0.3", "0.7", "2", "9"):
        for target in take_profit_ladder(D(100), D(risk), params).targets:
            assert (target - 100) / 100 >= D(str(broker_floor))


def test_the_exit_waits_for_the_raised_level_and_says_so() -> None:
    pos, st = position(), state()  # 1R = 100.5, raised to 100.82 under Kraken's fees
    assert evaluate_exit(pos, st, D("100.5"), UPTREND, KRAKEN_FLOOR).action is ExitAction.NONE
    decision = evaluate_exit(pos, st, D("100.82"), UPTREND, KRAKEN_FLOOR)
    assert decision.action is ExitAction.TAKE_PROFIT and decision.sell_qty == D("1.5")
    assert "TP ladder raised" in decision.reason


# -- the exit state: where it starts, how it is stored, who moves it --------------------------------


def test_a_planned_stop_below_the_entry_is_kept() -> None:
    st = initial_exit_state(position(qty="3"), D("99.5"))
    assert st == ExitState(stop_price=D("99.5"), risk_per_unit=D("0.5"), initial_qty=D("3"))
    assert st.stop_price == D("99.5") and st.risk_per_unit == D("0.5")  # R = entry − stop
    assert st.initial_qty == D("3") and st.tp_stage == 0 and st.trailing_stop is None


@pytest.mark.parametrize("planned", [None, "100", "100.2", "0"], ids=["none", "at-entry", "above-entry", "zero"])
def test_no_usable_planned_stop_gets_the_emergency_stop(planned: str | None) -> None:
    # A manual buy, or a fill that passed its planned stop: the stop sits 1 % below the entry.
    st = initial_exit_state(position(qty="3"), None if planned is None else D(planned))
    assert DEFAULT_PARAMS.emergency_loss_pct == 0.01
    assert st.stop_price == D("99") and st.risk_per_unit == D("1")
    assert st.initial_qty == D("3") and st.tp_stage == 0 and st.trailing_stop is None


def test_the_fallback_stop_follows_emergency_loss_pct() -> None:
    st = initial_exit_state(position(entry="250"), None, replace(DEFAULT_PARAMS, emergency_loss_pct=0.02))
    assert st.stop_price == D("245") and st.risk_per_unit == D("5")


@pytest.mark.parametrize(
    ("st", "record"),
    [
        (
            ExitState(D("99.50"), D("0.50"), D("0.00012345")),
            {"stop_price": "99.50", "risk_per_unit": "0.50", "initial_qty": "0.00012345", "tp_stage": 0,
             "trailing_stop": None},
        ),
        (
            ExitState(D("100"), D("0.5"), D("3"), 2, D("100.6180339887498948482")),
            {"stop_price": "100", "risk_per_unit": "0.5", "initial_qty": "3", "tp_stage": 2,
             "trailing_stop": "100.6180339887498948482"},
        ),
    ],
    ids=["trailing-none", "trailing-set"],
)
def test_exit_state_round_trips_through_its_record(st: ExitState, record: dict[str, str | int | None]) -> None:
    assert st.to_record() == record  # Decimals as text, digits and trailing zeros kept
    stored = json.loads(json.dumps(record))  # the store keeps it as JSON
    restored = ExitState.from_record(stored)
    assert restored == st
    assert restored.to_record() == record  # exact: the text is the same, not just the value
    for field in ("stop_price", "risk_per_unit", "initial_qty"):
        assert str(getattr(restored, field)) == str(getattr(st, field))
    assert str(restored.trailing_stop) == str(st.trailing_stop)


@pytest.mark.parametrize("price", ["100", "99.5"], ids=["flat", "minus-half-percent"])
def test_a_sell_outside_the_strategy_leaves_its_state_alone(price: str) -> None:
    """Invariant 6: half of the 3 bought was sold by hand; APEX's state is the one from the entry.

    Not a take profit: the stop stays below the entry (no breakeven), the stage stays 0 and nothing
    is sold at the entry price or half a percent under it. The stop is 99.2 (R = 0.8) so that
    −0.5 % (99.5) lies above it.
    """
    before = state(stop="99.2", risk="0.8")
    halved = position(qty="1.5")
    decision = exit_at(halved, before, price)
    assert decision.action is ExitAction.NONE and decision.sell_qty == 0
    assert decision.state == before
    assert decision.state.stop_price == D("99.2") and decision.state.tp_stage == 0
    assert decision.state.initial_qty == D("3") and decision.state.trailing_stop is None


@pytest.mark.parametrize("price", [12345.678, 0.1234, 1.01])
def test_flat_candles_at_a_price_floats_cannot_hold_are_no_ema_cross(price: float) -> None:
    # EMA9 and EMA21 of a constant series are equal; float rounding put EMA9 one ulp below EMA21
    # at such prices, and APEX sold a position on a perfectly flat market.
    n = 150
    flat = to_candles({k: np.full(n, price) for k in ("open", "high", "low", "close")} | {"volume": np.full(n, 100.0)})
    entry = D(str(price))
    held = position(entry=str(entry))
    decision = exit_at(held, state(stop=str(entry * D("0.98"))), str(entry), flat)
    assert decision.action is ExitAction.NONE, decision.reason
