"""Indicator wrappers against values worked out by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nija.strategy.indicators import (
    adx,
    atr,
    compute,
    ema,
    macd_hist,
    ratio_to_mean,
    rsi,
    volume_ratio,
    vwap,
)

from .builders import entry_arrays, to_candles


def test_ema_of_a_constant_is_the_constant() -> None:
    values = ema(np.full(60, 7.5), 21)
    assert np.all(np.isnan(values[:20]))
    assert np.allclose(values[20:], 7.5)


def test_ema_is_sma_seeded_then_recursive() -> None:
    # Period 3: seed = mean(1, 2, 3) = 2 at index 2; k = 2 / (3 + 1) = 0.5;
    # then 2 + 0.5 × (4 − 2) = 3 and 3 + 0.5 × (6 − 3) = 4.5.
    values = ema(np.array([1.0, 2.0, 3.0, 4.0, 6.0]), 3)
    assert np.isnan(values[:2]).all()
    assert values[2:].tolist() == pytest.approx([2.0, 3.0, 4.5])


def test_rsi_of_a_strictly_rising_series_is_100() -> None:
    values = rsi(np.arange(1.0, 40.0))
    assert np.isnan(values[:14]).all()
    assert np.allclose(values[14:], 100.0)


def test_rsi_wilder_by_hand() -> None:
    # Period 2 on closes 10, 11, 10, 12: changes +1, −1, +2. First averages (simple) over two
    # changes: gain 0.5, loss 0.5 → RSI 50. Then Wilder: gain (0.5 × 1 + 2) / 2 = 1.25,
    # loss (0.5 × 1 + 0) / 2 = 0.25 → RSI = 100 × 1.25 / 1.5 = 83.33.
    values = rsi(np.array([10.0, 11.0, 10.0, 12.0]), 2)
    assert values[2] == pytest.approx(50.0)
    assert values[3] == pytest.approx(100.0 * 1.25 / 1.5)


def test_macd_histogram_is_zero_on_a_constant_and_positive_on_acceleration() -> None:
    assert np.allclose(macd_hist(np.full(80, 3.0))[33:], 0.0)
    rising = macd_hist(100.0 * np.exp(0.01 * np.arange(80.0)))
    assert np.isnan(rising[:33]).all()  # 26 + 9 − 2 bars of warm-up
    assert (rising[33:] > 0).all()


def test_atr_of_constant_range_candles() -> None:
    close = np.full(30, 50.0)
    values = atr(close + 1.0, close - 1.0, close)
    assert np.isnan(values[:14]).all()
    assert np.allclose(values[14:], 2.0)


def test_atr_counts_gaps_through_the_previous_close() -> None:
    # Range 1, but each close gaps 3 above the previous: true range = high − previous close = 3.5.
    close = 10.0 + 3.0 * np.arange(30.0)
    values = atr(close + 0.5, close - 0.5, close)
    assert values[-1] == pytest.approx(3.5)


def test_adx_high_on_a_clean_trend_low_on_a_flat_series() -> None:
    up = 100.0 + np.arange(60.0)
    assert adx(up + 1.0, up - 1.0, up)[-1] == pytest.approx(100.0)
    zigzag = 100.0 + np.where(np.arange(60) % 2 == 0, 1.0, -1.0)
    assert adx(zigzag + 1.0, zigzag - 1.0, zigzag)[-1] < 20.0
    flat = np.full(60, 100.0)
    assert adx(flat + 1.0, flat - 1.0, flat)[-1] == 0.0


def test_adx_warm_up_is_two_periods() -> None:
    up = 100.0 + np.arange(60.0)
    values = adx(up + 1.0, up - 1.0, up)
    assert np.isnan(values[:27]).all() and not np.isnan(values[27])


def test_vwap_on_three_candles_by_hand() -> None:
    high = np.array([11.0, 12.0, 14.0])
    low = np.array([9.0, 10.0, 10.0])
    close = np.array([10.0, 11.0, 12.0])
    volume = np.array([1.0, 2.0, 1.0])
    # Typical prices 10, 11, 12: VWAP 10; (10 + 22) / 3 = 10.667; (10 + 22 + 12) / 4 = 11.
    assert vwap(high, low, close, volume).tolist() == pytest.approx([10.0, 32.0 / 3.0, 11.0])


def test_vwap_falls_back_to_close_before_any_volume() -> None:
    high = np.array([11.0, 12.0, 14.0])
    low = np.array([9.0, 10.0, 10.0])
    close = np.array([10.5, 11.0, 12.0])
    volume = np.array([0.0, 0.0, 2.0])
    assert vwap(high, low, close, volume).tolist() == pytest.approx([10.5, 11.0, 12.0])


def test_volume_ratio_by_hand() -> None:
    volume = np.array([9.0, 1.0, 1.0, 1.0, 1.0, 6.0])
    assert volume_ratio(volume) == pytest.approx(6.0 / 2.0)  # mean of the last 5 = 2
    assert volume_ratio(volume, 2) == pytest.approx(6.0 / 3.5)
    assert math.isnan(volume_ratio(volume[:3]))
    assert volume_ratio(np.zeros(5)) == 0.0


def test_ratio_to_mean() -> None:
    assert ratio_to_mean([2.0, 4.0, 6.0]) == pytest.approx(1.5)
    assert ratio_to_mean([0.0, 0.0]) == 0.0
    assert math.isnan(ratio_to_mean([]))


def test_compute_matches_the_single_indicators() -> None:
    candles = to_candles(entry_arrays())
    result = compute(candles)
    high, low, close = candles.high, candles.low, candles.close
    np.testing.assert_array_equal(result.ema9, ema(close, 9))
    np.testing.assert_array_equal(result.ema21, ema(close, 21))
    np.testing.assert_array_equal(result.ema50, ema(close, 50))
    np.testing.assert_array_equal(result.rsi, rsi(close))
    np.testing.assert_array_equal(result.macd_hist, macd_hist(close))
    np.testing.assert_array_equal(result.atr, atr(high, low, close))
    np.testing.assert_array_equal(result.adx, adx(high, low, close))
    np.testing.assert_array_equal(result.vwap, vwap(high, low, close, candles.volume))
