"""Long synthetic candle series from the paper market's seeded generator, for benchmarks and tests.

`SyntheticMarket` keeps a bounded window of history, so a long series is read in chunks while
its clock is moved forward; the candles are the ones the market itself would serve.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from nija.brokers.paper import SyntheticMarket
from nija.models import Candles

__all__ = ["synthetic_candles"]

_CHUNK: Final = 3_800  # the generator keeps 4,096 candles, generated in blocks of 256: stay below both


def synthetic_candles(symbol: str, count: int, seed: int = 7) -> Candles:
    """The first `count` 5-minute candles the seeded synthetic market serves for `symbol`."""
    if count < 1:
        raise ValueError(f"count must be >= 1, was {count}")
    market = SyntheticMarket([symbol], seed=seed, history_candles=min(count, _CHUNK))
    parts = [market.ohlcv(symbol, _CHUNK)]
    served = len(parts[0])
    while served < count:
        step = min(_CHUNK, count - served)
        market.resume_at(market.now_ms() + step * market.timeframe_ms)
        parts.append(market.ohlcv(symbol, step))
        served += step
    columns = [np.concatenate([getattr(p, name) for p in parts]) for name in ("ts", "open", "high", "low", "close", "volume")]
    return Candles(*columns)
