"""Benchmark: one symbol-year of 5-minute candles through `nija.backtest`'s engine.

The candles come from the paper market's seeded synthetic generator (105,120 = 365 days × 288),
so every run replays the same year. The run is the backtest's own: the daemon's broker loop,
strategy, risk rules, execution and paper broker on a replay clock. Prints one JSON line:
{"candles": …, "seconds": …, "candles_per_s": …, "fingerprint": …, "cycles": …}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nija.backtest.engine import RunSpec, SymbolJob, run_symbol
from nija.backtest.fills import FillModel
from nija.backtest.runner import analyse
from nija.backtest.synthetic import synthetic_candles
from nija.models import BrokerName

SYMBOL_YEAR_5M = 365 * 288


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=SYMBOL_YEAR_5M)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--symbol", default="ETH/USD")
    args = parser.parse_args()
    candles = synthetic_candles(args.symbol, args.candles, seed=args.seed)
    spec = RunSpec(FillModel(BrokerName.KRAKEN), Decimal(1000))
    started = time.perf_counter()
    run = run_symbol(SymbolJob(spec, args.symbol, 300_000, candles))
    result = analyse([run], spec)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "candles": len(candles), "seconds": round(seconds, 3), "candles_per_s": round(len(candles) / seconds),
        "fingerprint": result.fingerprint, "cycles": run.cycles, "trades": result.total.trades,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
