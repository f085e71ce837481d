"""Store: migrations, intent-before-send rows, one atomic recording (fills stored once, a master
fill and its signal together), restart survival, read-only access."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nija.copytrade.telemetry import percentile
from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    ExecutionReport,
    Fill,
    HealthStatus,
    InvalidTransition,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    SignalKind,
    SignalStatus,
    TradeSignal,
)
from nija.store import (
    ConcurrentWrite,
    DriftRow,
    PositionChange,
    Recording,
    Store,
    StoreUnavailable,
    StrategyState,
)
from nija.store.schema import MIGRATIONS
from nija.strategy.apex import ExitState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = len(MIGRATIONS)
KRAKEN = BrokerName.KRAKEN


def _buy(cid: str = "nj0000000000000001") -> OrderRequest:
    return OrderRequest(
        broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY,
        quantity=Decimal("50"), unit=QuantityUnit.QUOTE, client_order_id=cid, stop_price=Decimal("59000"),
    )


def _fill(cid: str, qty: str = "0.001", trade: str = "t1") -> Fill:
    return Fill(
        broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, trade_id=trade,
        client_order_id=cid, qty=Decimal(qty), price=Decimal("60000"), fee=Decimal("0.156"), ts_exchange=T0, ts_seen=T0,
    )


def _report(cid: str, qty: str = "0.001", status: OrderStatus = OrderStatus.FILLED) -> ExecutionReport:
    return ExecutionReport(
        client_order_id=cid, status=status, filled_qty=Decimal(qty), avg_price=Decimal("60000"), fee=Decimal("0.156"),
    )


def _position(qty: str = "0.001") -> Position:
    return Position(
        broker=KRAKEN, account="master", symbol="BTC/USD", qty=Decimal(qty), entry_price=Decimal("60000"),
        opened_at=T0, realised_pnl=Decimal("-0.156"), fees=Decimal("0.156"),
    )


def _filled(cid: str, position_qty: str = "0.001", signals: tuple[TradeSignal, ...] = (), ledger=()) -> Recording:
    """What a filled buy of 0.001 BTC writes: the order's move, its fill, the position it opened."""
    return Recording(
        reports=[_report(cid)], fills=[_fill(cid)],
        positions=[PositionChange(KRAKEN, "master", "BTC/USD", _position(position_qty))],
        signals=signals, ledger=ledger,
    )


def _nothing_written(store: Store, cid: str) -> None:
    assert store.get_order(cid).status is OrderStatus.PENDING
    assert store.fills(KRAKEN, "master") == []
    assert store.positions(KRAKEN, "master") == []
    assert store.signals() == []


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
    cid = "nj0000000000000001"
    store.insert_orders([_buy(cid)])
    assert store.get_order(cid).status is OrderStatus.PENDING
    assert store.get_order(cid).request.stop_price == Decimal("59000")
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_orders([_buy(cid)])  # the deterministic id can never be sent twice
    store.record(Recording(reports=[ExecutionReport(client_order_id=cid, status=OrderStatus.UNKNOWN, error="timeout")]))
    assert (store.get_order(cid).status, store.get_order(cid).error) == (OrderStatus.UNKNOWN, "timeout")
    store.record(_filled(cid))
    stored = store.get_order(cid)
    assert stored.status is OrderStatus.FILLED
    assert (stored.filled_qty, stored.avg_price, stored.fee) == (Decimal("0.001"), Decimal("60000"), Decimal("0.156"))
    assert stored.error == "timeout"  # a report without an error keeps the one recorded
    # An illegal move raises and writes nothing, not even the fill recorded with it.
    late = _fill(cid, trade="t2")
    with pytest.raises(InvalidTransition):
        store.record(Recording(reports=[ExecutionReport(client_order_id=cid, status=OrderStatus.PENDING)], fills=[late]))
    assert store.get_order(cid).status is OrderStatus.FILLED
    assert [f.trade_id for f in store.fills(KRAKEN, "master")] == ["t1"]
    with pytest.raises(KeyError):  # an answer for an order never stored
        store.record(Recording(reports=[_report("nj-never-stored")]))


def test_a_stored_order_keeps_its_base_fee_and_fill_its_fee_currency(store: Store) -> None:
    cid = "nj0000000000000004"
    store.insert_orders([_buy(cid)])
    fill = _fill(cid).model_copy(update={"fee_in_base": Decimal("0.000001"), "fee_currency": "BTC"})
    report = _report(cid).model_copy(update={"fee_in_base": Decimal("0.000001")})
    store.record(Recording(reports=[report], fills=[fill]))
    assert store.get_order(cid).fee_in_base == Decimal("0.000001")
    assert store.fills(KRAKEN, "master") == [fill]
    assert store.known_fills(["t1", "t9"]) == {("kraken", "master", "t1")}  # any account, one query
    assert store.planned_stop(KRAKEN, "master", "BTC/USD") == Decimal("59000")


def test_fill_is_stored_once_and_position_moves_with_it(store: Store) -> None:
    cid = "nj0000000000000002"
    store.insert_orders([_buy(cid)])
    store.record(_filled(cid))
    # The same fill counted again (another writer, or a caller that did not filter known trade
    # ids) raises, and nothing of that recording is written: not the position, not the order.
    with pytest.raises(ConcurrentWrite):
        store.record(Recording(
            reports=[_report(cid, qty="5")], fills=[_fill(cid)],
            positions=[PositionChange(KRAKEN, "master", "BTC/USD", _position("5"))],
        ))
    assert len(store.fills(KRAKEN, "master")) == 1
    assert store.positions(KRAKEN, "master") == [_position()]
    assert store.get_order(cid).filled_qty == Decimal("0.001")


def test_a_position_closed_by_a_recording_drops_its_strategy_state(store: Store) -> None:
    cid = "nj0000000000000005"
    store.insert_orders([_buy(cid)])
    store.record(_filled(cid))
    store.save_strategy_state(KRAKEN, "master", "BTC/USD", StrategyState({"stop_price": "59000", "tp_stage": 0}))
    store.save_strategy_state(KRAKEN, "master", "ETH/USD", StrategyState({"stop_price": "1"}))
    assert store.strategy_states(KRAKEN, "master")["BTC/USD"] == StrategyState({"stop_price": "59000", "tp_stage": 0})
    assert store.positions_of(KRAKEN, "BTC/USD", ["master", "alice"]) == {"master": _position()}
    store.record(Recording(positions=[PositionChange(KRAKEN, "master", "BTC/USD", None)]))
    assert store.positions(KRAKEN, "master") == []
    assert set(store.strategy_states(KRAKEN, "master")) == {"ETH/USD"}  # only the closed symbol's state goes
    store.forget_position(KRAKEN, "master", "ETH/USD")
    assert store.strategy_states(KRAKEN, "master") == {}


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    s = Store(path)
    cid = "nj0000000000000003"
    s.insert_orders([_buy(cid)])
    s.record(_filled(cid))
    pending = StrategyState({"stop_price": "59000"}, "nj-exit", {"stop_price": "60000", "tp_stage": 1})
    s.save_strategy_state(KRAKEN, "master", "BTC/USD", pending)
    snap = BalanceSnapshot.from_parts(Decimal("950.1"), Decimal("60"), T0)
    s.record_equity(KRAKEN, "master", snap)
    s.save_health(BrokerHealth(broker=KRAKEN, account="master", status=HealthStatus.HEALTHY, cycles_total=3, cycles_ok=2))
    s.seed_paper_account(KRAKEN, "master", {"USD": Decimal("1000")})
    s.daemon_started(123, "paper", 2.0)
    s.close()

    r = Store(path)
    assert r.get_order(cid).status is OrderStatus.FILLED
    assert r.positions(KRAKEN, "master") == [_position()]
    assert r.fills(KRAKEN, "master") == [_fill(cid)]
    assert r.strategy_states(KRAKEN, "master") == {"BTC/USD": pending}
    assert r.latest_equity(KRAKEN, "master") == snap
    [health] = r.health()
    assert (health.cycles_total, health.cycles_ok, health.success_rate) == (3, 2, pytest.approx(66.67, abs=0.01))
    assert r.seed_paper_account(KRAKEN, "master", {"USD": Decimal("5")}) is False
    assert r.paper_balances(KRAKEN, "master") == {"USD": Decimal("1000")}
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
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO paper_balances VALUES ('kraken', 'master', 'USD', '123.45')")
    conn.commit()
    conn.close()
    upgraded = Store(path)
    assert upgraded.schema_version() == LATEST
    assert upgraded.paper_balances(KRAKEN, "master") == {"USD": Decimal("123.45")}
    assert upgraded.signals() == []
    upgraded.close()


def test_a_schema_5_position_moves_its_exit_state_to_strategy_state(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    conn = sqlite3.connect(path)  # a version-5 store, positions still holding the strategy's exit state
    conn.executescript(";\n".join(MIGRATIONS[:5]) + ";\nPRAGMA user_version = 5;")
    conn.execute(
        "INSERT INTO positions (broker, account, symbol, qty, initial_qty, entry_price, stop_price, risk_per_unit,"
        " tp_stage, trailing_stop, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        ("kraken", "master", "BTC/USD", "0.5", "1.25", "60000.5", "59000", "1000.5", 1, "61000.25",
         T0.isoformat(), T0.isoformat()),
    )
    conn.execute(
        "INSERT INTO positions (broker, account, symbol, qty, initial_qty, entry_price, stop_price, risk_per_unit,"
        " tp_stage, trailing_stop, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        ("kraken", "master", "ETH/USD", "2", "2", "3000", "2900", "100", 0, None, T0.isoformat(), T0.isoformat()),
    )
    conn.execute(
        "INSERT INTO orders (client_order_id, broker, account, symbol, side, quantity, unit, reason, stop_price, status,"
        " filled_qty, avg_price, fee, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ("nj-old", "kraken", "master", "BTC/USD", "buy", "100", "quote", "", "59000", "filled", "0.5", "60000",
         "0.1", T0.isoformat(), T0.isoformat()),
    )
    conn.commit()
    conn.close()

    upgraded = Store(path)
    assert upgraded.schema_version() == LATEST
    assert upgraded.positions(KRAKEN, "master") == [
        Position(broker=KRAKEN, account="master", symbol="BTC/USD", qty=Decimal("0.5"),
                 entry_price=Decimal("60000.5"), opened_at=T0),
        Position(broker=KRAKEN, account="master", symbol="ETH/USD", qty=Decimal("2"),
                 entry_price=Decimal("3000"), opened_at=T0),
    ]
    states = upgraded.strategy_states(KRAKEN, "master")
    assert states["BTC/USD"] == StrategyState({
        "stop_price": "59000", "risk_per_unit": "1000.5", "initial_qty": "1.25", "tp_stage": 1,
        "trailing_stop": "61000.25",
    })
    assert states["ETH/USD"].state == {
        "stop_price": "2900", "risk_per_unit": "100", "initial_qty": "2", "tp_stage": 0, "trailing_stop": None,
    }
    old = upgraded.get_order("nj-old")
    assert (old.status, old.filled_qty, old.fee_in_base) == (OrderStatus.FILLED, Decimal("0.5"), Decimal(0))
    columns = {row[1] for row in upgraded._query("PRAGMA table_info(positions)")}
    assert not columns & {"initial_qty", "stop_price", "risk_per_unit", "tp_stage", "trailing_stop"}
    upgraded.close()
    # the migrated exit state reads back as APEX's own
    state = ExitState.from_record(states["BTC/USD"].state)
    assert (state.stop_price, state.risk_per_unit, state.initial_qty, state.tp_stage, state.trailing_stop) == (
        Decimal("59000"), Decimal("1000.5"), Decimal("1.25"), 1, Decimal("61000.25"))


def test_a_master_fill_and_its_signal_are_one_transaction(store: Store) -> None:
    cid = "nj0000000000000009"
    store.insert_orders([_buy(cid)])
    signal = TradeSignal.from_fill(_fill(cid), Decimal("10000"), Decimal("0"))
    # A failure anywhere inside the recording (here its last part, a ledger row that does not
    # exist) leaves nothing: no order move, no fill, no position, no signal.
    broken = CopyLedgerEntry(signal_id="no-such-signal", user_id="alice", status=CopyStatus.FILLED)
    with pytest.raises(KeyError):
        store.record(_filled(cid, signals=(signal,), ledger=(broken,)))
    _nothing_written(store, cid)

    store.record(_filled(cid, signals=(signal,)))
    [(stored, status)] = store.signals()
    assert stored == signal and status is SignalStatus.PENDING
    assert stored.quote_value == Decimal("60")
    assert [f.trade_id for f in store.fills(KRAKEN, "master")] == ["t1"]
    assert store.positions(KRAKEN, "master") == [_position()]
    # Replaying the same fill adds neither a fill nor a signal.
    with pytest.raises(ConcurrentWrite):
        store.record(_filled(cid, signals=(signal,)))
    assert len(store.signals()) == 1
    assert len(store.fills(KRAKEN, "master")) == 1


def test_signals_and_ledger_rows_move_only_along_their_state_machines(store: Store) -> None:
    cid = "nj0000000000000010"
    store.insert_orders([_buy(cid)])
    signal = TradeSignal.from_fill(_fill(cid), Decimal("10000"), Decimal("0"))
    store.record(_filled(cid, signals=(signal,)))
    assert store.open_copy_rows(signal.signal_id, KRAKEN, {"alice": "nj-a", "bob": "nj-b"}) == {
        "alice": CopyStatus.PENDING, "bob": CopyStatus.PENDING}
    store.record(Recording(ledger=[
        CopyLedgerEntry(signal.signal_id, "alice", CopyStatus.SENT, size_asked=Decimal("5"), unit=QuantityUnit.QUOTE),
        CopyLedgerEntry(signal.signal_id, "bob", CopyStatus.SKIPPED, reason="below minimum"),
    ]))
    store.record(Recording(ledger=[
        CopyLedgerEntry(signal.signal_id, "alice", CopyStatus.FILLED, size_filled=Decimal("0.0001")),
    ]))
    rows = {r["user_id"]: r for r in store.copy_rows(signal.signal_id)}
    assert (rows["alice"]["status"], rows["alice"]["size_asked"], rows["alice"]["size_filled"]) == ("filled", "5", "0.0001")
    with pytest.raises(InvalidTransition):  # a final row never moves; the whole recording is refused
        store.record(Recording(ledger=[
            CopyLedgerEntry(signal.signal_id, "bob", CopyStatus.FILLED),
        ]))
    assert {r["user_id"]: r["status"] for r in store.copy_rows(signal.signal_id)} == {"alice": "filled", "bob": "skipped"}
    store.finish_signal(signal.signal_id, SignalStatus.DONE)
    with pytest.raises(InvalidTransition):
        store.finish_signal(signal.signal_id, SignalStatus.PENDING)
    assert store.signals() == [(signal, SignalStatus.DONE)]


def test_readonly_open_of_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema 1, this NIJA reads .*migrates it when it starts"):
        Store(path, readonly=True)


def _copies(store: Store, user: str, figures: list[tuple[float | None, float | None, str | None]]) -> None:
    """One ledger row per (ack ms, fill ms, slippage bps), a signal each, oldest first."""
    for n, (ack, fill, slippage) in enumerate(figures):
        signal_id = f"s-{user}-{n:03d}"
        store.open_copy_rows(signal_id, KRAKEN, {user: f"nj-{signal_id}"})
        store.record(Recording(ledger=[CopyLedgerEntry(
            signal_id, user, CopyStatus.FILLED if fill is not None else CopyStatus.SENT, master_price=Decimal("100"),
            ack_latency_ms=ack, fill_latency_ms=fill, slippage_bps=_dec_or_none(slippage),
        )]))


def _dec_or_none(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def test_ledger_rows_keep_their_quality_figures_when_a_later_answer_has_none(store: Store) -> None:
    store.open_copy_rows("s1", KRAKEN, {"alice": "nj-a"})
    store.record(Recording(ledger=[CopyLedgerEntry("s1", "alice", CopyStatus.SENT, latency_ms=120.5,
                                                   master_price=Decimal("50000"), ack_latency_ms=120.5)]))
    store.record(Recording(ledger=[CopyLedgerEntry("s1", "alice", CopyStatus.FILLED, price=Decimal("50050"),
                                                   fill_latency_ms=842.0, slippage_bps=Decimal("10"))]))
    [row] = store.copy_rows("s1")
    assert (row["master_price"], row["price"], row["slippage_bps"]) == ("50000", "50050", "10")
    assert (row["ack_latency_ms"], row["fill_latency_ms"], row["latency_ms"]) == (120.5, 842.0, 120.5)


def test_copy_quality_covers_each_followers_latest_copies(store: Store) -> None:
    _copies(store, "alice", [(100.0, 1000.0, "10"), (300.0, 4000.0, "-5"), (200.0, 2000.0, "2.5"), (400.0, 3000.0, "0")])
    _copies(store, "bob", [(50.0, None, None)])  # acknowledged, fill not read yet
    store.open_copy_rows("s-skip", KRAKEN, {"alice": "nj-skip"})  # a skip is no copy
    store.record(Recording(ledger=[CopyLedgerEntry("s-skip", "alice", CopyStatus.SKIPPED, "below minimum")]))
    alice, bob = store.copy_quality()
    assert (alice.user_id, alice.copies, alice.ack_latency_p50_ms, alice.ack_latency_p95_ms) == ("alice", 4, 200.0, 400.0)
    assert (alice.fill_latency_p50_ms, alice.fill_latency_p95_ms, alice.mean_slippage_bps) == (2000.0, 4000.0, Decimal("1.875"))
    assert (bob.copies, bob.ack_latency_p50_ms, bob.ack_latency_p95_ms) == (1, 50.0, 50.0)
    assert (bob.fill_latency_p50_ms, bob.fill_latency_p95_ms, bob.mean_slippage_bps) == (None, None, None)
    [latest_two, _] = store.copy_quality(window=2)  # alice's last two copies only
    assert (latest_two.copies, latest_two.ack_latency_p50_ms, latest_two.ack_latency_p95_ms) == (2, 200.0, 400.0)
    assert (latest_two.fill_latency_p50_ms, latest_two.fill_latency_p95_ms) == (2000.0, 3000.0)
    assert latest_two.mean_slippage_bps == Decimal("1.25")


def test_copy_quality_percentiles_are_telemetrys_nearest_rank_over_the_last_100(store: Store) -> None:
    acks = [float((n * 37) % 211) for n in range(130)]  # 130 copies: the oldest 30 fall outside
    fills = [float((n * 53) % 307 + 500) for n in range(130)]
    _copies(store, "carol", [(a, f, str(n % 7 - 3)) for n, (a, f) in enumerate(zip(acks, fills))])
    [carol] = store.copy_quality()
    last_acks, last_fills = acks[-100:], fills[-100:]
    assert carol.copies == 100
    assert (carol.ack_latency_p50_ms, carol.ack_latency_p95_ms) == (percentile(last_acks, 50), percentile(last_acks, 95))
    assert (carol.fill_latency_p50_ms, carol.fill_latency_p95_ms) == (percentile(last_fills, 50), percentile(last_fills, 95))
    assert carol.mean_slippage_bps == Decimal(sum(n % 7 - 3 for n in range(30, 130))) / 100


def test_drift_rows_are_replaced_by_each_pass(store: Store) -> None:
    checked = datetime(2026, 1, 5, 12, tzinfo=UTC)
    store.save_drift([
        DriftRow("kraken", "alice", "BTC/USD", Decimal("0.0012"), Decimal("0.0015"), Decimal("-20"), True, checked),
        DriftRow("kraken", "alice", "ETH/USD", Decimal("0.02"), Decimal("0"), None, True, checked),
    ])
    assert [(r.symbol, r.copied_qty, r.expected_qty, r.drift_pct, r.beyond) for r in store.drift_rows()] == [
        ("BTC/USD", Decimal("0.0012"), Decimal("0.0015"), Decimal("-20"), True),
        ("ETH/USD", Decimal("0.02"), Decimal("0"), None, True),
    ]
    later = checked + timedelta(minutes=1)
    store.save_drift([DriftRow("kraken", "alice", "BTC/USD", Decimal("0.0015"), Decimal("0.0015"), Decimal("0"), False, later)])
    assert store.drift_rows() == [
        DriftRow("kraken", "alice", "BTC/USD", Decimal("0.0015"), Decimal("0.0015"), Decimal("0"), False, later)]


def test_pending_exits_are_the_open_rows_of_sell_signals(store: Store) -> None:
    def signal(trade: str, side: Side) -> TradeSignal:
        return TradeSignal(
            signal_id=f"sig-{trade}", broker=KRAKEN, master_account="master", symbol="BTC/USD", side=side,
            qty=Decimal("0.01"), price=Decimal("60000"), quote_value=Decimal("600"), master_equity=Decimal("10000"),
            master_position_before=Decimal("0.01"), fill_time=T0, trade_id=trade,
        )
    buy, sell = signal("t-buy", Side.BUY), signal("t-sell", Side.SELL)
    store.record(Recording(signals=[buy, sell]))
    store.open_copy_rows(buy.signal_id, KRAKEN, {"alice": "nj-b-a"})
    store.open_copy_rows(sell.signal_id, KRAKEN, {"alice": "nj-s-a", "bob": "nj-s-b", "carol": "nj-s-c"})
    store.record(Recording(ledger=[
        CopyLedgerEntry(sell.signal_id, "alice", CopyStatus.WAITING, "TransientError: kraken 503"),
        CopyLedgerEntry(sell.signal_id, "carol", CopyStatus.FILLED),
    ]))
    retry_at = T0 + timedelta(seconds=40)
    store._conn.execute("UPDATE copy_orders SET attempts = 2, retry_at = ? WHERE client_order_id = 'nj-s-a'",
                        (retry_at.isoformat(),))
    store._conn.commit()
    alice, bob = store.pending_exits()  # the buy's open row and carol's filled exit are not pending exits
    assert (alice.user_id, alice.symbol, alice.status, alice.reason, alice.attempts, alice.retry_at) == (
        "alice", "BTC/USD", CopyStatus.WAITING, "TransientError: kraken 503", 2, retry_at)
    assert (bob.user_id, bob.status, bob.reason, bob.attempts, bob.retry_at, bob.kind) == (
        "bob", CopyStatus.PENDING, None, 0, None, SignalKind.MASTER)


def test_no_aggregate_shadows_another_ones_method() -> None:
    # `Store` is the sum of its aggregates (orders, accounts, followers, notifications, ...): a
    # method one of them adds under a name another already has silently replaces it for every
    # caller of the other (a notifier that asked for the newest fill got another's signature).
    owners: dict[str, list[str]] = {}
    for part in Store.__mro__[1:]:
        if part.__module__.startswith("nija.store"):
            for name, value in vars(part).items():
                if callable(value) and not name.startswith("__"):
                    owners.setdefault(name, []).append(part.__name__)
    assert {name: parts for name, parts in owners.items() if len(parts) > 1} == {}
