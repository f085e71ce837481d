"""Order execution: intent stored before send, definitive refusals recorded, ambiguous answers
looked up by client order id (never re-sent), reconciliation after a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import structlog

from nija.brokers.base import OrderRejected, TransientError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.models import (
    BrokerName,
    ExecutionReport,
    Fill,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
)
from nija.store import Store
from nija.trading.orders import OrderExecutor, fills_of, position_after_fill
from tests.fakes import StubMarket

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOG = structlog.get_logger("test")


class FlakyPaper(PaperBroker):
    """Fills the order, then loses the answer (like a timeout after the venue accepted it)."""

    def __init__(self, *args, lose_answer: bool = True, refuse: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lose_answer = lose_answer
        self.refuse = refuse
        self.sent: list[str] = []
        self.seen_in_store_before_send: list[bool] = []

    def place_order(self, request: OrderRequest) -> ExecutionReport:
        self.seen_in_store_before_send.append(self._store.get_order(request.client_order_id) is not None)
        self.sent.append(request.client_order_id)
        if self.refuse:
            raise OrderRejected("below market minimum")
        report = super().place_order(request)
        if self.lose_answer:
            raise TransientError("read timeout")
        return report


def _broker(store: Store, **kwargs) -> FlakyPaper:
    return FlakyPaper(
        BrokerName.KRAKEN, "master", store, StubMarket({"BTC/USD": "50000"}), fee_schedule(BrokerName.KRAKEN),
        starting_cash=Decimal("1000"), **kwargs,
    )


def _buy(cid: str = "nj00000000000000aa") -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, quantity=Decimal("100"),
        unit=QuantityUnit.QUOTE, client_order_id=cid, stop_price=Decimal("49000"),
    )


def test_intent_is_stored_before_send_and_fill_opens_position(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    report = OrderExecutor(broker, store, LOG).submit(_buy(), None)
    assert broker.seen_in_store_before_send == [True]
    assert report is not None and store.get_order(_buy().client_order_id).status is OrderStatus.FILLED
    [position] = store.positions(BrokerName.KRAKEN, "master")
    assert position.qty == report.filled_qty == position.initial_qty
    assert position.stop_price == Decimal("49000")
    assert position.risk_per_unit == report.avg_price - Decimal("49000")


def test_ambiguous_answer_is_resolved_by_lookup_not_resent(store: Store) -> None:
    broker = _broker(store, lose_answer=True)
    executor = OrderExecutor(broker, store, LOG)
    report = executor.submit(_buy(), None)
    assert broker.sent == [_buy().client_order_id]  # exactly one send
    assert report is not None and report.status is OrderStatus.FILLED
    assert store.get_order(_buy().client_order_id).status is OrderStatus.FILLED
    assert len(store.positions(BrokerName.KRAKEN, "master")) == 1
    # The same intent again (a re-run of the same cycle) sends nothing.
    assert executor.submit(_buy(), None) is None
    assert broker.sent == [_buy().client_order_id]


def test_definitive_refusal_is_recorded_rejected(store: Store) -> None:
    broker = _broker(store, refuse=True)
    assert OrderExecutor(broker, store, LOG).submit(_buy(), None) is None
    order = store.get_order(_buy().client_order_id)
    assert order.status is OrderStatus.REJECTED and "below market minimum" in order.error
    assert store.positions(BrokerName.KRAKEN, "master") == []


def test_reconcile_after_crash_between_send_and_record(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    # Crash simulation: the intent is stored and the venue filled it, but nothing was recorded.
    store.insert_order(_buy())
    PaperBroker.place_order(broker, _buy())
    restarted = OrderExecutor(broker, store, LOG)
    assert restarted.reconcile() == 1
    assert store.get_order(_buy().client_order_id).status is OrderStatus.FILLED
    assert len(store.positions(BrokerName.KRAKEN, "master")) == 1
    assert broker.sent == []  # reconciliation never sends


def test_reconcile_of_an_intent_that_never_left(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    store.insert_order(_buy())  # crash between "row inserted" and "order sent"
    OrderExecutor(broker, store, LOG).reconcile()
    assert store.get_order(_buy().client_order_id).status is OrderStatus.CANCELED
    assert broker.sent == []


def _position() -> Position:
    return Position(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", qty=Decimal("1"), initial_qty=Decimal("1"),
        entry_price=Decimal("100"), stop_price=Decimal("95"), risk_per_unit=Decimal("5"), opened_at=T0,
    )


def _sell_report(qty: str) -> tuple[Fill, ...]:
    return (
        Fill(
            broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL, trade_id=f"t{qty}",
            client_order_id="s", qty=Decimal(qty), price=Decimal("105"), fee=Decimal(0), ts_exchange=T0, ts_seen=T0,
        ),
    )


def _sell(qty: str) -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL, quantity=Decimal(qty),
        unit=QuantityUnit.BASE, client_order_id="s",
    )


def test_partial_exit_moves_ladder_and_stop_to_breakeven() -> None:
    after, closed = position_after_fill(_position(), _sell("0.5"), _sell_report("0.5"))
    assert not closed
    assert (after.qty, after.tp_stage, after.stop_price) == (Decimal("0.5"), 1, Decimal("100"))
    after2, _ = position_after_fill(after, _sell("0.25"), _sell_report("0.25"))
    assert (after2.qty, after2.tp_stage) == (Decimal("0.25"), 2)
    gone, closed = position_after_fill(after2, _sell("0.25"), _sell_report("0.25"))
    assert gone is None and closed


def test_no_fill_changes_nothing() -> None:
    assert position_after_fill(_position(), _sell("1"), ()) == (_position(), False)


def test_cumulative_reports_become_increment_fills(store: Store) -> None:
    # Venues that report only totals (filled so far, average price): each report adds the delta.
    request = _buy("nj00000000000000cc")
    order = store.insert_order(request)
    first = ExecutionReport(client_order_id=request.client_order_id, status=OrderStatus.PARTIAL,
                            filled_qty=Decimal("0.4"), avg_price=Decimal("100"), fee=Decimal("0.1"))
    [f1] = fills_of(order, first)
    assert (f1.qty, f1.price, f1.fee, f1.trade_id) == (Decimal("0.4"), Decimal("100"), Decimal("0.1"), "nj00000000000000cc:0.4")
    store.apply_execution(first.model_copy(update={"fills": (f1,)}), None, False)
    second = ExecutionReport(client_order_id=request.client_order_id, status=OrderStatus.FILLED,
                             filled_qty=Decimal("1.0"), avg_price=Decimal("106"), fee=Decimal("0.25"))
    [f2] = fills_of(store.get_order(request.client_order_id), second)
    assert (f2.qty, f2.price, f2.fee) == (Decimal("0.6"), Decimal("110"), Decimal("0.15"))
    assert fills_of(store.get_order(request.client_order_id), first) == ()  # an old report adds nothing


def test_unknown_order_not_found_stays_unknown_then_is_presumed_refused(store: Store, monkeypatch) -> None:
    from datetime import timedelta

    from nija.trading import orders as orders_module

    class Refusing(FlakyPaper):
        def place_order(self, request: OrderRequest) -> ExecutionReport:
            self.sent.append(request.client_order_id)
            raise TransientError("504 in front of the matching engine")  # never booked

    broker = Refusing(BrokerName.KRAKEN, "master", store, StubMarket({"BTC/USD": "50000"}),
                      fee_schedule(BrokerName.KRAKEN), starting_cash=Decimal("1000"))
    executor = OrderExecutor(broker, store, LOG)
    import pytest

    with pytest.raises(TransientError):
        executor.submit(_buy(), None)
    assert executor.unresolved_symbols() == {"BTC/USD"}
    assert executor.reconcile() == 1  # still unknown: logged, not raised, the cycle goes on
    assert store.get_order(_buy().client_order_id).status is OrderStatus.UNKNOWN
    monkeypatch.setattr(orders_module, "UNKNOWN_GRACE", timedelta(0))
    executor.reconcile()
    assert store.get_order(_buy().client_order_id).status is OrderStatus.CANCELED
    assert executor.unresolved_symbols() == set()
    assert broker.sent == [_buy().client_order_id]  # never re-sent


def test_only_master_fills_emit_signals(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    master = OrderExecutor(broker, store, LOG, master_equity=lambda: Decimal("1000"))
    report = master.submit(_buy(), None)
    [(signal, status)] = store.signals()
    assert status == "pending" and signal.side is Side.BUY
    assert (signal.qty, signal.price, signal.master_equity, signal.master_position_before) == (
        report.filled_qty, report.avg_price, Decimal("1000"), Decimal(0)
    )
    position = store.positions(BrokerName.KRAKEN, "master")[0]
    half = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                        quantity=position.qty / 2, unit=QuantityUnit.BASE, client_order_id="nj00000000000000dd")
    master.submit(half, position)
    sell = store.signals()[1][0]
    assert sell.side is Side.SELL and sell.master_position_before == position.qty  # exit fraction = 1/2
    assert sell.qty / sell.master_position_before == Decimal("0.5")


def test_refused_or_unfilled_orders_and_user_accounts_emit_nothing(store: Store) -> None:
    refusing = _broker(store, refuse=True)
    OrderExecutor(refusing, store, LOG, master_equity=lambda: Decimal("1000")).submit(_buy(), None)
    assert store.signals() == []
    user = OrderExecutor(_broker(store, lose_answer=False), store, LOG)  # no master equity: a user account
    user.submit(_buy("nj00000000000000ee"), None)
    assert store.signals() == []
