"""The store under pressure: a write lock held by another process for 25 s, or a full disk, fails
the cycle (retried) instead of crashing the daemon, and leaves nothing half-written.

Before issue 11, `sqlite3.OperationalError` escaped the store raw: the main thread's heartbeat
died of "database is locked" (the whole daemon with it), a broker loop died recording its failed
cycle's health, and a COMMIT that failed (disk full) left its connection inside the transaction.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nija.store import Store, StoreBusy, StoreUnavailable
from tests.e2e.support import eventually, reading

ENV_PREFIXES = ("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_")
LOCK_SECONDS = 25.0


def _ok_cycles(data: Path) -> int:
    with reading(data) as store:
        if store is None:
            return 0
        try:
            return next((h.cycles_ok for h in store.health() if h.broker == "kraken"), 0)
        except Exception:  # noqa: BLE001 - a write in progress: try again on the next poll
            return 0


def test_write_lock_held_25s_fails_cycles_not_the_daemon(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(NIJA_DATA_DIR=str(data), NIJA_CYCLE_SECONDS="0.25", NIJA_PAPER_BROKERS="kraken",
               NIJA_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "daemon.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: _ok_cycles(data) >= 2, 40, "two good cycles")
        holder = sqlite3.connect(data / "nija.db", isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        end = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < end:
            assert proc.poll() is None, f"daemon died under a held write lock: {log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        ok_before = _ok_cycles(data)
        holder.execute("ROLLBACK")
        holder.close()
        eventually(lambda: _ok_cycles(data) > ok_before, 30, "a good cycle after the lock is released")
        assert proc.poll() is None
        text = log_path.read_text()
        assert '"event": "cycle_failed"' in text and "StoreBusy" in text  # failed, retried, not crashed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


class _FullDiskAtCommit:
    """A connection whose COMMIT fails as SQLite's does when the disk fills at the last moment."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_full_disk_at_commit_rolls_back_and_the_next_write_works(tmp_path: Path) -> None:
    store = Store(tmp_path / "nija.db")
    store.seed_paper_account("kraken", "master", {"USD": Decimal(1000)})
    raw = store._conn
    store._local.conn = _FullDiskAtCommit(raw)
    with pytest.raises(StoreUnavailable, match="database or disk is full"):
        store.publish_paper_prices("kraken", {"BTC/USD": Decimal(60000)}, 1)
    assert not raw.in_transaction  # rolled back: the connection is ready for the next cycle
    store._local.conn = raw
    assert store.paper_prices("kraken") == ({}, 0)  # nothing half-written
    store.publish_paper_prices("kraken", {"BTC/USD": Decimal(60000)}, 2)  # the retry goes through
    assert store.paper_prices("kraken") == ({"BTC/USD": Decimal(60000)}, 2)
    store.close()


def test_busy_store_is_one_error_and_health_writes_never_raise(tmp_path: Path) -> None:
    store = Store(tmp_path / "nija.db")
    store.daemon_started(1, "paper", 1.0)
    holder = sqlite3.connect(tmp_path / "nija.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store._conn.execute("PRAGMA busy_timeout=100")  # the daemon waits 10 s; the test needn't
    with pytest.raises(StoreBusy):
        store.publish_paper_prices("kraken", {"BTC/USD": Decimal(1)}, 1)
    assert store.heartbeat() is False  # the main thread goes on; status sees the heartbeat age
    holder.execute("ROLLBACK")
    holder.close()
    assert store.heartbeat() is True
    store.close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (needs root and mount)."""
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr!r}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)  # never leave a mount behind


def test_real_full_disk_fails_the_write_whole(tiny_disk: Path) -> None:
    store = Store(tiny_disk / "nija.db")
    try:
        store.seed_paper_account("kraken", "master", {"USD": Decimal(1000)})
        filler = tiny_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass  # the disk is full
        finally:
            os.close(fd)
        prices = {f"C{i}/USD": Decimal(i) for i in range(5000)}  # far more than the space left
        with pytest.raises(StoreUnavailable, match="full"):
            store.publish_paper_prices("kraken", prices, 1)
        assert store.paper_prices("kraken") == ({}, 0)  # nothing half-written
        filler.unlink()
        store.publish_paper_prices("kraken", prices, 2)  # space again: the same store goes on
        assert len(store.paper_prices("kraken")[0]) == 5000
    finally:
        store.close()
