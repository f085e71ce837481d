"""End-to-end: the daemon as a subprocess in paper mode with a fast cycle.

One broker's price feed goes bad mid-run (NaN closes): that broker degrades, fails and heals,
while the other keeps cycling; `python -m nija.status` reports it with the right exit codes;
SIGTERM stops everything within 5 s with exit code 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nija.store import Store
from tests.e2e.support import brokers, eventually, reading

CYCLE = 0.25
WARMUP = 300  # ReplayMarket's default warm-up
GOOD_BEFORE_FAULT = 12  # cycles of clean data before the fault
FAULT_CANDLES = 9  # failed after 5 cycles, then 4 more on the doubling backoff: ~8 s failed, time for a status process on a loaded machine


def _write_replay(directory: Path) -> None:
    """A BTC/USD replay whose closes are NaN for FAULT_CANDLES candles after the warm-up."""
    directory.mkdir()
    rng = np.random.default_rng(3)
    n = WARMUP + GOOD_BEFORE_FAULT + FAULT_CANDLES + 400
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    start = 1_700_000_000_000
    lines = ["timestamp,open,high,low,close,volume"]
    bad = range(WARMUP + GOOD_BEFORE_FAULT, WARMUP + GOOD_BEFORE_FAULT + FAULT_CANDLES)
    for i in range(n):
        c = "nan" if i in bad else f"{close[i]:.2f}"
        o = close[i - 1] if i else close[i]
        lines.append(f"{start + i * 300_000},{o:.2f},{max(o, close[i]) * 1.001:.2f},{min(o, close[i]) * 0.999:.2f},{c},{rng.uniform(5, 50):.4f}")
    (directory / "BTC-USD-5m.csv").write_text("\n".join(lines) + "\n")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(
        NIJA_DATA_DIR=str(tmp_path / "data"),
        NIJA_CYCLE_SECONDS=str(CYCLE),
        NIJA_LOG_FORMAT="json",
        NIJA_STATUS_SUMMARY_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _status(tmp_path: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "nija.status", "--json", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, env=env, timeout=30,
    )
    return proc.returncode, json.loads(proc.stdout)




@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    replay = tmp_path / "coinbase-replay"
    _write_replay(replay)
    env = _env(tmp_path, NIJA_PAPER_BROKERS="kraken,coinbase", NIJA_COINBASE_REPLAY_DIR=str(replay))
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    yield proc, env
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()




def test_isolation_status_and_graceful_shutdown(tmp_path: Path, daemon) -> None:
    proc, env = daemon
    # Both brokers cycle.
    eventually(lambda: all(b["cycles_ok"] >= 3 for b in brokers(tmp_path / "data").values()) and len(brokers(tmp_path / "data")) == 2, 90, "cycles")  # generous: a loaded machine starts slowly
    code, doc = _status(tmp_path, env)
    assert doc["daemon"]["running"] is True and doc["daemon"]["mode"] == "paper"
    assert doc["daemon"]["pid"] == proc.pid
    assert {b["broker"] for b in doc["brokers"]} == {"kraken", "coinbase"}
    assert set(doc["brokers"][0]) >= {
        "broker", "account", "status", "funded", "total_equity", "available", "locked_in_positions",
        "open_positions", "cycles_total", "cycles_ok", "success_rate", "consecutive_errors", "last_error",
        "last_cycle_at",
    }
    assert all(b["total_equity"] == pytest.approx(1000, rel=0.05) for b in doc["brokers"])

    # Coinbase's feed goes bad: it fails; kraken keeps cycling all along.
    failed = eventually(lambda: (b := brokers(tmp_path / "data").get("coinbase")) and b["status"] == "failed" and b, 60, "coinbase failed")
    assert failed["consecutive_errors"] >= 5
    assert "MarketDataError" in failed["last_error"]
    kraken_at_failure = brokers(tmp_path / "data")["kraken"]
    code, doc = _status(tmp_path, env)
    assert code == 1  # running with a failed broker
    assert {b["broker"]: b["status"] for b in doc["brokers"]}["kraken"] == "healthy"

    # The feed recovers: one good cycle makes coinbase healthy again.
    eventually(lambda: brokers(tmp_path / "data").get("coinbase", {}).get("status") == "healthy", 60, "coinbase healthy")
    kraken_now = brokers(tmp_path / "data")["kraken"]
    assert kraken_now["cycles_ok"] > kraken_at_failure["cycles_ok"]
    assert kraken_now["consecutive_errors"] == 0 and kraken_now["cycles_ok"] == kraken_now["cycles_total"]
    code, _ = _status(tmp_path, env)
    assert code == 0

    # SIGTERM: exit 0 within 5 s, every broker recorded stopped, status says not running.
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    code, doc = _status(tmp_path, env)
    assert code == 2 and doc["daemon"]["running"] is False
    assert {b["status"] for b in doc["brokers"]} == {"stopped"}

    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()]
    names = [e["event"] for e in events]
    sources = {e["broker"]: e["source"] for e in events if e["event"] == "market_source"}
    assert sources["coinbase"].startswith("replay") and sources["kraken"].startswith("synthetic")
    assert "status_summary" in names and "daemon_stopped" in names
    assert all("broker" in e and "account" in e for e in events if e["event"] in ("cycle_done", "cycle_failed"))


def test_status_without_a_store_exits_3(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nija.status", "--data-dir", str(tmp_path / "nowhere")],
        capture_output=True, text=True, env=_env(tmp_path), timeout=30,
    )
    assert proc.returncode == 3
    assert "no store" in proc.stdout


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nija"], capture_output=True, text=True, timeout=30,
        env=_env(tmp_path, NIJA_CYCLE_SECONDS="abc"), cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nija: config error: NIJA_CYCLE_SECONDS='abc': Input should be a valid number, unable to parse string as a number"
    ]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_emergency_stop_file_refuses_start(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "EMERGENCY_STOP").touch()
    proc = subprocess.run([sys.executable, "-m", "nija"], capture_output=True, text=True, timeout=30, env=_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 3
    assert "EMERGENCY_STOP exists: refusing to start" in proc.stderr


def test_paper_demo_users_copy_every_master_fill(tmp_path: Path) -> None:
    env = _env(tmp_path, NIJA_CYCLE_SECONDS="0.1", NIJA_PAPER_BROKERS="kraken,coinbase")
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            def copied() -> bool:
                with reading(tmp_path / "data") as store:
                    if store is None:
                        return False
                    rows = store.copy_rows()
                    sides = {s.side for s, status in store.signals() if status == "done"}
                    return len([r for r in rows if r["status"] == "filled"]) >= 4 and sides == {"buy", "sell"}

            eventually(copied, 60, "copies of master buys and sells")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    code, doc = _status(tmp_path, env)
    copy = doc["copy"]
    assert copy["mode"] == "MASTER_FOLLOW" and copy["copies_last_hour"]["filled"] >= 4
    assert {u["user_id"] for u in copy["users"]} == {"demo_alice", "demo_bob"}
    assert all(u["total_equity"] and u["total_equity"] > 0 for u in copy["users"])
    assert copy["last_fanout_latency_ms"] is not None
    store = Store(tmp_path / "data" / "nija.db", readonly=True)
    users = {row["user_id"] for row in store.copy_rows()}
    assert users <= {"demo_alice", "demo_bob"} and users
    for sig, status in store.signals():
        assert status in ("done", "pending")
        rows = store.copy_rows(sig.signal_id)
        assert len({r["client_order_id"] for r in rows}) == len(rows)  # one deterministic id per (signal, user)
        assert all(r["broker"] == str(sig.broker) for r in rows)  # users mirror their own broker's master
    store.close()
