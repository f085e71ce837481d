"""Indicators for APEX: thin wrappers over TA-Lib (Wilder smoothing) plus VWAP in numpy.

Pure: float64 arrays in, float64 arrays (or floats) out; no I/O, no clock, no state.

TA-Lib differs from the original pandas code (research note §1.2): EMAs are seeded with an SMA,
RSI, ATR and ADX use Wilder smoothing instead of simple means. Thresholds are read against these
TA-Lib values. TA-Lib needs C-contiguous float64 input; `Candles.from_rows` builds exactly that.

`compute` returns every series over whatever candles it is given. Which candles APEX hands these
functions (its seed and lookback) is decided in `nija.strategy.window`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import talib

from nija.models import Candles

__all__ = [
    "ADX_PERIOD",
    "ATR_PERIOD",
    "EMA_FAST",
    "EMA_MID",
    "EMA_SLOW",
    "MACD_FAST",
    "MACD_SIGNAL",
    "MACD_SLOW",
    "RSI_PERIOD",
    "Indicators",
    "adx",
    "atr",
    "compute",
    "ema",
    "macd_hist",
    "ratio_to_mean",
    "rsi",
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


def _compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    # TA-Lib wraps each of its functions for pandas/polars Series input whenever pandas can be
    # imported (alpaca-py installs it). APEX passes float64 arrays only, and the wrapper's type
    # checks cost about as much as a 200-candle EMA. `__wrapped__` is the compiled function
    # itself (same code, same numbers); without the wrapper, the attribute is the function.
    return getattr(function, "__wrapped__", function)


TA_EMA: Final = _compiled(talib.EMA)
TA_RSI: Final = _compiled(talib.RSI)
TA_MACD: Final = _compiled(talib.MACD)
TA_ATR: Final = _compiled(talib.ATR)
TA_ADX: Final = _compiled(talib.ADX)


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Return the EMA of `close` (TA-Lib: seeded with the SMA of the first `period` values)."""
    return TA_EMA(close, period)


def rsi(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """Return Wilder's RSI of `close` (0–100; NaN for the first `period` bars)."""
    return TA_RSI(close, period)


def macd_hist(close: np.ndarray) -> np.ndarray:
    """Return the MACD histogram (line − signal) for MACD 12/26/9."""
    return TA_MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)[2]


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """Return Wilder's average true range."""
    return TA_ATR(high, low, close, period)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ADX_PERIOD) -> np.ndarray:
    """Return Wilder's ADX (valid from bar 2 × period − 1 on)."""
    return TA_ADX(high, low, close, period)


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
