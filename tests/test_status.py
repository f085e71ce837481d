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
    ExecutionReport,
    HealthStatus,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    TradeSignal,
    utc_now,
)
from nija.status import main
from nija.store import DriftRow, PositionChange, Recording, Store


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


def _telemetry_store(tmp_path: Path) -> Store:
    """Two followers: alice with four filled copies, a copied BTC position 20 % short of the
    scaled master and an exit waiting for a retry; bob with a copy held while the master is flat
    and an exit not sent yet."""
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True))
    store.save_copy_users([
        {"broker": "kraken", "user_id": user, "state": "healthy", "enabled": True, "equity": Decimal("1000"),
         "available": Decimal("500"), "equity_at": utc_now(), "last_error": None}
        for user in ("alice", "bob")
    ])
    figures = [(100.0, 1000.0, "10"), (300.0, 4000.0, "-5"), (200.0, 2000.0, "2.5"), (400.0, 3000.0, "0")]
    for n, (ack, fill, slippage) in enumerate(figures):
        store.open_copy_rows(f"s{n}", BrokerName.KRAKEN, {"alice": f"nj-a{n}"})
        store.record(Recording(ledger=[CopyLedgerEntry(
            f"s{n}", "alice", CopyStatus.FILLED, master_price=Decimal("50000"), ack_latency_ms=ack,
            fill_latency_ms=fill, slippage_bps=Decimal(slippage),
        )]))
    opened = utc_now() - timedelta(minutes=3)
    store.record(Recording(positions=[
        PositionChange(BrokerName.KRAKEN, "alice", "BTC/USD", Position(
            broker=BrokerName.KRAKEN, account="alice", symbol="BTC/USD", qty=Decimal("0.0012"),
            entry_price=Decimal("50050"), opened_at=opened, fees=Decimal("0.13"))),
        PositionChange(BrokerName.KRAKEN, "bob", "ETH/USD", Position(
            broker=BrokerName.KRAKEN, account="bob", symbol="ETH/USD", qty=Decimal("0.5"),
            entry_price=Decimal("3000"), opened_at=opened)),
    ]))
    store.save_drift([
        DriftRow("kraken", "alice", "BTC/USD", Decimal("0.0012"), Decimal("0.0015"), Decimal("-20"), True, utc_now()),
        DriftRow("kraken", "bob", "ETH/USD", Decimal("0.5"), Decimal("0"), None, True, utc_now()),
    ])
    exit_signal = TradeSignal(
        signal_id="sell-1", broker=BrokerName.KRAKEN, master_account="master", symbol="BTC/USD", side=Side.SELL,
        qty=Decimal("0.01"), price=Decimal("51000"), quote_value=Decimal("510"), master_equity=Decimal("10000"),
        master_position_before=Decimal("0.01"), fill_time=opened, trade_id="t-sell",
    )
    store.record(Recording(signals=[exit_signal]))
    store.open_copy_rows("sell-1", BrokerName.KRAKEN, {"alice": "nj-sa", "bob": "nj-sb"})
    store.record(Recording(ledger=[CopyLedgerEntry("sell-1", "alice", CopyStatus.WAITING, "TransientError: kraken 503")]))
    store._conn.execute("UPDATE copy_orders SET attempts = 2, retry_at = '2026-01-05T12:01:00+00:00' WHERE user_id = 'alice'"
                        " AND signal_id = 'sell-1'")
    store._conn.commit()
    return store


def test_each_followers_positions_drift_and_copy_quality_are_in_the_json(tmp_path: Path) -> None:
    _telemetry_store(tmp_path).close()
    doc = json.loads(_run(tmp_path, "--json")[1])["copy"]
    assert doc["quality_window"] == 100
    alice, bob = doc["users"]
    assert {"user_id", "broker", "state", "enabled", "total_equity", "available", "equity_at", "last_error",
            "state_at", "last_copy", "last_reason", "last_copy_at"} <= set(alice)  # the keys status had
    assert alice["quality"] == {
        "copies": 4, "ack_latency_p50_ms": 200.0, "ack_latency_p95_ms": 400.0, "fill_latency_p50_ms": 2000.0,
        "fill_latency_p95_ms": 4000.0, "mean_slippage_bps": 1.875,
    }
    assert alice["positions"] == [{"symbol": "BTC/USD", "qty": 0.0012, "entry_price": 50050.0, "fees": 0.13}]
    [alice_drift] = alice["drift"]
    assert (alice_drift["symbol"], alice_drift["copied_qty"], alice_drift["expected_qty"]) == ("BTC/USD", 0.0012, 0.0015)
    assert (alice_drift["drift_pct"], alice_drift["beyond"]) == (-20.0, True)
    assert bob["quality"]["copies"] == 0 and bob["quality"]["ack_latency_p50_ms"] is None
    assert [(d["symbol"], d["drift_pct"], d["beyond"]) for d in bob["drift"]] == [("ETH/USD", None, True)]
    waiting, unsent = doc["pending_exits"]
    assert (waiting["user_id"], waiting["symbol"], waiting["status"], waiting["attempts"], waiting["retry_at"]) == (
        "alice", "BTC/USD", "waiting", 2, "2026-01-05T12:01:00+00:00")
    assert waiting["why"] == "TransientError: kraken 503; next attempt at 2026-01-05T12:01:00+00:00"
    assert (unsent["user_id"], unsent["status"], unsent["attempts"], unsent["retry_at"]) == ("bob", "pending", 0, None)
    assert unsent["why"] == "not sent yet: due on the copy engine's next pass"


def test_the_table_shows_copy_quality_positions_drift_and_pending_exits(tmp_path: Path) -> None:
    _telemetry_store(tmp_path).close()
    code, text = _run(tmp_path)
    assert code == 0
    alice, bob = [line.split() for line in text.splitlines() if line.split()[:1] == ["kraken"]][1:3]
    # state, equity, positions, last copy, (its date and time), ack and fill p50/p95 ms, mean slippage bps
    assert alice[:6] + alice[8:11] == ["kraken", "alice", "healthy", "1,000.00", "1", "waiting", "200/400", "2000/4000", "+1.9"]
    assert bob[:6] + bob[8:11] == ["kraken", "bob", "healthy", "1,000.00", "1", "pending", "-", "-", "-"]
    assert "  kraken/alice  BTC/USD 0.0012 @ 50,050.00 (drift -20.00% of expected 0.0015, BEYOND TOLERANCE)" in text
    assert "  kraken/bob  ETH/USD 0.5 @ 3,000.00 (none expected, BEYOND TOLERANCE)" in text
    assert "pending exits (retried until done, never expired):" in text
    assert "TransientError: kraken 503; next attempt at 2026-01-05T12:01:00+00:00" in text


def test_an_order_whose_outcome_is_not_final_is_listed_with_its_client_order_id(tmp_path: Path) -> None:
    store = _store(tmp_path, (BrokerName.KRAKEN, HealthStatus.HEALTHY, True))
    request = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                           quantity=Decimal("0.002"), unit=QuantityUnit.BASE, client_order_id="nj0123456789abcd")
    store.insert_orders([request])
    store.record(Recording(reports=[ExecutionReport(client_order_id=request.client_order_id, status=OrderStatus.UNKNOWN,
                                                    error="TransientError: answer lost")]))
    store.close()
    code, text = _run(tmp_path)
    assert code == 0  # an order awaiting its lookup is normal trading
    assert "orders not final yet" in text and "nj0123456789abcd" in text and "unknown" in text
    [order] = json.loads(_run(tmp_path, "--json")[1])["orders_open"]
    assert order["client_order_id"] == "nj0123456789abcd" and order["status"] == "unknown"
    assert (order["broker"], order["side"], order["quantity"], order["filled_qty"]) == ("kraken", "sell", 0.002, 0)
    assert order["error"] == "TransientError: answer lost" and order["age_s"] >= 0
