"""Candle files for backtest tests: the seeded synthetic market written as CSV, and bad copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nija.backtest.synthetic import synthetic_candles
from nija.models import Candles

HEADER = "timestamp,open,high,low,close,volume"


def candle_lines(symbol: str = "ETH/USD", count: int = 1500, seed: int = 7) -> list[str]:
    """CSV lines (header first) of the synthetic market's first `count` candles of `symbol`."""
    c = synthetic_candles(symbol, count, seed)
    rows = zip(c.ts.tolist(), c.open.tolist(), c.high.tolist(), c.low.tolist(), c.close.tolist(), c.volume.tolist(), strict=True)
    return [HEADER, *(f"{int(t)},{o!r},{h!r},{low!r},{cl!r},{v!r}" for t, o, h, low, cl, v in rows)]


def write_csv(directory: Path, name: str, lines: list[str]) -> Path:
    """Write `lines` as directory/name and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("\n".join(lines) + "\n")
    return path


def synthetic_csv(directory: Path, symbol: str = "ETH/USD", count: int = 1500, seed: int = 7) -> Path:
    """A synthetic 5-minute candle file named after `symbol` (ETH/USD -> ETH-USD-5m.csv)."""
    return write_csv(directory, f"{symbol.replace('/', '-')}-5m.csv", candle_lines(symbol, count, seed))


def crash_after(candles: Candles, index: int, factor: float) -> Candles:
    """`candles` with every price from candle `index` on multiplied by `factor` (a gap down)."""
    scale = np.where(np.arange(len(candles)) >= index, factor, 1.0)
    return Candles(candles.ts, candles.open * scale, candles.high * scale, candles.low * scale,
                   candles.close * scale, candles.volume)  # fmt: skip
