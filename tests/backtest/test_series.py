"""SeriesStrategy answers from the strategy's whole-series evaluation, and the ordinary way for a
window that is not part of its series."""

from __future__ import annotations

from nija.backtest.series import SeriesStrategy
from nija.backtest.synthetic import synthetic_candles
from nija.brokers.paper.market import candle_window
from nija.strategy import registry


def test_entries_equal_the_strategys_own_per_window_calls() -> None:
    candles = synthetic_candles("SOL/USD", 1200)
    inner = registry.get("apex")
    wrapped = SeriesStrategy(inner, candles).with_fee_floor(0.0072)
    assert wrapped.name == inner.name and wrapped.candles_needed == inner.candles_needed
    floored = inner.with_fee_floor(0.0072)
    window = max(200, inner.candles_needed)
    decisions = [wrapped.evaluate_entry(candle_window(candles, i + 1, window)) for i in range(300, 1200)]
    assert decisions == [floored.evaluate_entry(candle_window(candles, i + 1, window)) for i in range(300, 1200)]
    assert any(d.enter for d in decisions)


def test_a_window_outside_the_series_is_decided_per_window() -> None:
    ours, other = synthetic_candles("SOL/USD", 600), synthetic_candles("ETH/USD", 600, seed=11)
    strategy = registry.get("apex")
    window = candle_window(other, 600, 400)
    shifted = window.__class__(window.ts + 1, window.open, window.high, window.low, window.close, window.volume)
    assert SeriesStrategy(strategy, ours).evaluate_entry(shifted) == strategy.evaluate_entry(shifted)
