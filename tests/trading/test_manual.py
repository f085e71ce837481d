"""Manual intents a crash left `taken` are finished from their orders at the next cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from nija.models import BrokerName, ExecutionReport, IntentStatus, OrderRequest, OrderStatus, QuantityUnit, Side
from nija.store import Recording, Store
from nija.trading.manual import finish_taken_intents

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _taken(store: Store, cid: str) -> int:
    intent_id = store.add_manual_intent(BrokerName.KRAKEN, "BTC/USD", Side.BUY, Decimal("100"), QuantityUnit.QUOTE, cid)
    assert store.move_manual_intent(intent_id, IntentStatus.TAKEN)
    return intent_id


def _order(store: Store, cid: str, status: OrderStatus, filled: str = "0") -> None:
    request = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY,
                           quantity=Decimal("100"), unit=QuantityUnit.QUOTE, client_order_id=cid)
    store.insert_orders([request])
    if status is not OrderStatus.PENDING:
        report = ExecutionReport(client_order_id=cid, status=status, filled_qty=Decimal(filled),
                                 avg_price=Decimal("50000") if filled != "0" else None, error=None)
        store.record(Recording(reports=[report]))


def test_taken_intents_are_answered_from_their_orders_after_a_crash(store: Store) -> None:
    never_sent, filled, refused, open_ = (_taken(store, cid) for cid in ("njm1", "njm2", "njm3", "njm4"))
    _order(store, "njm2", OrderStatus.FILLED, "0.002")
    _order(store, "njm3", OrderStatus.REJECTED)
    _order(store, "njm4", OrderStatus.UNKNOWN)  # still being looked up: waits for reconciliation
    broker = SimpleNamespace(name=BrokerName.KRAKEN)
    assert finish_taken_intents(broker, store) == 3  # type: ignore[arg-type]
    assert store.manual_intent(never_sent).status is IntentStatus.REFUSED
    assert "stopped before sending" in (store.manual_intent(never_sent).error or "")
    done = store.manual_intent(filled)
    assert (done.status, done.filled_qty) == (IntentStatus.DONE, Decimal("0.002"))
    assert store.manual_intent(refused).status is IntentStatus.REFUSED
    assert store.manual_intent(open_).status is IntentStatus.TAKEN
    assert finish_taken_intents(broker, store) == 0  # type: ignore[arg-type]
