"""APEX decides the same whatever was fetched, and a whole-series precompute decides like the window.

On the shared real candles (read in place from ../shared/data/candles/, skipped when absent)
and on synthetic series: `evaluate_entry` / `evaluate_exit` on the last 261, 300 or 1000
candles, or on everything up to a candle, give the same decision; `ApexSeries` gives, for every
candle, the decision of the window ending there. Decisions are compared by `repr`, which spells
every float exactly (NaN and −0.0 included): equal means bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from nija.models import BrokerName, Candles, Position
from nija.strategy.apex import DEFAULT_PARAMS, ApexParams, evaluate_entry, evaluate_exit
from nija.strategy.apex_series import ApexSeries
from nija.strategy.base import ExitState
from nija.strategy.window import CheckedWindow, check_window, exit_readings
from tests.conftest import shared_candles_dir

EXTRA = (0, 39, 739)  # candles fetched beyond the lookback: none (261 with the defaults), 300, 1000
FIVE_MINUTES_MS = 300_000


def real_files() -> list[Path]:
    """The shared candle files, or none when the directory is missing."""
    folder = shared_candles_dir()
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def load(path: Path) -> Candles:
    """A shared candle file (timestamp, open, high, low, close, volume), read where it lies."""
    return Candles.from_rows(np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2))


def synthetic(seed: int, n: int = 3000, step_ms: int = FIVE_MINUTES_MS) -> Candles:
    """A seeded random walk with gaps in time, an off-grid start and one bad candle."""
    rng = np.random.default_rng(seed)
    close = 37.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.002, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.002, n)))
    volume = rng.lognormal(3.0, 1.0, n)
    volume[rng.integers(0, n, 20)] = 0.0  # candles where nothing traded
    steps = np.where(rng.random(n) < 0.02, step_ms * rng.integers(2, 30, n), step_ms)  # gaps up to 2.5 h
    ts = 1_700_000_123_000 + np.cumsum(steps).astype(np.float64)
    low[n // 2] = np.nan  # one bad candle: no decision while it is in the lookback
    return Candles(ts, open_, high, low, close, volume)


def prefix(candles: Candles, end: int, count: int | None = None) -> Candles:
    """The `count` candles ending at index `end` (all up to it when None): what a fetch returns."""
    start = 0 if count is None else max(0, end + 1 - count)
    return Candles(*(a[start : end + 1] for a in (candles.ts, candles.open, candles.high, candles.low,
                                                   candles.close, candles.volume)))  # fmt: skip


def position(entry: float, qty: str = "2") -> Position:
    """A long bought at `entry`."""
    return Position(
        broker=BrokerName.KRAKEN, account="master", symbol="ETH/BTC", qty=Decimal(qty),
        entry_price=Decimal(repr(entry)), opened_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def exit_cases(candles: Candles, i: int) -> Iterator[tuple[Position, ExitState, Decimal]]:
    """Positions and states that reach the indicator exits (EMA cross, trailing) at candle i."""
    price = float(candles.close[i])
    entry = Decimal(repr(price * 0.999))
    held = position(price * 0.999)
    yield held, ExitState(entry * Decimal("0.99"), entry * Decimal("0.01"), Decimal(2)), Decimal(repr(price))
    after_tp1 = ExitState(entry, entry * Decimal("0.01"), Decimal(4), tp_stage=1, trailing_stop=entry)
    yield held, after_tp1, Decimal(repr(price))


def assert_windows_agree(candles: Candles, ends: range, params: ApexParams = DEFAULT_PARAMS) -> int:
    """Every fetch size decides like the whole history at each end; returns the entries seen."""
    entries = 0
    counts = [params.window.lookback + extra for extra in EXTRA]
    for i in ends:
        whole = evaluate_entry(prefix(candles, i), params)
        for count in counts:
            assert repr(evaluate_entry(prefix(candles, i, count), params)) == repr(whole), (i, count)
        for held, state, price in exit_cases(candles, i):
            expected = repr(evaluate_exit(held, state, price, prefix(candles, i), params))
            for count in counts:
                assert repr(evaluate_exit(held, state, price, prefix(candles, i, count), params)) == expected
        entries += whole.enter
    return entries


def assert_series_agrees(candles: Candles, ends: range, params: ApexParams = DEFAULT_PARAMS) -> int:
    """`ApexSeries` decides like the window ending at each candle; returns the entries seen."""
    series = ApexSeries(candles, params)
    entries = 0
    for i in ends:
        window = prefix(candles, i, params.window.lookback + 5)
        decision = series.evaluate_entry(i)
        assert repr(decision) == repr(evaluate_entry(window, params)), i
        checked = check_window(window, params.window)
        expected = exit_readings(checked) if isinstance(checked, CheckedWindow) else None
        assert repr(series.exit_readings(i)) == repr(expected), i
        for held, state, price in exit_cases(candles, i):
            expected_exit = evaluate_exit(held, state, price, window, params)
            assert repr(series.evaluate_exit(i, held, state, price)) == repr(expected_exit), i
        entries += decision.enter
    return entries


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.stem)
def test_fetch_size_changes_no_decision_on_real_candles(path: Path) -> None:
    candles = load(path)
    ends = range(1000, len(candles), 37)  # every 37th candle once 1000 are available
    assert_windows_agree(candles, ends)


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.stem)
def test_the_precompute_decides_like_the_window_on_real_candles(path: Path) -> None:
    candles = load(path)
    entries = assert_series_agrees(candles, range(len(candles)))  # every candle, the first ones included
    assert entries > 0, "a whole file of real candles has entry signals"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fetch_size_changes_no_decision_on_synthetic_candles(seed: int) -> None:
    candles = synthetic(seed)
    assert_windows_agree(candles, range(1000, len(candles), 11))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_precompute_decides_like_the_window_on_synthetic_candles(seed: int) -> None:
    candles = synthetic(seed)
    series = ApexSeries(candles)
    assert series.evaluate_entry(len(candles) // 2).reason == "bad candle data: NaN or infinite value in the window"
    assert_series_agrees(candles, range(len(candles)))


def test_the_precompute_follows_overridden_windows() -> None:
    params = ApexParams(indicator_window=120, seed_period_minutes=240, vwap_window=50, adx_min=10.0)
    candles = synthetic(4, n=2500)
    entries = assert_series_agrees(candles, range(len(candles)), params)
    assert entries > 0
    assert_windows_agree(candles, range(1000, len(candles), 53), params)


def test_one_minute_candles_find_their_seed() -> None:
    candles = synthetic(5, n=1500, step_ms=60_000)
    assert_series_agrees(candles, range(len(candles)))
    assert evaluate_entry(prefix(candles, 400, 261)).reason != evaluate_entry(prefix(candles, 400, 260)).reason
