"""Status exit codes from store contents, without a daemon."""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    HealthStatus,
    utc_now,
)
from nija.status import main
from nija.store import Recording, Store


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--data-dir", str(tmp_path / "data"), *args], out=out)
    return code, out.getvalue()


def _store(tmp_path: Path, *statuses: tuple[BrokerName, HealthStatus, bool]) -> Store:
    store = Store(tmp_path / "data" / "nija.db")
    store.daemon_started(os.getpid(), "paper", 150.0)
    for broker, status, funded in statuses:
        store.save_health(BrokerHealth(broker=broker, account="master", status=status, funded=funded, cycles_total=4, cycles_ok=3))
        store.record_equity(broker, "master", BalanceSnapshot.from_parts(Decimal("900"), Decimal("100.5"), utc_now()))
    return store


def test_all_healthy_is_0_and_json_has_the_stable_keys(tmp_path: Path) -> None:
    _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True)).close()
    code, text = _run(tmp_path, "--json")
    doc = json.loads(text)
    assert code == 0
    assert set(doc["daemon"]) >= {"running", "pid", "mode", "heartbeat_age_s", "started_at"}
    [broker] = doc["brokers"]
    assert broker["total_equity"] == 1000.5 and broker["available"] == 900 and broker["locked_in_positions"] == 100.5
    assert broker["success_rate"] == 75.0


def test_degraded_failed_or_unfunded_broker_is_1(tmp_path: Path) -> None:
    for status in (HealthStatus.DEGRADED, HealthStatus.FAILED, HealthStatus.UNFUNDED):
        _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True), (BrokerName.OKX, status, status != HealthStatus.UNFUNDED)).close()
        assert _run(tmp_path)[0] == 1


def test_no_funded_broker_stale_heartbeat_or_dead_pid_is_2(tmp_path: Path) -> None:
    _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.UNFUNDED, False)).close()
    assert _run(tmp_path)[0] == 2
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True))
    store._conn.execute("UPDATE daemon SET heartbeat_at = ?", ((utc_now() - timedelta(seconds=451)).isoformat(),))
    store.close()
    code, text = _run(tmp_path)
    assert code == 2 and "stale" in text
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True))
    store.daemon_started(2**22 + 12345, "paper", 150.0)  # no such process
    store.close()
    assert _run(tmp_path)[0] == 2


def test_table_output_names_every_broker(tmp_path: Path) -> None:
    _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True), (BrokerName.COINBASE, HealthStatus.DEGRADED, True)).close()
    code, text = _run(tmp_path)
    assert code == 1
    assert "daemon: running" in text and "kraken" in text and "coinbase" in text and "degraded" in text
    assert "1,000.50" in text


def test_a_halted_broker_is_1_and_its_reason_is_shown(tmp_path: Path) -> None:
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True), (BrokerName.OKX, HealthStatus.HEALTHY, True))
    reason = "halted: drawdown 10.52% from high-water mark 1000.00 exceeds MAX_DRAWDOWN_PCT=10"
    store.save_health(BrokerHealth(broker=BrokerName.KRAKEN, account="master", status=HealthStatus.HALTED, funded=True, note=reason))
    store.close()
    code, text = _run(tmp_path)
    assert code == 1
    assert f"kraken/master HALTED: {reason}" in text
    doc = json.loads(_run(tmp_path, "--json")[1])
    assert {b["broker"]: b["note"] for b in doc["brokers"]} == {"kraken": reason, "okx": None}


def test_entries_a_cheaper_broker_listed_are_reported(tmp_path: Path) -> None:
    store = _store(tmp_path, (BrokerName.COINBASE, HealthStatus.HEALTHY, True), (BrokerName.OKX, HealthStatus.HEALTHY, True))
    store.record_entry_cost("nj01", BrokerName.COINBASE, "master", "BTC/USD", Decimal("0.014"), (BrokerName.OKX, Decimal("0.0025")))
    store.record_entry_cost("nj02", BrokerName.OKX, "master", "ETH/USDT", Decimal("0.0025"), None)
    store.close()
    code, text = _run(tmp_path)
    assert code == 0
    assert "entries a cheaper broker also listed" in text and "BTC/USD" in text and "1.40%" in text and "0.25%" in text
    doc = json.loads(_run(tmp_path, "--json")[1])
    [entry] = doc["fee_routing"]
    assert (entry["symbol"], entry["broker"], entry["cheaper_broker"]) == ("BTC/USD", "coinbase", "okx")
    assert entry["round_trip_pct"] == 1.4 and entry["cheaper_round_trip_pct"] == 0.25


def test_copy_users_are_merged_from_their_registration_and_the_ledger(tmp_path: Path) -> None:
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True))
    store.save_copy_users([
        {"broker": "kraken", "user_id": "alice", "state": "healthy", "enabled": True, "equity": Decimal("1234.5"),
         "available": Decimal("0"), "equity_at": utc_now(), "last_error": None},
    ])
    store.open_copy_rows("s1", BrokerName.KRAKEN, {"alice": "nj-a", "carol": "nj-c"})
    store.record(Recording(ledger=[
        CopyLedgerEntry("s1", "alice", CopyStatus.FILLED, latency_ms=12.5),
        CopyLedgerEntry("s1", "carol", CopyStatus.SKIPPED, reason="below min", user_equity=Decimal("0")),
    ]))
    store.close()
    doc = json.loads(_run(tmp_path, "--json")[1])["copy"]
    assert doc["copies_last_hour"] == {"filled": 1, "skipped": 1} and doc["last_fanout_latency_ms"] == 12.5
    alice, carol = doc["users"]
    assert (alice["user_id"], alice["state"], alice["total_equity"], alice["available"]) == ("alice", "healthy", 1234.5, 0.0)
    assert (alice["last_copy"], alice["last_reason"]) == ("filled", None)
    # carol is known only from the ledger: no registration, her equity as the ledger last saw it (zero is a value)
    assert (carol["user_id"], carol["state"], carol["enabled"], carol["total_equity"]) == ("carol", None, None, 0.0)
    assert (carol["last_copy"], carol["last_reason"]) == ("skipped", "below min") and carol["last_copy_at"]
