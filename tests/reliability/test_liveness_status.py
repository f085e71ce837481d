"""Each broker loop writes its own liveness; status calls a silent loop `stalled` (exit 2) whatever
the main heartbeat says, and never shows `healthy` for a daemon that is gone."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.models import BrokerHealth, BrokerName, HealthStatus, utc_now
from nija.status import main
from nija.store import Store
from nija.trading import broker_loop
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from tests.fakes import StubMarket


def _status(tmp_path: Path) -> tuple[int, dict]:
    out = io.StringIO()
    code = main(["--data-dir", str(tmp_path / "data"), "--json"], out=out)
    return code, json.loads(out.getvalue())


def _healthy_daemon(tmp_path: Path, pid: int) -> Store:
    store = Store(tmp_path / "data" / "nija.db")
    store.daemon_started(pid, "paper", 1.0)  # fresh heartbeat, 1 s cycles
    for broker in (BrokerName.KRAKEN, BrokerName.COINBASE):
        store.save_health(BrokerHealth(broker=broker, account="master", status=HealthStatus.HEALTHY, funded=True,
                                       cycles_total=9, cycles_ok=9, last_cycle_at=utc_now()))
        store.record_alive(broker, "master")
    return store


def test_a_loop_silent_for_three_cycles_is_stalled_exit_2_whatever_the_heartbeat(tmp_path: Path) -> None:
    store = _healthy_daemon(tmp_path, os.getpid())
    assert _status(tmp_path)[0] == 0
    # kraken's thread died 60 s ago; the main thread's heartbeat is fresh.
    store._conn.execute("UPDATE loop_liveness SET alive_at = ? WHERE broker = 'kraken'",
                        ((utc_now() - timedelta(seconds=60)).isoformat(),))
    store.heartbeat()
    code, doc = _status(tmp_path)
    rows = {b["broker"]: b for b in doc["brokers"]}
    assert code == 2
    assert rows["kraken"]["status"] == "stalled" and rows["kraken"]["recorded_status"] == "healthy"
    assert rows["coinbase"]["status"] == "healthy"
    out = io.StringIO()
    main(["--data-dir", str(tmp_path / "data")], out=out)
    assert "kraken/master STALLED" in out.getvalue()
    store.close()


def test_a_gone_daemon_never_shows_a_healthy_broker(tmp_path: Path) -> None:
    _healthy_daemon(tmp_path, 2**22 + 12345).close()  # kill -9: no such process, rows still say healthy
    code, doc = _status(tmp_path)
    assert code == 2 and doc["daemon"]["running"] is False
    assert {b["status"] for b in doc["brokers"]} == {"stopped"}


def test_a_broker_loop_writes_its_own_liveness_while_it_waits(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_loop, "LIVENESS_SECONDS", 0.05)
    monkeypatch.setattr(broker_loop, "MANUAL_POLL_SECONDS", 0.05)
    broker = PaperBroker(BrokerName.KRAKEN, "master", store, StubMarket({"BTC/USD": "100"}),
                         fee_schedule(BrokerName.KRAKEN), starting_cash=Decimal(1000))
    config = LoopConfig(cycle_seconds=150.0, minimum_funded_balance=Decimal(10), max_concurrent_positions=3, data_dir=tmp_path)
    loop = BrokerLoop(broker, store, config, structlog.get_logger("t"), threading.Event())
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and loop.health.current.cycles_total < 1:
            time.sleep(0.02)
        first = store.liveness()[("kraken", "master")]
        time.sleep(0.3)  # one cycle of 150 s: the loop is waiting, and says it is alive
        assert store.liveness()[("kraken", "master")] > first
        assert loop.health.current.cycles_total == 1
    finally:
        loop.stop.set()
        thread.join(5)
    assert ("kraken", "master") not in store.liveness()  # stopped on purpose: never stalled
