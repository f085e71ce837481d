"""APEX entry: every gate, filter test and entry condition, broken one at a time on built candles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nija.strategy.apex import DEFAULT_PARAMS, ApexParams, EntryDecision, _score, evaluate_entry
from nija.strategy.indicators import compute

from .builders import (
    Arrays,
    downtrend_arrays,
    entry_arrays,
    pause_hammer_arrays,
    seeded,
    to_candles,
    v_shape_arrays,
)

ALL_FIVE = "5/5 entry conditions (pullback, rsi, candle, macd_rising, volume)"


def decide(arrays: Arrays, params: ApexParams = DEFAULT_PARAMS) -> EntryDecision:
    return evaluate_entry(to_candles(arrays), params)


def test_baseline_enters_on_all_five_conditions() -> None:
    arrays = entry_arrays()
    decision = decide(arrays)
    indicators = compute(seeded(to_candles(arrays)))
    assert decision.enter is True
    assert decision.reason == ALL_FIVE
    assert decision.conditions_met == 5
    assert decision.adx == 100.0  # highs and lows only ever rise: no down-move at all
    assert decision.price == arrays["close"][-1]
    assert decision.atr == pytest.approx(indicators.atr[-1])
    # Stop: lowest low of the last 10 candles minus half an ATR; risk is the distance to it.
    assert decision.stop_price == pytest.approx(arrays["low"][-10:].min() - 0.5 * indicators.atr[-1])
    assert decision.risk_per_unit == pytest.approx(decision.price - decision.stop_price)
    assert 0 < decision.stop_price < decision.price


def test_baseline_score_by_hand() -> None:
    # trend 10 (ADX 100) + 10 (close > EMA9 > EMA21 > EMA50) + 3 (1.7 % above VWAP) = 23;
    # momentum 10 (RSI 55.6, rising) + 10 (histogram > 0, rising) = 20;
    # price action 10 (engulfing) + 10 (0.4 % from EMA21) = 20; volume 5 (ratio 1.0);
    # structure 15 (0.8 % above the 20-candle low) + 5 (higher low) = 20. Total 88.
    assert decide(entry_arrays()).score == 88


def test_insufficient_candles() -> None:
    decision = decide(entry_arrays(260))
    assert decision.enter is False
    assert decision.reason == "insufficient candles (260 < 261)"  # the 261-candle lookback
    assert decision.score == 0 and decision.conditions_met == 0
    assert math.isnan(decision.adx) and math.isnan(decision.stop_price)


def test_exactly_the_lookback_is_enough() -> None:
    assert decide(entry_arrays(261)).enter is True


def test_candles_before_the_lookback_change_nothing() -> None:
    arrays = entry_arrays(400)
    for key in ("open", "high", "low", "close"):
        arrays[key][:139] *= 1.5  # everything before the last 261 candles
    assert decide(arrays) == decide({key: values[139:] for key, values in arrays.items()}
                                    | {"ts": np.arange(139, 400, dtype=np.float64) * 300_000})  # fmt: skip


def test_no_seed_candle_means_no_entry() -> None:
    # Candles 0–100 one second apart inside one hour, then a gap: the seed could only be among
    # candles 39–100 (200–260 back from the last), and their hour started at candle 0.
    arrays = entry_arrays()
    ts = np.arange(300, dtype=np.float64) * 300_000
    ts[:101] = 26_599_000 + np.arange(101, dtype=np.float64) * 1_000  # 07:23:19 to 07:24:59
    decision = decide(arrays | {"ts": ts})
    assert decision.enter is False
    assert decision.reason.startswith("insufficient candles: no 60-minute period starts 200 to 260 candles back")


@pytest.mark.parametrize(
    ("column", "index", "value"),
    [
        ("close", 100, float("nan")),
        ("close", -1, float("nan")),
        ("high", 39, float("inf")),  # the first of the last 261 candles
        ("low", 170, float("-inf")),
        ("open", 80, float("nan")),
        ("open", 80, float("inf")),  # an open feeds no indicator, but it is a price in the window
        ("volume", 140, float("nan")),
        ("volume", 140, float("inf")),
        ("volume", 140, float("-inf")),
    ],
)
def test_non_finite_data_means_no_entry(column: str, index: int, value: float) -> None:
    arrays = entry_arrays()
    arrays[column][index] = value
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == "bad candle data: NaN or infinite value in the window"
    assert decision.score == 0


@pytest.mark.parametrize(("column", "value"), [("open", 0.0), ("close", -1.0), ("low", 0.0), ("high", -5.0)])
def test_non_positive_price_means_no_entry(column: str, value: float) -> None:
    arrays = entry_arrays()
    arrays[column][60] = value
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == f"bad candle data: non-positive price {value:g} in the window"


def test_ragged_arrays_are_bad_data_not_an_exception() -> None:
    arrays = entry_arrays()
    arrays["volume"] = arrays["volume"][:-1]
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason.startswith("bad candle data:")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the point of the test
def test_indicator_not_computable_at_the_last_candle() -> None:
    # Finite prices whose sums overflow: TA-Lib's averages become infinite, never an entry.
    arrays = {key: values * 1e306 if key != "volume" else values for key, values in entry_arrays().items()}
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason.startswith("indicators not computable at the last candle: EMA9, EMA21, EMA50")


def test_adx_gate() -> None:
    flat = np.full(300, 100.0)
    arrays = {"open": flat, "high": flat + 1.0, "low": flat - 1.0, "close": flat, "volume": np.full(300, 10.0)}
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == "ADX 0.0 < 20"
    assert decision.adx == 0.0


def test_volume_ratio_gate() -> None:
    arrays = entry_arrays()
    arrays["volume"][-1] = 10.0  # 10 / mean(100, 100, 100, 100, 10) = 0.12
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == "volume ratio 0.12 < 0.5"


def test_adx_must_be_strictly_above_the_minimum() -> None:
    # The gate is ADX >= min, the uptrend test ADX > min (as in the original): at exactly the
    # minimum the gate passes and the filter refuses.
    decision = decide(entry_arrays(), ApexParams(adx_min=100.0))
    assert decision.adx == 100.0
    assert decision.enter is False
    assert decision.reason == "no uptrend (spot is long-only): ADX not above the minimum"


def test_price_below_vwap_blocks() -> None:
    arrays = entry_arrays(300)
    for key in ("open", "high", "low", "close"):
        arrays[key][-100:-95] *= 1.05  # a heavy-volume spike 100 candles ago drags the VWAP above the price
    arrays["volume"][-100:-95] = 1e7
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == "no uptrend (spot is long-only): price <= VWAP"
    assert decision.conditions_met == 5  # the entry conditions alone would have passed


def test_broken_ema_stack_blocks() -> None:
    decision = decide(v_shape_arrays())
    assert decision.enter is False
    assert decision.reason == "no uptrend (spot is long-only): EMA9 > EMA21 > EMA50 broken"


def test_negative_macd_histogram_blocks() -> None:
    arrays = entry_arrays()
    base = arrays["high"] / 1.002
    arrays["open"][-2] = base[-2] * 1.0006  # a smaller red candle and a smaller rebound:
    arrays["close"][-1] = base[-1] * 1.0008  # the histogram rises but stays below zero
    decision = decide(arrays)
    assert compute(seeded(to_candles(arrays))).macd_hist[-1] < 0
    assert decision.enter is False
    assert decision.reason == "no uptrend (spot is long-only): MACD histogram <= 0"
    assert decision.conditions_met == 5


def test_downtrend_is_no_trade_never_a_short() -> None:
    decision = decide(downtrend_arrays())
    assert decision.enter is False
    assert decision.reason == "no uptrend (spot is long-only): price <= VWAP, EMA9 > EMA21 > EMA50 broken"
    assert decision.adx == 100.0  # a strong trend, but down: spot is long-only


def test_pullback_condition() -> None:
    arrays = entry_arrays()
    arrays["close"][-1] *= 1.006  # 1 % above EMA21, 2.3 % above VWAP
    arrays["high"][-1] = arrays["close"][-1]
    decision = decide(arrays)
    assert decision.conditions_met == 4
    assert decision.reason == "4/5 entry conditions (rsi, candle, macd_rising, volume)"
    assert decision.enter is True


def test_rsi_band_condition() -> None:
    # Baseline RSI is 55.6: a band ending at 55 excludes it.
    decision = decide(entry_arrays(), ApexParams(rsi_high=55.0))
    assert decision.reason == "4/5 entry conditions (pullback, candle, macd_rising, volume)"
    decision = decide(entry_arrays(), ApexParams(rsi_low=56.0))
    assert decision.reason == "4/5 entry conditions (pullback, candle, macd_rising, volume)"


def test_candle_condition_needs_engulfing_or_hammer() -> None:
    arrays = entry_arrays()
    arrays["open"][-1] = arrays["close"][-2] * 1.0001  # opens above the red close: no engulfing
    decision = decide(arrays)
    assert decision.reason == "4/5 entry conditions (pullback, rsi, macd_rising, volume)"


def test_volume_condition_against_the_two_previous_candles() -> None:
    arrays = entry_arrays()
    arrays["volume"][-1] = 55.0  # 0.55 × mean(100, 100): fails the 0.6 rule, passes the 0.5 gate
    decision = decide(arrays)
    assert decision.reason == "4/5 entry conditions (pullback, rsi, candle, macd_rising)"
    arrays["volume"][-1] = 60.0  # exactly 0.6 × the mean passes
    assert decide(arrays).conditions_met == 5


def test_hammer_and_falling_histogram_give_exactly_three() -> None:
    decision = decide(pause_hammer_arrays())
    assert decision.enter is True
    assert decision.reason == "3/5 entry conditions (rsi, candle, volume)"


def test_two_conditions_are_not_enough() -> None:
    arrays = pause_hammer_arrays()
    arrays["low"][-1] = arrays["open"][-1] * 0.9998  # short lower wick: no longer a hammer
    decision = decide(arrays)
    assert decision.enter is False
    assert decision.reason == "2/5 entry conditions < 3 (rsi, volume)"
    assert decision.conditions_met == 2
    assert decision.score > 0  # reported even though it never gates


def test_stop_must_be_below_price() -> None:
    decision = decide(entry_arrays(), ApexParams(stop_atr_mult=-10.0))  # stop above the swing low
    assert decision.enter is False
    assert decision.stop_price >= decision.price
    assert decision.reason.startswith("stop ") and "not below price" in decision.reason


def test_stop_must_be_above_zero() -> None:
    decision = decide(entry_arrays(), ApexParams(stop_atr_mult=1000.0))
    assert decision.enter is False
    assert decision.stop_price < 0
    assert "not above zero" in decision.reason


def test_params_must_pair_take_profits() -> None:
    with pytest.raises(ValueError, match="pair up"):
        ApexParams(tp_r_multiples=(1.0, 2.0), tp_fractions=(0.5, 0.25, 0.25))


def test_score_maximum_is_100() -> None:
    # ADX ≥ 40 (10), close > EMA9 > EMA21 > EMA50 (10), 2.8 % above VWAP (5): trend 25;
    # RSI 50 and rising (10), histogram > 0 and rising (10): momentum 20;
    # engulfing (10), 0.7 % from EMA21 (10): price action 20; ratio 1.6: volume 15;
    # 1.9 % above the 20-candle low (15) and a higher low (5): structure 20.
    score = _score(110.0, 109.5, 109.2, 100.0, 107.0, 45.0, 49.0, 50.0, 0.1, 0.2, 2, 1.6, 108.5, 108.0)
    assert score == 100


def test_score_partial_components() -> None:
    # ADX 45 (10) + close > EMA9 but EMA9 < EMA21 (4) + 4.8 % above VWAP (5) = 19;
    # momentum 20; hammer (8) + 0.5 % from EMA21 (10) = 18; ratio 1.3 (10);
    # 2.8 % above the low (10) + higher low (5) = 15. Total 82.
    score = _score(110.0, 109.0, 109.5, 100.0, 105.0, 45.0, 49.0, 50.0, 0.1, 0.2, 1, 1.3, 108.0, 107.0)
    assert score == 82


def test_score_floor_components() -> None:
    # Weak ADX still earns 2; everything else on the wrong side earns 0.
    score = _score(90.0, 95.0, 96.0, 97.0, 100.0, 10.0, 25.0, 20.0, -0.1, -0.2, 0, 0.1, 80.0, 85.0)
    assert score == 2


@pytest.mark.parametrize(
    ("rsi_prev", "rsi_now", "points"),
    [(50.0, 55.0, 10), (56.0, 55.0, 8), (58.0, 55.0, 5), (30.0, 35.0, 7), (60.0, 75.0, 2), (20.0, 25.0, 0)],
)
def test_score_rsi_table(rsi_prev: float, rsi_now: float, points: int) -> None:
    # Everything else zero except the ADX floor (2); MACD histogram negative and falling.
    score = _score(90.0, 95.0, 96.0, 97.0, 100.0, 10.0, rsi_prev, rsi_now, -0.1, -0.2, 0, 0.1, 80.0, 85.0)
    assert score == 2 + points


@pytest.mark.parametrize(("ratio", "points"), [(1.5, 15), (1.2, 10), (0.8, 5), (0.5, 2), (0.49, 0)])
def test_score_volume_table(ratio: float, points: int) -> None:
    score = _score(90.0, 95.0, 96.0, 97.0, 100.0, 10.0, 25.0, 20.0, -0.1, -0.2, 0, ratio, 80.0, 85.0)
    assert score == 2 + points
