"""Where APEX's indicators start, so a decision never depends on how many candles were fetched,
and the same TA-Lib values for one window (the daemon) or every candle of a series (a backtest).

Pure: float64 arrays in, floats or arrays out; no I/O, no clock, no state.

A decision at candle i reads the last `lookback` candles (261 by default), never more:
  * Seed: TA-Lib's recursive indicators (EMA, MACD, RSI, ATR, ADX) start at a SEED candle, the
    latest first candle of a clock period (`seed_period_minutes`, 60: the first candle of an
    hour) that lies at least `indicator_window` (200) candles before i, inclusive of i, and whose
    previous candle is among the `lookback` ones (a period's first candle is known by its
    predecessor being in an earlier period). `lookback` = `indicator_window` +
    `seed_period_minutes` + 1 holds a period start for any timeframe of a minute or more.
    No seed there (a gap longer than the period) means no decision: "insufficient candles".
  * TA-Lib then runs on the candles from the seed to i, 200 to 200 + period − 1 of them. Its
    warm-up inside them: EMA(p) p − 1 candles; RSI(14) and ATR(14) 14; MACD(12/26/9) 33;
    ADX(14) 27. EMA50's seed still weighs (49/51)^150 ≈ 0.25 % after 200 candles.
  * VWAP: Σ((high + low + close) × volume) / (3 × Σ volume) over the last `vwap_window` (100)
    candles (the original's 100-candle fetch, research note §1.2), summed in order; the close
    when nothing traded.
  * Data checks cover all `lookback` candles. Open times must increase (venues and the
    backtest's loader guarantee it): the seed is looked up by time.

Why a clock-aligned seed and not "the last N candles": a recursive indicator started at a
different candle for every i would need seven TA-Lib runs per candle in a backtest (≈ 20 µs,
two seconds per symbol-year of 5-minute candles before any rule runs). With a seed shared by
every candle of a period, `series_readings` runs TA-Lib once per period and reads each candle's
value where the daemon would: bit for bit the same numbers, because TA-Lib's output at a candle
depends only on the candles before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np

from nija.models import Candles
from nija.strategy.indicators import (
    ADX_PERIOD,
    ATR_PERIOD,
    EMA_FAST,
    EMA_MID,
    EMA_SLOW,
    MACD_FAST,
    MACD_SIGNAL,
    MACD_SLOW,
    RSI_PERIOD,
    TA_ADX,
    TA_ATR,
    TA_EMA,
    TA_MACD,
    TA_RSI,
    adx,
    atr,
    ema,
    macd_hist,
    rsi,
)

__all__ = [
    "MINUTE_MS",
    "CheckedWindow",
    "Rejected",
    "Readings",
    "SeriesReadings",
    "WindowSpec",
    "bad_window_reason",
    "check_window",
    "check_windows",
    "exit_readings",
    "insufficient_reason",
    "no_seed_reason",
    "readings",
    "series_readings",
    "window_spec",
]

MINUTE_MS: Final = 60_000


class WindowSpec(NamedTuple):
    """Which candles a decision reads (see the module docstring); build it with `window_spec`."""

    indicator_window: int  # at least this many candles from the seed to the last candle
    seed_period_minutes: int  # the seed is the first candle of such a clock period
    vwap_window: int  # VWAP over this many last candles
    lookback: int  # candles a decision reads: the window plus room to find a period's first candle
    period_ms: int  # the seed period in milliseconds


def window_spec(indicator_window: int, seed_period_minutes: int, vwap_window: int) -> WindowSpec:
    """The window of these parameters, its derived sizes filled in."""
    lookback = indicator_window + seed_period_minutes + 1
    return WindowSpec(indicator_window, seed_period_minutes, vwap_window, lookback, seed_period_minutes * MINUTE_MS)


class Readings(NamedTuple):
    """Indicator values at the last candle (NaN where TA-Lib has none yet)."""

    ema9: float
    ema21: float
    ema50: float
    rsi_prev: float
    rsi: float
    hist_prev: float  # MACD histogram at the candle before the last (same seed)
    hist: float
    atr: float
    adx: float
    vwap: float


class CheckedWindow(NamedTuple):
    """The last `lookback` candles, checked: prices as a (4, n) C-contiguous float64 matrix
    (open, high, low, close), volumes, the index of the seed candle among them, and the VWAP
    at the last candle."""

    rows: np.ndarray
    volume: np.ndarray
    seed: int
    vwap: float


class Rejected(NamedTuple):
    """Why no decision can be made on a window; `price` is its last close when there is one."""

    reason: str
    price: float = math.nan


def check_window(candles: Candles, spec: WindowSpec) -> CheckedWindow | Rejected:
    """The checked lookback window of `candles`, or why no decision can be made on them."""
    return check_windows((candles,), spec)[0]


def check_windows(universe: Sequence[Candles], spec: WindowSpec) -> list[CheckedWindow | Rejected]:
    """`check_window` of every candle set in `universe`, in order.

    The daemon checks every symbol of every cycle: the windows are copied into one
    (symbols, 6, lookback) matrix (open, high, low, close, volume, open time) and each check is one
    numpy call over all of them, so a symbol costs a few slices, not a dozen numpy calls.
    """
    checked: list[CheckedWindow | Rejected | None] = [None] * len(universe)
    lookback = spec.lookback
    stacked: list[int] = []  # indexes of the windows in the matrix, in its order
    parts: list[np.ndarray] = []
    for k, candles in enumerate(universe):
        close = candles.close
        n = close.shape[0]
        if n < lookback:
            checked[k] = Rejected(insufficient_reason(n, spec))
        elif not (candles.open.shape == candles.high.shape == candles.low.shape == candles.volume.shape
                  == candles.ts.shape == close.shape):  # fmt: skip
            checked[k] = Rejected("bad candle data: arrays of different lengths")
        else:
            stacked.append(k)
            start = n - lookback
            parts += (candles.open[start:], candles.high[start:], candles.low[start:], close[start:],
                      candles.volume[start:], candles.ts[start:])  # fmt: skip
    if stacked:
        matrix = _stack(parts, stacked, checked, lookback)
        _check_stacked(matrix, [k for k in stacked if checked[k] is None], checked, spec)
    return checked  # type: ignore[return-value]  # every entry is set above


def _stack(
    parts: list[np.ndarray], stacked: list[int], checked: list[CheckedWindow | Rejected | None], lookback: int
) -> np.ndarray:
    # One copy of every window; when one holds non-numeric values, each alone, to name which.
    try:
        return np.concatenate(parts, dtype=np.float64).reshape(len(stacked), 6, lookback)
    except (ValueError, TypeError):
        pass
    good: list[np.ndarray] = []
    for position, k in enumerate(stacked):
        try:
            good.append(np.concatenate(parts[6 * position : 6 * position + 6], dtype=np.float64))
        except (ValueError, TypeError) as exc:  # non-numeric values are bad data
            checked[k] = Rejected(f"bad candle data: {exc}")
    return np.concatenate(good).reshape(len(good), 6, lookback) if good else np.empty((0, 6, lookback))


def _check_stacked(
    matrix: np.ndarray, order: list[int], checked: list[CheckedWindow | Rejected | None], spec: WindowSpec
) -> None:
    # Data checks, seeds and VWAP of every window at once; `order[j]` is the window in row j.
    rows, volume = matrix[:, :4], matrix[:, 4]
    with np.errstate(invalid="ignore"):
        # A NaN price makes min() NaN, and a comparison with NaN is False.
        good = (rows.min(axis=(1, 2)) > 0.0) & np.isfinite(matrix[:, :5]).all(axis=(1, 2))
    seeds = _seeds(matrix[:, 5, : spec.lookback - spec.indicator_window + 1], spec.period_ms).tolist()
    vwaps = _vwaps(matrix, spec.vwap_window).tolist()
    for j, (k, ok, seed) in enumerate(zip(order, good.tolist(), seeds, strict=True)):
        if not ok:
            checked[k] = Rejected(bad_window_reason(rows[j], volume[j]), rows.item(j, 3, -1))
        elif seed < 1:
            checked[k] = Rejected(no_seed_reason(spec), rows.item(j, 3, -1))
        else:
            checked[k] = CheckedWindow(rows[j], volume[j], seed, vwaps[j])


def insufficient_reason(count: int, spec: WindowSpec) -> str:
    """Why `count` candles are too few."""
    return f"insufficient candles ({count} < {spec.lookback})"


def bad_window_reason(rows: np.ndarray, volume: np.ndarray) -> str:
    """Name what is wrong in a window holding a NaN, an infinite value or a price ≤ 0."""
    if not (np.isfinite(rows).all() and np.isfinite(volume).all()):
        return "bad candle data: NaN or infinite value in the window"
    return f"bad candle data: non-positive price {rows.min():g} in the window"


def no_seed_reason(spec: WindowSpec) -> str:
    """Why a window without a seed candle decides nothing."""
    return (
        f"insufficient candles: no {spec.seed_period_minutes}-minute period starts"
        f" {spec.indicator_window} to {spec.lookback - 1} candles back (a gap in the data)"
    )


def exit_readings(window: CheckedWindow) -> tuple[float, float, float] | None:
    """EMA9, EMA21 and ATR at the last candle of a checked window; None when not all are finite."""
    high, low, close = (window.rows[k, window.seed :] for k in (1, 2, 3))
    values = (ema(close, EMA_FAST).item(-1), ema(close, EMA_MID).item(-1), atr(high, low, close).item(-1))
    return values if math.isfinite(sum(values)) else None


def _seeds(ts: np.ndarray, period_ms: int) -> np.ndarray:
    """Per window (row): the seed candle's index among its last `lookback` candles, given the open
    times of the first `lookback − indicator_window + 1` of them (the only ones a seed can be);
    below 1 when there is none.

    Open times increase (venues and the backtest's loader guarantee it), so the latest period
    start is the first candle at or after the start of the last candidate's period: the count of
    candidates before that boundary.
    """
    boundary = (ts[:, -1] // period_ms) * period_ms
    return (ts < boundary[:, None]).sum(axis=1)


def readings(window: CheckedWindow) -> Readings:
    """Indicator values at the last candle of a checked window (TA-Lib from its seed on)."""
    # The daemon's hot path: the compiled TA-Lib functions called directly (the ones
    # `indicators` wraps), values read as Python floats at once.
    rows, seed = window.rows, window.seed
    high, low, close = rows[1, seed:], rows[2, seed:], rows[3, seed:]
    rsi_prev, rsi_now = TA_RSI(close, RSI_PERIOD)[-2:].tolist()
    hist_prev, hist = TA_MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)[2][-2:].tolist()
    return Readings(
        TA_EMA(close, EMA_FAST).item(-1), TA_EMA(close, EMA_MID).item(-1), TA_EMA(close, EMA_SLOW).item(-1),
        rsi_prev, rsi_now, hist_prev, hist, TA_ATR(high, low, close, ATR_PERIOD).item(-1),
        TA_ADX(high, low, close, ADX_PERIOD).item(-1), window.vwap,
    )  # fmt: skip


def _vwaps(matrix: np.ndarray, window: int) -> np.ndarray:
    """VWAP over the last `window` candles of every stacked window: running sums oldest first
    (a cumulative sum along a row adds left to right), the close when nothing traded.

    `_fill_vwap` repeats these operations in the same order for every window of a series, so the
    two agree bit for bit.
    """
    high, low, close, volume = (matrix[:, k, -window:] for k in (1, 2, 3, 4))
    traded = volume.cumsum(axis=1)[:, -1]
    weighted = high + low  # then in place, the order of `_typical_volume`
    weighted += close
    weighted *= volume
    weighted_sum = weighted.cumsum(axis=1, out=weighted)[:, -1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(traded > 0.0, weighted_sum / (3.0 * traded), close[:, -1])


def _typical_volume(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    # (high + low + close) × volume per candle, added left to right.
    return ((high + low) + close) * volume


@dataclass(frozen=True, slots=True)
class SeriesReadings:
    """Per candle i of a series: its seed (−1: none), whether its lookback holds bad data, and
    its readings as row i of a (candles, fields of Readings) matrix (NaN where not computed)."""

    seed: np.ndarray  # int64
    bad: np.ndarray  # bool
    values: np.ndarray  # float64, columns in the order of Readings._fields

    def at(self, i: int) -> Readings:
        """The readings of candle i."""
        return Readings._make(self.values[i].tolist())


def bad_candles(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """Per candle: True where a price is not finite and > 0 or the volume is not finite."""
    prices = np.stack((open_, high, low, close))
    with np.errstate(invalid="ignore"):
        good = (prices > 0.0).all(axis=0) & np.isfinite(prices).all(axis=0) & np.isfinite(volume)
    return ~good


def series_seeds(ts: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """The seed candle of every candle i (−1 when there are fewer than `lookback` candles up to i
    or no period starts where `_seeds` looks): `_seeds` for every window of a series at once."""
    count = ts.shape[0]
    periods = np.floor_divide(ts, spec.period_ms)
    index = np.arange(count)
    is_start = np.zeros(count, dtype=bool)
    is_start[1:] = periods[1:] != periods[:-1]
    latest_start = np.maximum.accumulate(np.where(is_start, index, -1))
    seeds = np.full(count, -1, dtype=np.int64)
    ends = index[spec.lookback - 1 :]
    if ends.shape[0]:
        candidate = latest_start[ends - spec.indicator_window + 1]
        first_allowed = ends - spec.lookback + 2  # its predecessor must be inside the lookback
        seeds[ends] = np.where(candidate >= first_allowed, candidate, -1)
    return seeds


def _segments(seeds: np.ndarray) -> Iterator[tuple[int, int, int]]:
    # (seed, first candle, last candle) for each run of candles sharing a seed.
    valid = np.flatnonzero(seeds >= 0)
    if not valid.shape[0]:
        return
    breaks = np.flatnonzero(np.diff(seeds[valid]) != 0) + 1
    for run in np.split(valid, breaks):
        yield int(seeds[run[0]]), int(run[0]), int(run[-1])


def series_readings(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, ts: np.ndarray,
    spec: WindowSpec,
) -> SeriesReadings:  # fmt: skip
    """`readings` of the window ending at every candle of a series, TA-Lib run once per seed."""
    count = close.shape[0]
    seeds = series_seeds(ts, spec)
    bad_so_far = np.concatenate(([0], np.cumsum(bad_candles(open_, high, low, close, volume), dtype=np.int64)))
    bad = np.ones(count, dtype=bool)
    ends = np.arange(spec.lookback - 1, count)
    bad[ends] = bad_so_far[ends + 1] - bad_so_far[ends + 1 - spec.lookback] > 0
    values = np.full((count, len(Readings._fields)), np.nan)
    columns = {name: values[:, k] for k, name in enumerate(Readings._fields)}  # views into `values`
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for seed, first, last in _segments(np.where(bad, -1, seeds)):
            _fill_segment(columns, seed, first, last, high, low, close)
        _fill_vwap(columns["vwap"], np.flatnonzero(~bad & (seeds >= 0)), high, low, close, volume, spec.vwap_window)
    return SeriesReadings(seeds, bad, values)


def _fill_segment(
    values: dict[str, np.ndarray], seed: int, first: int, last: int, high: np.ndarray, low: np.ndarray,
    close: np.ndarray,
) -> None:  # fmt: skip
    # TA-Lib once over seed..last; candle i reads position i − seed, as the daemon's last value.
    part = slice(seed, last + 1)
    h, lo, c = high[part], low[part], close[part]
    at = slice(first - seed, last - seed + 1)
    before = slice(first - seed - 1, last - seed)
    rsi_all, hist_all = rsi(c), macd_hist(c)
    out = slice(first, last + 1)
    values["ema9"][out] = ema(c, EMA_FAST)[at]
    values["ema21"][out] = ema(c, EMA_MID)[at]
    values["ema50"][out] = ema(c, EMA_SLOW)[at]
    values["rsi"][out], values["rsi_prev"][out] = rsi_all[at], rsi_all[before]
    values["hist"][out], values["hist_prev"][out] = hist_all[at], hist_all[before]
    values["atr"][out] = atr(h, lo, c)[at]
    values["adx"][out] = adx(h, lo, c)[at]


def _fill_vwap(
    out: np.ndarray, ends: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
    window: int,
) -> None:  # fmt: skip
    # `_vwaps` for every candle in `ends`: a running sum per window, advanced one candle
    # position at a time across all windows at once (the same additions, in the same order).
    if not ends.shape[0]:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        weighted = _typical_volume(high, low, close, volume)
    count = close.shape[0] - window + 1  # windows ending at candles window − 1 ... the last
    weighted_sum, traded = weighted[:count].copy(), volume[:count].copy()
    for k in range(1, window):
        weighted_sum += weighted[k : k + count]
        traded += volume[k : k + count]
    at = ends - (window - 1)
    weighted_sum, traded = weighted_sum[at], traded[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[ends] = np.where(traded > 0.0, weighted_sum / (3.0 * traded), close[ends])  # `out` may be a view
