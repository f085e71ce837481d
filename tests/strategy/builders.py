"""Hand-built candle series for the strategy tests: shapes whose indicator readings are known.

`entry_arrays()` is the APEX baseline that passes every gate and all five entry conditions:
  - every candle's high and low rise by `drift` (a clean uptrend in highs and lows, so ADX = 100:
    there is no down-move at all);
  - closes alternate between the upper and lower part of each range, so close-to-close changes
    alternate up and down and RSI(14) sits mid-band (≈ 56) instead of 100;
  - the drift is small, so the close stays within 0.5 % of EMA21 (the pullback condition);
  - the last two candles are a red candle and a green candle engulfing it;
  - volume is constant (ratio 1.0).
Tests copy the arrays, break one thing and build `Candles` with `to_candles`.
"""

from __future__ import annotations

import numpy as np

from nija.models import Candles
from nija.strategy.apex_params import DEFAULT_PARAMS, ApexParams
from nija.strategy.window import CheckedWindow, check_window

__all__ = [
    "Arrays",
    "downtrend_arrays",
    "entry_arrays",
    "pause_hammer_arrays",
    "seeded",
    "to_candles",
    "v_shape_arrays",
]

Arrays = dict[str, np.ndarray]
FIVE_MINUTES_MS = 300_000


def to_candles(arrays: Arrays) -> Candles:
    """Build Candles from a dict of open/high/low/close/volume (and optional ts) arrays."""
    n = len(arrays["close"])
    ts = arrays.get("ts", np.arange(n, dtype=np.float64) * FIVE_MINUTES_MS)
    return Candles(
        ts=np.asarray(ts, dtype=np.float64),
        open=np.asarray(arrays["open"], dtype=np.float64),
        high=np.asarray(arrays["high"], dtype=np.float64),
        low=np.asarray(arrays["low"], dtype=np.float64),
        close=np.asarray(arrays["close"], dtype=np.float64),
        volume=np.asarray(arrays["volume"], dtype=np.float64),
    )


def seeded(candles: Candles, params: ApexParams = DEFAULT_PARAMS) -> Candles:
    """The candles APEX's TA-Lib indicators run on: from the seed candle to the last."""
    window = check_window(candles, params.window)
    assert isinstance(window, CheckedWindow), window
    return candles.tail(params.window.lookback - window.seed)


def entry_arrays(n: int = 300, drift: float = 0.0002, half_range: float = 0.002, volume: float = 100.0) -> Arrays:
    """Return the baseline arrays (see the module docstring): an uptrend ending in an entry."""
    t = np.arange(n, dtype=np.float64)
    base = 100.0 * np.exp(drift * t)
    up_bar = np.where(t % 2 == 0, 1.0, -1.0)
    close = base * (1.0 + 0.8 * half_range * up_bar)
    open_ = np.concatenate(([base[0]], close[:-1]))
    high = base * (1.0 + half_range)
    low = base * (1.0 - half_range)
    # Last two candles: red (open high, close low), then green opening below that close and
    # closing above that open: a bullish engulfing.
    open_[-2], close[-2] = base[-2] * 1.0016, base[-2] * 0.9984
    open_[-1], close[-1] = base[-1] * 0.9980, base[-1] * 1.0018
    return {
        "open": open_,
        "high": np.maximum(high, np.maximum(open_, close)),
        "low": np.minimum(low, np.minimum(open_, close)),
        "close": close,
        "volume": np.full(n, volume),
    }


def downtrend_arrays(n: int = 300) -> Arrays:
    """Return the baseline built on a falling drift: lower highs and lower lows every candle.

    It keeps the baseline's bullish engulfing at the end, so only the trend says no.
    """
    return entry_arrays(n, drift=-0.002)


def pause_hammer_arrays(n: int = 300) -> Arrays:
    """Return the baseline ending in a 4-candle rally, a 5-candle pause and a small green hammer.

    After the rally the MACD histogram is large and shrinks through the pause, so it is NOT
    rising at the hammer; the close is far above EMA21 (no pullback). RSI still rises and
    volume is steady: exactly 3 conditions (rsi, candle via the hammer, volume).
    """
    arrays = entry_arrays(n)
    open_, high, low, close = arrays["open"], arrays["high"], arrays["low"], arrays["close"]
    level = close[-11]
    for i in range(-10, -6):  # rally: +0.4 % per candle
        open_[i], level = level, level * 1.004
        close[i], high[i], low[i] = level, level * 1.0005, open_[i] * 0.9995
    for step, i in enumerate(range(-6, -1)):  # pause: ±0.03 % around the rally's top
        open_[i], close[i] = level, level * (1.0003 if step % 2 else 0.9997)
        high[i], low[i] = max(open_[i], close[i]) * 1.0005, min(open_[i], close[i]) * 0.9995
    # Hammer: body 0.02 %, lower wick 0.08 %, upper wick 0.01 % of the price.
    open_[-1] = close[-2]
    close[-1] = open_[-1] * 1.0002
    high[-1], low[-1] = close[-1] * 1.0001, open_[-1] * 0.9992
    return arrays


def v_shape_arrays(n: int = 300) -> Arrays:
    """Return the baseline bent into a V over its last 37 candles: 25 down 0.3 %, 12 up 0.625 %.

    The rally lifts the close above VWAP and EMA9 above EMA21 with a rising MACD histogram,
    but EMA21 still sits below EMA50, which remembers the top before the fall.
    """
    arrays = entry_arrays(n)
    path = np.ones(n)
    start = n - 37
    for i in range(start, n):
        path[i] = path[i - 1] * (0.997 if i < start + 25 else 1.00625)
    for key in ("open", "high", "low", "close"):
        arrays[key] = arrays[key] * path
    return arrays
