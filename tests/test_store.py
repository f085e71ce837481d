"""Store: migrations, intent-before-send rows, fills unique, restart survival, read-only access."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    ExecutionReport,
    Fill,
    HealthStatus,
    InvalidTransition,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
)
from nija.store import Store, StoreUnavailable
from nija.store.db import _MIGRATIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = len(_MIGRATIONS)


def _buy(cid: str = "nj0000000000000001") -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY,
        quantity=Decimal("50"), unit=QuantityUnit.QUOTE, client_order_id=cid, stop_price=Decimal("59000"),
    )


def _report(cid: str, qty: str = "0.001", trade: str = "t1") -> ExecutionReport:
    fill = Fill(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, trade_id=trade,
        client_order_id=cid, qty=Decimal(qty), price=Decimal("60000"), fee=Decimal("0.156"), ts_exchange=T0, ts_seen=T0,
    )
    return ExecutionReport(
        client_order_id=cid, status=OrderStatus.FILLED, filled_qty=Decimal(qty), avg_price=Decimal("60000"),
        fee=Decimal("0.156"), fills=(fill,),
    )


def _position(qty: str = "0.001") -> Position:
    return Position(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", qty=Decimal(qty), initial_qty=Decimal(qty),
        entry_price=Decimal("60000"), stop_price=Decimal("59000"), risk_per_unit=Decimal("1000"), opened_at=T0,
    )


def test_migrations_create_schema_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    first = Store(path)
    assert first.schema_version() == LATEST
    first.close()
    again = Store(path)  # re-opening runs no migration twice
    assert again.schema_version() == LATEST
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again.close()


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema 99"):
        Store(path)


def test_order_row_exists_before_send_and_follows_the_state_machine(store: Store) -> None:
    order = store.insert_order(_buy())
    assert order.status is OrderStatus.PENDING
    assert store.get_order(order.request.client_order_id).request.stop_price == Decimal("59000")
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_order(_buy())  # the deterministic id can never be sent twice
    store.mark_order(order.request.client_order_id, OrderStatus.UNKNOWN, error="timeout")
    store.apply_execution(_report(order.request.client_order_id), _position(), symbol_closed=False)
    stored = store.get_order(order.request.client_order_id)
    assert stored.status is OrderStatus.FILLED
    assert stored.filled_qty == Decimal("0.001")
    with pytest.raises(InvalidTransition):
        store.mark_order(order.request.client_order_id, OrderStatus.PENDING)


def test_fill_is_stored_once_and_position_moves_with_it(store: Store) -> None:
    cid = "nj0000000000000002"
    store.insert_order(_buy(cid))
    assert store.apply_execution(_report(cid), _position(), symbol_closed=False) is True
    # The same fill seen again (a reconciliation re-reads it) changes nothing.
    assert store.apply_execution(_report(cid), _position("5"), symbol_closed=False) is False
    assert len(store.fills(BrokerName.KRAKEN, "master")) == 1
    assert store.positions(BrokerName.KRAKEN, "master")[0].qty == Decimal("0.001")


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    s = Store(path)
    cid = "nj0000000000000003"
    s.insert_order(_buy(cid))
    s.apply_execution(_report(cid), _position(), symbol_closed=False)
    snap = BalanceSnapshot.from_parts(Decimal("950.1"), Decimal("60"), T0)
    s.record_equity(BrokerName.KRAKEN, "master", snap)
    s.save_health(BrokerHealth(broker=BrokerName.KRAKEN, account="master", status=HealthStatus.HEALTHY, cycles_total=3, cycles_ok=2))
    s.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": Decimal("1000")})
    s.daemon_started(123, "paper", 2.0)
    s.close()

    r = Store(path)
    assert r.get_order(cid).status is OrderStatus.FILLED
    assert r.positions(BrokerName.KRAKEN, "master") == [_position()]
    assert r.latest_equity(BrokerName.KRAKEN, "master") == snap
    [health] = r.health()
    assert (health.cycles_total, health.cycles_ok, health.success_rate) == (3, 2, pytest.approx(66.67, abs=0.01))
    assert r.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": Decimal("5")}) is False
    assert r.paper_balances(BrokerName.KRAKEN, "master") == {"USD": Decimal("1000")}
    assert r.daemon().pid == 123
    r.close()


def test_readonly_store(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        Store(tmp_path / "missing.db", readonly=True)
    path = tmp_path / "nija.db"
    Store(path).close()
    ro = Store(path, readonly=True)
    assert ro.health() == []
    with pytest.raises(sqlite3.OperationalError):
        ro.save_health(BrokerHealth(broker=BrokerName.OKX, account="master", status=HealthStatus.HEALTHY))
    ro.close()


def test_unreadable_store_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="unreadable"):
        Store(path, readonly=True)


def test_an_older_store_is_migrated_without_losing_data(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    conn = sqlite3.connect(path)  # a version-1 store as the first release wrote it
    conn.executescript(_MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO paper_balances VALUES ('kraken', 'master', 'USD', '123.45')")
    conn.commit()
    conn.close()
    upgraded = Store(path)
    assert upgraded.schema_version() == LATEST
    assert upgraded.paper_balances(BrokerName.KRAKEN, "master") == {"USD": Decimal("123.45")}
    assert upgraded.signals() == []
    upgraded.close()


def test_a_master_fill_and_its_signal_are_one_transaction(store: Store) -> None:
    from nija.models import TradeSignal

    cid = "nj0000000000000009"
    store.insert_order(_buy(cid))
    report = _report(cid)
    signal = TradeSignal.from_fill(report.fills[0], Decimal("10000"), Decimal("0"))
    assert store.apply_execution(report, _position(), False, [signal]) is True
    [(stored, status)] = store.signals()
    assert stored == signal and status == "pending"
    assert stored.quote_value == Decimal("60")
    # Replaying the same fill adds neither a fill nor a signal.
    store.apply_execution(report, _position(), False, [signal])
    assert len(store.signals()) == 1


def test_readonly_open_of_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema 1, this NIJA reads .*migrates it when it starts"):
        Store(path, readonly=True)
