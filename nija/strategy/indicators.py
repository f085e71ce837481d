"""Indicators for APEX: thin wrappers over TA-Lib (Wilder smoothing) plus VWAP in numpy.

Pure: float64 arrays in, float64 arrays (or floats) out; no I/O, no clock, no state.

TA-Lib differs from the original pandas code (research note §1.2): EMAs are seeded with an SMA,
RSI, ATR and ADX use Wilder smoothing instead of simple means. Thresholds are read against these
TA-Lib values. TA-Lib needs C-contiguous float64 input; `Candles.from_rows` builds exactly that.

`compute` returns every series; `scan_window` is APEX's per-cycle path: it checks a whole window
for bad values and yields its last VWAP in one pass, without building series nobody reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import talib

from nija.models import Candles

__all__ = [
    "EMA_FAST",
    "EMA_MID",
    "EMA_SLOW",
    "Indicators",
    "WindowScan",
    "adx",
    "atr",
    "compute",
    "ema",
    "macd_hist",
    "ratio_to_mean",
    "rsi",
    "scan_window",
    "volume_ratio",
    "vwap",
]

# APEX v7.1 EMA stack (research note §1.3): EMA9 > EMA21 > EMA50 in an uptrend.
EMA_FAST: Final = 9
EMA_MID: Final = 21
EMA_SLOW: Final = 50
# Classic periods, as in the original (§1.2): RSI/ATR/ADX 14, MACD 12/26/9.
RSI_PERIOD: Final = 14
ATR_PERIOD: Final = 14
ADX_PERIOD: Final = 14
MACD_FAST: Final = 12
MACD_SLOW: Final = 26
MACD_SIGNAL: Final = 9

# Shared read-only row of ones for scan_window (sums the volume in the same product).
_ONES: Final = np.ones(4096)
_ONES.flags.writeable = False


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Return the EMA of `close` (TA-Lib: seeded with the SMA of the first `period` values)."""
    return talib.EMA(close, period)


def rsi(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """Return Wilder's RSI of `close` (0–100; NaN for the first `period` bars)."""
    return talib.RSI(close, period)


def macd_hist(close: np.ndarray) -> np.ndarray:
    """Return the MACD histogram (line − signal) for MACD 12/26/9."""
    return talib.MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)[2]


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """Return Wilder's average true range."""
    return talib.ATR(high, low, close, period)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ADX_PERIOD) -> np.ndarray:
    """Return Wilder's ADX (valid from bar 2 × period − 1 on)."""
    return talib.ADX(high, low, close, period)


def vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Return the cumulative VWAP over the whole window: Σ(typical × volume) / Σ volume.

    Typical price is (H + L + C) / 3. Anchored at the first candle given, not at a session
    (the original's choice, research note §1.2). Where no volume has traded yet the VWAP is
    undefined, so the close stands in for it.
    """
    cum_volume = np.cumsum(volume)
    cum_pv = np.cumsum((high + low + close) * volume)
    if cum_volume.shape[0] and cum_volume[0] > 0:  # volumes ≥ 0: the running sum stays positive
        return cum_pv / (3.0 * cum_volume)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cum_volume > 0, cum_pv / (3.0 * cum_volume), close)


def volume_ratio(volume: np.ndarray, window: int = 5) -> float:
    """Return the last volume over the mean of the last `window` volumes (current one included).

    NaN when fewer than `window` volumes exist; 0.0 when nothing traded in the window.
    """
    if window <= 0 or volume.shape[0] < window:
        return math.nan
    return ratio_to_mean(volume[-window:].tolist())


def ratio_to_mean(values: Sequence[float]) -> float:
    """Return the last value over the mean of all `values`: 0.0 when they sum to zero, NaN when empty."""
    if not values:
        return math.nan
    total = sum(values)
    return values[-1] * len(values) / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Indicators:
    """Every series APEX reads, aligned with the candles (NaN during each warm-up)."""

    ema9: np.ndarray
    ema21: np.ndarray
    ema50: np.ndarray
    rsi: np.ndarray
    macd_hist: np.ndarray
    atr: np.ndarray
    adx: np.ndarray
    vwap: np.ndarray


def compute(candles: Candles) -> Indicators:
    """Compute every APEX indicator once over the whole window."""
    high, low, close = (np.ascontiguousarray(a, dtype=np.float64) for a in (candles.high, candles.low, candles.close))
    return Indicators(
        ema9=ema(close, EMA_FAST),
        ema21=ema(close, EMA_MID),
        ema50=ema(close, EMA_SLOW),
        rsi=rsi(close),
        macd_hist=macd_hist(close),
        atr=atr(high, low, close),
        adx=adx(high, low, close),
        vwap=vwap(high, low, close, candles.volume),
    )


class WindowScan(NamedTuple):
    """One pass over a window of candles: the data checks APEX needs plus the last VWAP.

    `rows` holds open, high, low and close as a (4, n) C-contiguous float64 array: its rows are
    safe TA-Lib inputs whatever dtype the candles came in.
    """

    rows: np.ndarray
    positive: bool  # every open, high, low and close > 0 (False on NaN)
    finite: bool  # no price or volume is NaN or ±inf
    last_vwap: float  # vwap(...)[-1], without building the series


def scan_window(candles: Candles) -> WindowScan:
    """Check a window for NaN/inf/non-positive prices and compute its last VWAP in one pass.

    Raises ValueError when the arrays have different lengths or are not numeric.
    """
    n = candles.close.shape[0]
    # Numpy call overhead, not arithmetic, dominates on a few hundred candles, so the window is
    # checked with one matrix, one argmin and one matrix-vector product; the row of ones turns
    # that product's last entry into Σ volume.
    ones = _ONES[:n] if n <= _ONES.shape[0] else np.ones(n)
    matrix = np.concatenate((candles.open, candles.high, candles.low, candles.close, ones), dtype=np.float64)
    matrix = matrix.reshape(5, n)
    # argmin is a direct C loop, several times cheaper than the min() reduction here, and it
    # stops at the first NaN, so any NaN makes the "minimum" NaN, which compares False.
    positive = matrix.item(matrix.argmin()) > 0  # the ones row is > 0 and changes nothing
    # Σo·v, Σh·v, Σl·v, Σc·v, Σv. With prices > 0 any NaN or ±inf price or volume makes some
    # entry NaN or ±inf (inf × 0 volume is NaN), so one isfinite covers the whole window.
    sum_ov, sum_hv, sum_lv, sum_cv, total_volume = np.dot(matrix, candles.volume).tolist()
    if total_volume > 0:
        last = (sum_hv + sum_lv + sum_cv) / (3.0 * total_volume)
    else:
        last = matrix.item(3, n - 1)  # nothing traded: the close stands in, as in vwap()
    finite = math.isfinite(sum_ov + sum_hv + sum_lv + sum_cv + total_volume)
    return WindowScan(matrix[:4], positive, finite, last)
