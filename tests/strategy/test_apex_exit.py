"""APEX exits: emergency, stop, the take-profit ladder, breakeven trailing and the EMA cross."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from nija.models import BrokerName, Candles, Position
from nija.strategy.apex import DEFAULT_PARAMS, ExitAction, ExitDecision, evaluate_exit, take_profit_ladder
from nija.strategy.indicators import compute

from .builders import downtrend_arrays, entry_arrays, to_candles

D = Decimal
UPTREND = to_candles(entry_arrays())  # EMA9 > EMA21 at the end: no cross
DOWNTREND = to_candles(downtrend_arrays())  # EMA9 < EMA21 at the end: the cross
UPTREND_ATR = compute(UPTREND).atr[-1]


def position(
    qty: str = "3",
    initial: str = "3",
    entry: str = "100",
    stop: str = "99.5",
    stage: int = 0,
    trailing: str | None = None,
) -> Position:
    """A long bought at 100 with R = 0.5: TP1 100.5, TP2 101, TP3 101.5; emergency at 99."""
    return Position(
        broker=BrokerName.KRAKEN,
        account="master",
        symbol="BTC/USD",
        qty=D(qty),
        initial_qty=D(initial),
        entry_price=D(entry),
        stop_price=D(stop),
        risk_per_unit=D("0.5"),
        tp_stage=stage,
        trailing_stop=None if trailing is None else D(trailing),
        opened_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def exit_at(pos: Position, price: str, candles: Candles | None = UPTREND) -> ExitDecision:
    return evaluate_exit(pos, D(price), candles)


def test_emergency_sells_everything_at_minus_one_percent() -> None:
    decision = exit_at(position(stop="98"), "99")  # exactly -1 %; the stop (98) is not hit
    assert decision.action is ExitAction.EMERGENCY
    assert decision.sell_qty == D("3")
    assert decision.tp_stage == 0 and decision.stop_price == D("98")


def test_emergency_wins_over_stop_trailing_and_take_profit_state() -> None:
    # After TP2, with a trailing stop above the price and the stop at entry: all would fire.
    pos = position(qty="0.75", stage=2, stop="100", trailing="100.4")
    decision = exit_at(pos, "98.7", DOWNTREND)
    assert decision.action is ExitAction.EMERGENCY
    assert decision.sell_qty == D("0.75")


def test_just_above_emergency_is_the_stop() -> None:
    decision = exit_at(position(stop="99.5"), "99.01")
    assert decision.action is ExitAction.STOP
    assert decision.sell_qty == D("3")


def test_stop_fires_at_the_stop_price() -> None:
    assert exit_at(position(), "99.5").action is ExitAction.STOP
    assert exit_at(position(), "99.51").action is ExitAction.NONE


def test_tp1_sells_half_of_initial_and_moves_stop_to_entry() -> None:
    decision = exit_at(position(), "100.5")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("1.5")
    assert decision.tp_stage == 1
    assert decision.stop_price == D("100")
    assert decision.trailing_stop is None


def test_below_tp1_holds() -> None:
    decision = exit_at(position(), "100.49")
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0
    assert decision.tp_stage == 0 and decision.trailing_stop is None  # no trailing before TP1


def test_tp2_sells_a_quarter_of_initial() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100"), "101")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("0.75")
    assert decision.tp_stage == 2
    assert decision.stop_price == D("100")


def test_tp3_sells_the_rest() -> None:
    decision = exit_at(position(qty="0.75", stage=2, stop="100"), "101.5")
    assert decision.action is ExitAction.TAKE_PROFIT
    assert decision.sell_qty == D("0.75")
    assert decision.tp_stage == 3


def test_one_take_profit_per_call_even_past_tp3() -> None:
    decision = exit_at(position(), "110")
    assert decision.tp_stage == 1
    assert decision.sell_qty == D("1.5")


def test_take_profit_is_capped_at_what_is_held() -> None:
    decision = exit_at(position(qty="1"), "100.5")  # TP1 wants 1.5 of the initial 3
    assert decision.sell_qty == D("1")
    assert decision.tp_stage == 1


def test_dust_remainder_is_sold_too() -> None:
    decision = exit_at(position(qty="0.750000000000001", stage=1, stop="100"), "101")
    assert decision.sell_qty == D("0.750000000000001")
    decision = exit_at(position(qty="0.7500001", stage=1, stop="100"), "101")
    assert decision.sell_qty == D("0.75")  # a real remainder stays


def test_trailing_is_set_after_tp1_from_atr() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100"), "100.9")
    expected = D("100.9") - D("1.5") * D(repr(float(UPTREND_ATR)))
    assert decision.action is ExitAction.NONE
    assert decision.trailing_stop == expected
    assert D("100") < decision.trailing_stop < D("100.9")


def test_trailing_never_below_entry() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100"), "100.3")  # 100.3 - 0.62 < entry
    assert decision.trailing_stop == D("100")


def test_trailing_never_lowered() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100", trailing="100.6"), "100.9")
    assert decision.action is ExitAction.NONE
    assert decision.trailing_stop == D("100.6")


def test_trailing_rises_with_price() -> None:
    decision = exit_at(position(qty="0.75", stage=2, stop="100", trailing="100.2"), "101.4")
    assert decision.trailing_stop == D("101.4") - D("1.5") * D(repr(float(UPTREND_ATR)))
    assert decision.trailing_stop > D("100.2")


def test_trailing_fires_without_candles() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100", trailing="100.6"), "100.6", None)
    assert decision.action is ExitAction.TRAILING_STOP
    assert decision.sell_qty == D("1.5")


def test_trailing_ignored_before_tp1() -> None:
    # A stray trailing value on a stage-0 position is not acted upon.
    decision = exit_at(position(trailing="100.4"), "100.3")
    assert decision.action is ExitAction.NONE


def test_ema_cross_sells_everything() -> None:
    decision = exit_at(position(), "100.2", DOWNTREND)
    assert decision.action is ExitAction.EMA_CROSS
    assert decision.sell_qty == D("3")


def test_ema_cross_carries_the_updated_trailing() -> None:
    decision = exit_at(position(qty="1.5", stage=1, stop="100"), "100.9", DOWNTREND)
    assert decision.action is ExitAction.EMA_CROSS
    assert decision.trailing_stop is not None and decision.trailing_stop >= D("100")


def test_no_candles_means_only_price_exits() -> None:
    decision = exit_at(position(), "100.2", None)
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0
    assert "indicator exits skipped" in decision.reason
    decision = exit_at(position(qty="1.5", stage=1, stop="100"), "100.9", None)
    assert decision.trailing_stop is None  # not updated without an ATR


@pytest.mark.parametrize(
    "candles",
    [
        to_candles(downtrend_arrays(99)),  # too short
        to_candles({**downtrend_arrays(), "low": np.where(np.arange(150) == 140, np.nan, downtrend_arrays()["low"])}),
        Candles(*(np.empty(0) for _ in range(6))),
    ],
    ids=["short", "nan", "empty"],
)
def test_missing_or_bad_candles_never_sell(candles: Candles) -> None:
    decision = exit_at(position(), "100.2", candles)
    assert decision.action is ExitAction.NONE
    assert decision.sell_qty == 0


def test_nothing_held_and_bad_price_hold() -> None:
    assert exit_at(position(qty="0"), "90").action is ExitAction.NONE
    decision = exit_at(position(), "NaN")
    assert decision.action is ExitAction.NONE
    assert decision.reason.startswith("invalid price")
    assert exit_at(position(), "0").action is ExitAction.NONE


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
@pytest.mark.parametrize("qty", ["0.0001", "0.5", "1.5", "3"])
@pytest.mark.parametrize("price", ["98", "99.4", "100", "100.5", "101", "101.5", "103"])
def test_sells_never_exceed_held(stage: int, qty: str, price: str) -> None:
    stop = "99.5" if stage == 0 else "100"
    decision = exit_at(position(qty=qty, stage=stage, stop=stop), price, DOWNTREND)
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
    pos = position()  # 1R = 100.5, raised to 100.82 under Kraken's fees
    assert evaluate_exit(pos, D("100.5"), UPTREND, KRAKEN_FLOOR).action is ExitAction.NONE
    decision = evaluate_exit(pos, D("100.82"), UPTREND, KRAKEN_FLOOR)
    assert decision.action is ExitAction.TAKE_PROFIT and decision.sell_qty == D("1.5")
    assert "TP ladder raised" in decision.reason
