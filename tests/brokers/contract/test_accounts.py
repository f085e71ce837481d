"""The contract, accounts: every adapter is a `Broker`; equity is cash plus holdings at the price."""

from __future__ import annotations

from decimal import Decimal

from nija.brokers.base import Broker
from nija.models import OrderStatus, QuantityUnit, Side
from tests.brokers.contract.conftest import Harness


def test_every_adapter_is_a_broker_whose_submit_returns_at_the_acknowledgment(harness: Harness) -> None:
    broker = harness.build(cash="1000")
    assert isinstance(broker, Broker)
    assert callable(broker.submit) and callable(broker.place)
    broker.market_rules(harness.symbol)  # metadata first: what follows is the order alone
    before = harness.requests()
    ack = broker.submit(harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "ack"))
    assert harness.requests() - before == 1 + harness.quote_buy_reads_ask  # the create (its ask), no lookup
    assert ack.exchange_order_id and ack.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.FILLED)
    assert sum((f.qty for f in ack.fills), Decimal(0)) == ack.filled_qty  # fills only if the answer carries them
    buy = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "place")
    placed = broker.place(buy)
    venue = harness.venue_order(buy.client_order_id)
    assert venue is not None and placed.status is OrderStatus.FILLED and placed.fills
    assert placed.filled_qty == venue.filled > 0


def test_equity_is_cash_plus_every_holding_at_its_price(harness: Harness) -> None:
    broker = harness.build(cash="10000", base="0.5")
    snapshot = broker.balance_snapshot()
    assert snapshot.total_equity == snapshot.available + snapshot.locked_in_positions
    assert snapshot.available == Decimal("10000")
    assert snapshot.total_equity == Decimal("10000") + Decimal("0.5") * harness.price
    assert broker.holdings() == {harness.base: Decimal("0.5")}
    # Its parts (what tells a transfer from a price move) add up to it: the cash at 1 and the
    # holding at the price equity was valued at.
    parts = {asset: (qty, price) for asset, qty, price in snapshot.assets}
    assert sum(qty * price for qty, price in parts.values()) == snapshot.total_equity
    assert parts[harness.base] == (Decimal("0.5"), harness.price)
    harness.set_price(harness.price * 2)  # the holding doubles in value: equity sees it, cash does not
    moved = broker.balance_snapshot()
    assert moved.total_equity == moved.available + moved.locked_in_positions
    assert (moved.available, moved.total_equity) == (Decimal("10000"), Decimal("10000") + harness.price)
