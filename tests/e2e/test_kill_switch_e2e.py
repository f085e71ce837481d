"""End-to-end, paper mode: a replayed falling market drives one broker into `halted`.

The daemon runs Kraken on a replay that is flat, gaps down 3 % and keeps falling, and OKX on a
flat one. A manual master buy (`python -m nija.trade`) gives Kraken a 60 % position; the gap
takes the day's loss past MAX_DAILY_LOSS_PCT (1 % here) and Kraken halts in that cycle, before
any price exit: the kill switch sells the position, the demo user copies that exit,
`python -m nija.status` exits 1 naming the reason, buys are refused, and OKX keeps cycling.
Only `nija.trade resume` brings Kraken back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import brokers, eventually, reading

CYCLE = 0.25
WARMUP = 300  # ReplayMarket's default warm-up
MIDNIGHT = 1_767_225_600_000  # 2026-01-01T00:00Z: the replay's first traded candle opens the day
FLAT = 80  # flat candles after the warm-up (20 s of cycles: time for the manual buy), then the fall
GAP = 0.03
FALL_PER_CANDLE = 0.0002


def _write_replay(directory: Path, falling: bool) -> None:
    directory.mkdir()
    start = MIDNIGHT - WARMUP * 300_000
    lines = ["timestamp,open,high,low,close,volume"]
    price = 50_000.0
    for i in range(WARMUP + 1000):
        previous = price
        if falling and i == WARMUP + FLAT:
            price *= 1 - GAP
        elif falling and i > WARMUP + FLAT:
            price *= 1 - FALL_PER_CANDLE
        lines.append(
            f"{start + i * 300_000},{previous:.2f},{max(previous, price) * 1.0003:.2f},"
            f"{min(previous, price) * 0.9997:.2f},{price:.2f},25.0"
        )
    (directory / "BTC-USD-5m.csv").write_text("\n".join(lines) + "\n")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(
        NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_CYCLE_SECONDS=str(CYCLE), NIJA_LOG_FORMAT="json",
        NIJA_PAPER_BROKERS="kraken,okx", NIJA_KRAKEN_REPLAY_DIR=str(tmp_path / "kraken"),
        NIJA_OKX_REPLAY_DIR=str(tmp_path / "okx"), NIJA_PAPER_EQUITY="1000", MAX_DAILY_LOSS_PCT="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[dict[str, str]]:
    _write_replay(tmp_path / "kraken", falling=True)
    _write_replay(tmp_path / "okx", falling=False)
    env = _env(tmp_path)
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield env
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


def _kraken_state(data: Path) -> dict[str, Any]:
    with reading(data) as store:
        if store is None:
            return {}
        orders = store.orders_in_status("kraken", "master", ["filled"])
        signals = [s for s, status in store.signals() if status == "done"]
        copies = {s.side: [r for r in store.copy_rows(s.signal_id) if r["status"] == "filled"] for s in signals}
        return {"orders": orders, "positions": store.positions("kraken", "master"), "copies": copies}


def test_a_falling_market_halts_one_broker_and_flattens_it(tmp_path: Path, daemon: dict[str, str]) -> None:
    env, data = daemon, tmp_path / "data"
    eventually(lambda: {"kraken", "okx"} <= brokers(data).keys() and all(b["cycles_ok"] >= 2 for b in brokers(data).values()),
               30, "both brokers cycling")
    bought = _run(env, "nija.trade", "buy", "BTC/USD", "600", "--broker", "kraken")
    assert bought.returncode == 0, bought.stderr

    halted = eventually(lambda: (b := brokers(data).get("kraken")) and b["status"] == "halted" and b, 45, "kraken halted")
    assert "daily loss" in halted["note"] and "MAX_DAILY_LOSS_PCT=1" in halted["note"]
    okx_at_halt = brokers(data)["okx"]["cycles_ok"]

    # Flattened by the kill switch (not by a price exit): exactly the held position, and copied.
    state = eventually(lambda: (s := _kraken_state(data)) and not s["positions"] and s["copies"].get("sell") and s,
                       30, "kraken flat and its exit copied")
    sells = [o for o in state["orders"] if o.request.side == "sell"]
    [buy] = [o for o in state["orders"] if o.request.side == "buy"]
    assert len(sells) == 1 and sells[0].request.reason.startswith("kill_switch: flatten: daily loss")
    assert sells[0].filled_qty == buy.filled_qty  # Kraken's paper fee is in quote: all bought is held
    assert {r["user_id"] for r in state["copies"]["sell"]} == {"demo_alice"}

    status = _run(env, "nija.status")
    assert status.returncode == 1
    assert "kraken/master HALTED: halted: daily loss" in status.stdout
    doc = json.loads(_run(env, "nija.status", "--json").stdout)
    assert {b["broker"]: b["status"] for b in doc["brokers"]} == {"kraken": "halted", "okx": "healthy"}

    refused = _run(env, "nija.trade", "buy", "BTC/USD", "50", "--broker", "kraken")
    assert refused.returncode == 1 and "kraken is halted" in refused.stderr
    eventually(lambda: brokers(data)["okx"]["cycles_ok"] >= okx_at_halt + 10, 30, "okx still cycling")
    assert brokers(data)["kraken"]["status"] == "halted"  # never resumes by itself

    resumed = _run(env, "nija.trade", "resume", "--broker", "kraken")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    eventually(lambda: brokers(data)["kraken"]["status"] == "healthy", 30, "kraken healthy after resume")
