"""Benchmark: memory and construction time of N ccxt accounts of one venue sharing its markets.

Builds N `CcxtBroker`s for Kraken against the local simulator (started in-process on
127.0.0.1), each attached to the venue's markets loaded once, and prints one JSON line: the
largest N's figures {"venue", "accounts", "kib_per_account", "build_s", "markets_load_s"} plus
"runs", the same figures for every N (10 and 1000 by default, or --accounts N ...).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nija.brokers.ccxt import CcxtBroker, SharedMarkets  # noqa: E402
from nija.models import BrokerName  # noqa: E402
from tests.sim.simulator import Simulator  # noqa: E402

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024


def rss_kib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def measure(sim: Simulator, count: int, data_dir: Path) -> dict[str, float | int | str]:
    markets = SharedMarkets()
    secret = base64.b64encode(b"bench-secret-0123456789abcdef").decode()
    started = time.perf_counter()
    first = CcxtBroker(BrokerName.KRAKEN, "u0", {"api_key": "bench-0", "api_secret": secret}, markets,
                       api_url=sim.url("kraken"), data_dir=data_dir, enable_rate_limit=False)
    first.begin_cycle()  # loads the venue's markets once
    markets_load_s = time.perf_counter() - started
    gc.collect()
    before = rss_kib()
    started = time.perf_counter()
    accounts = []
    for i in range(count):
        broker = CcxtBroker(BrokerName.KRAKEN, f"u{i}", {"api_key": f"bench-{i}", "api_secret": secret}, markets,
                            api_url=sim.url("kraken"), data_dir=data_dir, enable_rate_limit=False)
        broker.begin_cycle()  # attaches the shared markets; no request
        accounts.append(broker)
    build_s = time.perf_counter() - started
    gc.collect()
    used = rss_kib() - before
    return {"venue": "kraken", "accounts": count, "kib_per_account": round(used / count, 1),
            "build_s": round(build_s, 3), "markets_load_s": round(markets_load_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10, 1000])
    args = parser.parse_args()
    with Simulator(venues=["kraken"]) as sim, tempfile.TemporaryDirectory() as tmp:
        sim.add_account("kraken", "bench-0", base64.b64encode(b"bench-secret-0123456789abcdef").decode(), {"USD": Decimal(1)})
        runs = [measure(sim, count, Path(tmp)) for count in sorted(args.accounts)]
    print(json.dumps({**runs[-1], "runs": runs}))


if __name__ == "__main__":
    main()
