"""Benchmark: `python -m nija.report` over a store with F followers × N fills each.

    scripts/bench_report.py [--followers F] [--fills N] [--store PATH] [--keep]

Builds the store through NIJA's own store API (not timed): one Kraken master with N fills over
five symbols (buys and sells, a price walk, a fee in quote on most fills and in the base asset
on every seventh buy) each recorded with its copy signal as the daemon does, an equity snapshot
per master fill, and for each signal one ledger row per follower, filled at the master's price
plus a little slippage, scaled to the follower, with latencies and the follower's equity. Then
times one run of the report's CLI entry (`nija.report.__main__.main` with `--json`, its output
discarded) in this process on that store, read-only, as an operator runs it. `--store PATH`
reuses a store built before (same F and N), `--keep` leaves the built one in place.

Prints ONE JSON line: {"fills": total fills in the store, "seconds": the report's wall time,
"cpu_seconds": its CPU time, with the process it forks (on 2 cores, up to twice the wall
time; the machine's other load shows as wall time beyond CPU / cores),
"load_average_1m", "followers", "fills_per_follower", "build_seconds"}. Target: ≤ 5 s at
1,000 × 1,000.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nija.models import (  # noqa: E402
    BalanceSnapshot,
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    Fill,
    Side,
    TradeSignal,
    client_order_id_for,
)
from nija.report.__main__ import main as report_main  # noqa: E402
from nija.store import Recording, Store, db_path  # noqa: E402

BROKER = BrokerName.KRAKEN
SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _fill(account: str, symbol: str, side: Side, qty: Decimal, price: Decimal, trade_id: str, at: datetime,
          base_fee: bool) -> Fill:
    fee = (qty * price * Decimal("0.0026")).quantize(Decimal("0.00000001"))
    fee_in_base = (qty * Decimal("0.0026")).quantize(Decimal("0.00000001")) if base_fee else Decimal(0)
    return Fill(
        broker=BROKER, account=account, symbol=symbol, side=side, trade_id=trade_id,
        client_order_id=client_order_id_for("bench", account, trade_id), qty=qty, price=price, fee=fee,
        fee_in_base=fee_in_base, fee_currency=symbol.split("/")[0] if base_fee else "USD", ts_exchange=at, ts_seen=at,
    )


def build(path: Path, followers: int, fills: int) -> None:
    """Fill a new store at `path` with one master and `followers` copies of each of its fills."""
    rng = random.Random(15)
    store = Store(path)
    users = [f"user_{i:04d}" for i in range(followers)]
    scale = {u: Decimal(rng.randint(5, 200)) / 1000 for u in users}
    prices = {s: Decimal(100 * (i + 1)) for i, s in enumerate(SYMBOLS)}
    held = {s: Decimal(0) for s in SYMBOLS}
    equity = Decimal(100_000)
    for n in range(fills):
        at = T0 + timedelta(minutes=n)
        symbol = SYMBOLS[n % len(SYMBOLS)]
        prices[symbol] = (prices[symbol] * Decimal(1 + rng.uniform(-0.02, 0.021))).quantize(Decimal("0.01"))
        price = prices[symbol]
        side = Side.SELL if held[symbol] > 0 and (n // len(SYMBOLS)) % 2 else Side.BUY
        qty = held[symbol] / 2 if side is Side.SELL else (Decimal(1000) / price).quantize(Decimal("0.0001"))
        base_fee = side is Side.BUY and n % 7 == 0
        master_fill = _fill("master", symbol, side, qty, price, f"m{n}", at, base_fee)
        signal = TradeSignal.from_fill(master_fill, equity, held[symbol])
        held[symbol] += qty - master_fill.fee_in_base if side is Side.BUY else -qty
        equity += Decimal(rng.uniform(-50, 55)).quantize(Decimal("0.01"))
        store.record(Recording(fills=[master_fill], signals=[signal]))
        store.record_equity(BROKER, "master", BalanceSnapshot.from_parts(equity, Decimal(0), at))
        ids = {u: client_order_id_for("copy", signal.signal_id, u) for u in users}
        store.open_copy_rows(signal.signal_id, BROKER, ids)
        copies, ledger = [], []
        for u in users:
            slip = Decimal(rng.randint(-5, 15))  # bps, adverse positive
            fill_price = (price * (1 + slip / 10_000 * (1 if side is Side.BUY else -1))).quantize(Decimal("0.0001"))
            copied = (qty * scale[u]).quantize(Decimal("0.00000001"))
            at_copy = at + timedelta(milliseconds=rng.randint(80, 900))
            copy_fill = _fill(u, symbol, side, copied, fill_price, f"{u}-{n}", at_copy, base_fee)
            # The copy's fill carries its ledger row's client order id, as the fan-out sends it.
            copies.append(copy_fill.model_copy(update={"client_order_id": ids[u]}))
            ledger.append(CopyLedgerEntry(
                signal_id=signal.signal_id, user_id=u, status=CopyStatus.FILLED, size_filled=copied, price=fill_price,
                user_equity=equity * scale[u], master_price=price, ack_latency_ms=float(rng.randint(40, 400)),
                fill_latency_ms=float(rng.randint(80, 900)), slippage_bps=slip,
            ))
        store.record(Recording(fills=copies, ledger=ledger))
    store.save_copy_users([{"broker": BROKER, "user_id": u, "state": "ok", "enabled": True, "equity": None,
                          "available": None, "equity_at": None, "last_error": None} for u in users])
    store.close()


def _cpu() -> float:
    # This process's CPU time and its finished children's: a big report folds half its
    # accounts in a forked process (`nija.report.split`), whose time counts too.
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    """Build (or reuse) the store, time one report, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--fills", type=int, default=1000, help="fills per follower (and of the master)")
    parser.add_argument("--store", type=Path, help="a data dir holding a store built before")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    data_dir = args.store or Path(tempfile.mkdtemp(prefix="nija-bench-report-"))
    build_seconds = 0.0
    if args.store is None:
        started = time.perf_counter()
        build(db_path(data_dir), args.followers, args.fills)
        build_seconds = time.perf_counter() - started
    started, cpu = time.perf_counter(), _cpu()
    code = report_main(["--json", "--data-dir", str(data_dir)], out=io.StringIO())
    seconds, cpu_seconds = time.perf_counter() - started, _cpu() - cpu
    if code != 0:
        print(json.dumps({"error": f"report exited {code}"}))
        return 1
    total = args.followers * args.fills + args.fills
    print(json.dumps({"fills": total, "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
                      "load_average_1m": os.getloadavg()[0], "followers": args.followers,
                      "fills_per_follower": args.fills, "build_seconds": round(build_seconds, 1)}))
    if args.keep or args.store:
        print(f"store kept in {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
