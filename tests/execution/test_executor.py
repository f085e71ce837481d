"""Order execution: intent stored before send, definitive refusals recorded, ambiguous answers
looked up by client order id (never re-sent), reconciliation after a crash, signals only from a
master's fills."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import structlog

from nija.brokers.base import AuthError, OrderRejected, TransientError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.execution import lookup
from nija.execution.executor import OrderExecutor
from nija.models import (
    BrokerName,
    ExecutionReport,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    SignalStatus,
)
from nija.store import Store
from tests.fakes import StubMarket

LOG = structlog.get_logger("test")
KRAKEN = BrokerName.KRAKEN


class FlakyPaper(PaperBroker):
    """Fills the order, then loses the answer (like a timeout after the venue accepted it)."""

    def __init__(self, *args, lose_answer: bool = True, refuse: Exception | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lose_answer = lose_answer
        self.refuse = refuse
        self.sent: list[str] = []
        self.seen_in_store_before_send: list[bool] = []

    def place(self, request: OrderRequest) -> ExecutionReport:
        self.seen_in_store_before_send.append(self._store.get_order(request.client_order_id) is not None)
        self.sent.append(request.client_order_id)
        if self.refuse is not None:
            raise self.refuse
        report = super().place(request)
        if self.lose_answer:
            raise TransientError("read timeout")
        return report


def _broker(store: Store, account: str = "master", cls: type[FlakyPaper] = FlakyPaper, **kwargs) -> FlakyPaper:
    return cls(
        KRAKEN, account, store, StubMarket({"BTC/USD": "50000"}), fee_schedule(KRAKEN),
        starting_cash=Decimal("1000"), **kwargs,
    )


def _buy(cid: str = "nj00000000000000aa", account: str = "master") -> OrderRequest:
    return OrderRequest(
        broker=KRAKEN, account=account, symbol="BTC/USD", side=Side.BUY, quantity=Decimal("100"),
        unit=QuantityUnit.QUOTE, client_order_id=cid, stop_price=Decimal("49000"),
    )


def test_intent_is_stored_before_send_and_fill_opens_position(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    outcome = OrderExecutor(broker, store, LOG).submit(_buy())
    assert broker.seen_in_store_before_send == [True]
    assert outcome is not None and outcome.order.status is OrderStatus.FILLED
    assert store.get_order(_buy().client_order_id) == outcome.order.model_copy(
        update={"updated_at": store.get_order(_buy().client_order_id).updated_at})
    [fill] = outcome.fills
    assert store.fills(KRAKEN, "master") == [fill]
    assert (fill.qty, fill.price, fill.fee) == (outcome.filled_qty, outcome.order.avg_price, outcome.order.fee)
    [position] = store.positions(KRAKEN, "master")
    assert (position.qty, position.entry_price, position.fees) == (fill.qty, fill.price, fill.fee)
    assert position.realised_pnl == -fill.fee  # a quote fee is paid as it is paid
    # The stop planned with the entry stays with the intent, for the strategy state beside the position.
    assert store.planned_stop(KRAKEN, "master", "BTC/USD") == Decimal("49000")


def test_ambiguous_answer_is_resolved_by_lookup_not_resent(store: Store) -> None:
    broker = _broker(store, lose_answer=True)
    executor = OrderExecutor(broker, store, LOG)
    outcome = executor.submit(_buy())
    assert broker.sent == [_buy().client_order_id]  # exactly one send
    assert outcome is not None and outcome.order.status is OrderStatus.FILLED and len(outcome.fills) == 1
    assert store.get_order(_buy().client_order_id).status is OrderStatus.FILLED
    assert len(store.positions(KRAKEN, "master")) == 1
    assert len(store.fills(KRAKEN, "master")) == 1
    # The same intent again (a re-run of the same cycle) sends nothing.
    assert executor.submit(_buy()) is None
    assert broker.sent == [_buy().client_order_id]
    assert executor.reconcile() == 0 and executor.unresolved_symbols() == set()


def test_definitive_refusal_is_recorded_rejected(store: Store) -> None:
    broker = _broker(store, refuse=OrderRejected("below market minimum"))
    executor = OrderExecutor(broker, store, LOG)
    outcome = executor.submit(_buy())
    assert outcome is not None and outcome.order.status is OrderStatus.REJECTED
    assert outcome.fills == () and outcome.filled_qty == 0
    order = store.get_order(_buy().client_order_id)
    assert order.status is OrderStatus.REJECTED and "below market minimum" in order.error
    assert store.positions(KRAKEN, "master") == []
    assert store.fills(KRAKEN, "master") == []
    assert executor.submit(_buy()) is None  # a refused intent is final: never re-sent
    assert broker.sent == [_buy().client_order_id]


def test_refused_keys_are_recorded_rejected_then_raised(store: Store) -> None:
    broker = _broker(store, refuse=AuthError("invalid key"))
    with pytest.raises(AuthError):
        OrderExecutor(broker, store, LOG).submit(_buy())
    assert store.get_order(_buy().client_order_id).status is OrderStatus.REJECTED


def test_reconcile_after_crash_between_send_and_record(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    # Crash simulation: the intent is stored and the venue filled it, but nothing was recorded.
    store.insert_orders([_buy()])
    PaperBroker.place(broker, _buy())
    restarted = OrderExecutor(broker, store, LOG)
    assert restarted.unresolved_symbols() == {"BTC/USD"}
    assert restarted.reconcile() == 1
    assert store.get_order(_buy().client_order_id).status is OrderStatus.FILLED
    assert len(store.positions(KRAKEN, "master")) == 1
    assert len(store.fills(KRAKEN, "master")) == 1
    assert broker.sent == []  # reconciliation never sends
    assert restarted.reconcile() == 0  # settled: nothing left to look at


def test_reconcile_of_an_intent_that_never_left(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    store.insert_orders([_buy()])  # crash between "row inserted" and "order sent"
    OrderExecutor(broker, store, LOG).reconcile()
    assert store.get_order(_buy().client_order_id).status is OrderStatus.CANCELED
    assert broker.sent == []
    assert store.positions(KRAKEN, "master") == []


def test_unknown_order_not_found_stays_unknown_then_is_presumed_refused(store: Store, monkeypatch) -> None:
    class Refusing(FlakyPaper):
        def place(self, request: OrderRequest) -> ExecutionReport:
            self.sent.append(request.client_order_id)
            raise TransientError("504 in front of the matching engine")  # never booked

    broker = _broker(store, cls=Refusing)
    executor = OrderExecutor(broker, store, LOG)
    with pytest.raises(TransientError):
        executor.submit(_buy())
    assert store.get_order(_buy().client_order_id).status is OrderStatus.UNKNOWN
    assert executor.unresolved_symbols() == {"BTC/USD"}
    assert executor.reconcile() == 1  # still unknown: logged, not raised, the cycle goes on
    assert store.get_order(_buy().client_order_id).status is OrderStatus.UNKNOWN
    with pytest.raises(TransientError):  # the same intent again is looked up, not re-sent
        executor.submit(_buy())
    monkeypatch.setattr(lookup, "UNKNOWN_GRACE", timedelta(0))
    executor.reconcile()
    order = store.get_order(_buy().client_order_id)
    assert order.status is OrderStatus.CANCELED and "not found at the venue" in order.error
    assert executor.unresolved_symbols() == set()
    assert executor.submit(_buy()) is None
    assert broker.sent == [_buy().client_order_id]  # never re-sent
    assert store.positions(KRAKEN, "master") == []


def test_only_master_fills_emit_signals(store: Store) -> None:
    broker = _broker(store, lose_answer=False)
    master = OrderExecutor(broker, store, LOG)
    outcome = master.submit(_buy(), master_equity=Decimal("1000"))
    [(signal, status)] = store.signals()
    assert status is SignalStatus.PENDING and signal.side is Side.BUY
    [fill] = outcome.fills
    assert (signal.qty, signal.price, signal.master_equity, signal.master_position_before, signal.trade_id) == (
        outcome.filled_qty, outcome.order.avg_price, Decimal("1000"), Decimal(0), fill.trade_id
    )
    position = store.positions(KRAKEN, "master")[0]
    half = OrderRequest(broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                        quantity=position.qty / 2, unit=QuantityUnit.BASE, client_order_id="nj00000000000000dd")
    master.submit(half, master_equity=Decimal("1000"))
    sell = store.signals()[1][0]
    assert sell.side is Side.SELL and sell.master_position_before == position.qty  # exit fraction = 1/2
    assert sell.qty / sell.master_position_before == Decimal("0.5")
    assert store.positions(KRAKEN, "master")[0].qty == position.qty / 2


def test_an_ambiguous_master_fill_emits_its_signal_once_found(store: Store) -> None:
    broker = _broker(store, lose_answer=True)
    OrderExecutor(broker, store, LOG).submit(_buy(), master_equity=Decimal("1000"))
    [(signal, _)] = store.signals()
    assert signal.master_position_before == 0 and signal.qty == store.positions(KRAKEN, "master")[0].qty


def test_refused_or_unfilled_orders_and_user_accounts_emit_nothing(store: Store) -> None:
    refusing = _broker(store, refuse=OrderRejected("below market minimum"))
    OrderExecutor(refusing, store, LOG).submit(_buy(), master_equity=Decimal("1000"))
    assert store.signals() == []
    never_left = _buy("nj00000000000000ff")
    store.insert_orders([never_left])
    OrderExecutor(_broker(store, lose_answer=False), store, LOG).reconcile(master_equity=Decimal("1000"))
    assert store.get_order(never_left.client_order_id).status is OrderStatus.CANCELED
    assert store.signals() == []
    user = OrderExecutor(_broker(store, account="alice", lose_answer=False), store, LOG)  # no master equity
    outcome = user.submit(_buy("nj00000000000000ee", account="alice"))
    assert outcome is not None and outcome.order.status is OrderStatus.FILLED
    assert len(store.positions(KRAKEN, "alice")) == 1
    assert store.signals() == []
