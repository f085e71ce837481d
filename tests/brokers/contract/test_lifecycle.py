"""The contract, through the one order lifecycle (`OrderExecutor`): an ambiguous create is looked
up and never sent twice, a partial fill is completed by reconciliation, an order the venue keeps
open past the timeout is canceled with what filled kept, an order sent before a crash is found on
start, and a lookup by client order id never counts a fill twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from nija.models import OrderStatus, QuantityUnit, Side
from tests.brokers.contract.conftest import ACCOUNT, CREATE, Harness


def _held(harness: Harness) -> Decimal:
    """NIJA's position in the harness's symbol (0 without one)."""
    positions = harness.store.positions(harness.broker_name, ACCOUNT)
    assert len(positions) <= 1
    return positions[0].qty if positions else Decimal(0)


def _recorded_fills(harness: Harness, client_order_id: str) -> list:
    return [f for f in harness.store.fills(harness.broker_name, ACCOUNT) if f.client_order_id == client_order_id]


@pytest.mark.parametrize(
    ("fault", "options"),
    [("drop", {}), ("timeout", {"delay_ms": 1000}), ("http_5xx", {}), ("http_5xx", {"status": 504}), ("html_200", {})],
    ids=["drop", "timeout", "503", "504", "html_200"],
)
def test_an_ambiguous_create_is_looked_up_never_sent_twice(harness: Harness, fault: str, options: dict) -> None:
    broker = harness.build(cash="1000", timeout_s=0.5)
    buy = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, f"ambiguous-{fault}")
    harness.inject(CREATE, fault, apply_after=True, **options)  # the venue took it; its answer is lost
    outcome = harness.executor(broker).submit(buy)
    assert outcome is not None and outcome.order.status is OrderStatus.FILLED
    assert harness.count_orders(buy.client_order_id) == 1  # looked up, never re-sent
    venue = harness.venue_order(buy.client_order_id)
    stored = harness.store.get_order(buy.client_order_id)
    assert venue is not None and stored is not None
    assert stored.status is OrderStatus.FILLED and stored.filled_qty == venue.filled
    assert len(harness.store.positions(harness.broker_name, ACCOUNT)) == 1
    assert _held(harness) == harness.venue_holding()
    assert sum((f.qty for f in _recorded_fills(harness, buy.client_order_id)), Decimal(0)) == venue.filled


def test_a_partial_fill_is_recorded_then_completed_by_reconciliation(harness: Harness) -> None:
    if not harness.partial_fills:
        pytest.skip("paper fills every order whole at once")
    broker = harness.build(cash="1000")
    executor = harness.executor(broker)
    buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "partial")
    harness.inject(CREATE, "partial_fill", fraction="0.25")
    outcome = executor.submit(buy)
    assert outcome is not None and outcome.order.status is OrderStatus.PARTIAL
    first = harness.venue_order(buy.client_order_id)
    assert first is not None and outcome.order.filled_qty == first.filled > 0
    assert outcome.order.avg_price == first.avg_price
    assert outcome.fills and sum((f.qty for f in outcome.fills), Decimal(0)) == first.filled
    assert _held(harness) == harness.venue_holding() == first.filled - outcome.order.fee_in_base
    harness.fill_rest(buy.client_order_id)  # the venue fills the rest later
    assert executor.reconcile() == 1
    stored = harness.store.get_order(buy.client_order_id)
    venue = harness.venue_order(buy.client_order_id)
    assert stored is not None and venue is not None and venue.filled > first.filled
    assert stored.status is OrderStatus.FILLED and stored.filled_qty == venue.filled
    assert _held(harness) == harness.venue_holding() == broker.holdings()[harness.base]  # to the last unit
    fills = _recorded_fills(harness, buy.client_order_id)
    assert len(fills) >= 2 and len({f.trade_id for f in fills}) == len(fills)
    assert sum((f.qty for f in fills), Decimal(0)) == stored.filled_qty  # none counted twice
    assert executor.reconcile() == 0 and len(_recorded_fills(harness, buy.client_order_id)) == len(fills)
    assert harness.count_orders(buy.client_order_id) == 1


def test_an_order_the_venue_keeps_open_past_the_timeout_is_canceled_with_what_filled(harness: Harness) -> None:
    if not harness.partial_fills:
        pytest.skip("paper fills every order whole at once: none stays open")
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "stuck")
    harness.inject(CREATE, "partial_fill", fraction="0.25")  # the venue keeps the rest open
    outcome = harness.executor(broker).submit(buy)
    assert outcome is not None and outcome.order.status is OrderStatus.PARTIAL
    filled = outcome.order.filled_qty
    # Within the timeout: looked up, left open.
    assert harness.executor(broker, open_order_timeout=timedelta(hours=1)).reconcile() == 1
    assert harness.venue_open(buy.client_order_id)
    # Past it: canceled at the venue, then recorded as the venue has it.
    stuck = harness.executor(broker, open_order_timeout=timedelta(0))
    assert stuck.reconcile() == 1
    assert not harness.venue_open(buy.client_order_id)
    stored, venue = harness.store.get_order(buy.client_order_id), harness.venue_order(buy.client_order_id)
    assert stored is not None and venue is not None
    assert stored.status is OrderStatus.CANCELED and stored.filled_qty == venue.filled == filled > 0
    assert sum((f.qty for f in _recorded_fills(harness, buy.client_order_id)), Decimal(0)) == filled
    assert _held(harness) == harness.venue_holding() == broker.holdings()[harness.base]
    assert stuck.reconcile() == 0  # nothing open any more
    assert harness.count_orders(buy.client_order_id) == 1


def test_reconciliation_on_start_finds_the_order_sent_before_a_crash(harness: Harness) -> None:
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "crash")
    harness.store.insert_orders([buy])
    broker.place(buy)  # sent and filled, then the process died before recording it
    never_sent = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "never-sent")
    harness.store.insert_orders([never_sent])
    assert harness.executor(broker).reconcile() == 2
    sent, unsent = harness.store.get_order(buy.client_order_id), harness.store.get_order(never_sent.client_order_id)
    venue = harness.venue_order(buy.client_order_id)
    assert sent is not None and venue is not None
    assert sent.status is OrderStatus.FILLED and sent.filled_qty == venue.filled
    assert unsent is not None and unsent.status is OrderStatus.CANCELED
    assert harness.count_orders(buy.client_order_id) == 1
    assert harness.count_orders(never_sent.client_order_id) == 0
    assert _held(harness) == harness.venue_holding()


def test_a_lookup_by_client_order_id_never_counts_a_fill_twice(harness: Harness) -> None:
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "lookup")
    outcome = harness.executor(broker).submit(buy)
    stored = harness.store.get_order(buy.client_order_id)
    assert outcome is not None and stored is not None and stored.status is OrderStatus.FILLED
    recorded = _recorded_fills(harness, buy.client_order_id)

    found = broker.fetch_order(buy.client_order_id, harness.symbol)
    assert found is not None and found.status is OrderStatus.FILLED
    assert (found.exchange_order_id, found.filled_qty, found.avg_price) == (
        stored.exchange_order_id, stored.filled_qty, stored.avg_price
    )
    assert sum((f.qty for f in found.fills), Decimal(0)) == stored.filled_qty
    assert sum((f.qty * f.price for f in found.fills), Decimal(0)) == sum((f.qty * f.price for f in recorded), Decimal(0))
    if not harness.create_answer_has_trades:  # else the lookup's answer has totals only: a derived trade id
        assert [f.trade_id for f in found.fills] == [f.trade_id for f in recorded]

    again = broker.fetch_order(buy.client_order_id, harness.symbol, recorded=stored)
    assert again is not None and again.filled_qty == stored.filled_qty
    # Fills since what is recorded: none (totals), or the very trades already recorded (venue trades).
    assert {f.trade_id for f in again.fills} <= {f.trade_id for f in recorded}

    unknown = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "never-sent")
    assert broker.fetch_order(unknown.client_order_id, harness.symbol) is None
