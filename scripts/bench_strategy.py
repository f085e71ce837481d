"""Benchmark: APEX entry evaluation against the raw TA-Lib calls it is built on.

Generates 500 symbols × 300 five-minute candles (seeded random walk), then times the default
strategy's `evaluate_entries` (through the Strategy protocol, as the broker loop's scan calls it:
one call for every symbol of the cycle) for all of them and the bare TA-Lib calls of the same indicators (EMA 9/21/50, RSI 14, MACD 12/26/9,
ATR 14, ADX 14) on the same data, interleaved, best of several rounds. APEX runs TA-Lib on the
candles from its seed (200–260 of the 300, `nija.strategy.window`) and adds the data checks, the
seed search, VWAP(100) and the rules; the TA-Lib figure runs on all 300 candles.
Prints one JSON line: {"apex_ms": …, "talib_ms": …, "ratio": apex_ms / talib_ms}.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from nija.models import Candles  # noqa: E402
from nija.strategy.registry import default_strategy  # noqa: E402

SYMBOLS: Final = 500
CANDLES: Final = 300
ROUNDS: Final = 15
SEED: Final = 20251212
CANDLE_MS: Final = 300_000  # 5-minute candles, as the original fetched (§1.1)


def make_candles(rng: np.random.Generator, n: int) -> Candles:
    """Return `n` plausible 5-minute candles: log-normal walk, wicks around the body, lumpy volume."""
    drift = rng.normal(0.0, 0.0005)
    returns = rng.normal(drift, rng.uniform(0.002, 0.01), n)
    close = rng.uniform(0.05, 50_000.0) * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([close[0]], close[:-1])) * (1.0 + rng.normal(0.0, 0.0005, n))
    wick = np.abs(rng.normal(0.0, 0.003, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.lognormal(5.0, 0.8, n)
    ts = 1_700_000_000_000 + CANDLE_MS * np.arange(n, dtype=np.float64)
    return Candles.from_rows(np.column_stack((ts, open_, high, low, close, volume)))


def run_apex(universe: list[Candles]) -> None:
    """Evaluate an entry for every symbol, as one scan."""
    default_strategy().evaluate_entries(universe)


def run_talib(universe: list[Candles]) -> None:
    """Call TA-Lib for every indicator APEX reads, nothing else."""
    for candles in universe:
        high, low, close = candles.high, candles.low, candles.close
        talib.EMA(close, 9)
        talib.EMA(close, 21)
        talib.EMA(close, 50)
        talib.RSI(close, 14)
        talib.MACD(close, 12, 26, 9)
        talib.ATR(high, low, close, 14)
        talib.ADX(high, low, close, 14)


def best_ms(jobs: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Run the jobs interleaved `rounds` times; return each one's best wall time in ms."""
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            best[name] = min(best[name], (time.perf_counter() - start) * 1000.0)
    return best


def main() -> None:
    """Build the universe, time both paths and print the JSON line."""
    rng = np.random.default_rng(SEED)
    universe = [make_candles(rng, CANDLES) for _ in range(SYMBOLS)]
    run_apex(universe)  # warm-up: imports, allocator, caches
    best = best_ms({"apex": lambda: run_apex(universe), "talib": lambda: run_talib(universe)}, ROUNDS)
    result = {
        "apex_ms": round(best["apex"], 3),
        "talib_ms": round(best["talib"], 3),
        "ratio": round(best["apex"] / best["talib"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
