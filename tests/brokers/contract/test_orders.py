"""The contract, orders: a buy sized in cash and a sell sized in base fill with their fills, the
fee is read in the currency the venue took it in, and minimums and balances refuse orders."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from nija.brokers.base import InsufficientFunds, OrderRejected
from nija.models import ExecutionReport, OrderStatus, QuantityUnit, Side, round_down
from tests.brokers.contract.conftest import Harness, VenueOrder


def _fills_add_up(report: ExecutionReport, side: Side) -> None:
    assert report.fills, "a filled order reports its fills"
    assert sum((f.qty for f in report.fills), Decimal(0)) == report.filled_qty
    assert sum((f.fee for f in report.fills), Decimal(0)) == report.fee
    assert sum((f.fee_in_base for f in report.fills), Decimal(0)) == report.fee_in_base
    for fill in report.fills:
        assert fill.trade_id and fill.price > 0 and fill.ts_exchange.tzinfo is not None
        assert (fill.client_order_id, fill.side) == (report.client_order_id, side)
    assert len({f.trade_id for f in report.fills}) == len(report.fills)


def _venue(harness: Harness, client_order_id: str) -> VenueOrder:
    found = harness.venue_order(client_order_id)
    assert found is not None, f"the venue has no order {client_order_id}"
    return found


def test_a_buy_sized_in_cash_fills_with_its_fills(harness: Harness) -> None:
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "buy")
    report = broker.place(buy)
    venue = _venue(harness, buy.client_order_id)
    assert report.status is OrderStatus.FILLED and report.client_order_id == buy.client_order_id
    assert report.exchange_order_id == venue.order_id
    assert report.filled_qty == venue.filled > 0 and report.avg_price == venue.avg_price
    assert report.filled_qty * report.avg_price <= Decimal("120")
    _fills_add_up(report, Side.BUY)
    if venue.fee_asset == harness.base:  # withheld from the asset bought
        assert all(f.fee_in_base > 0 for f in report.fills)
    else:
        assert all(f.fee_in_base == 0 for f in report.fills)
    assert harness.count_orders(buy.client_order_id) == 1
    assert harness.venue_holding() == report.filled_qty - report.fee_in_base


def test_a_sell_sized_in_base_needs_no_cash_and_leaves_the_rest_held(harness: Harness) -> None:
    broker = harness.build(cash="0", base="0.5")  # DESIGN invariant 3: sells are never blocked by cash
    step = broker.market_rules(harness.symbol).amount_step
    asked = Decimal("0.200000000123")
    sell = harness.request(Side.SELL, asked, QuantityUnit.BASE, "sell")
    report = broker.place(sell)
    sold = round_down(asked, step)  # rounded down to the market's step, never up
    assert report.status is OrderStatus.FILLED and report.filled_qty == sold
    assert _venue(harness, sell.client_order_id).filled == sold
    _fills_add_up(report, Side.SELL)
    left = Decimal("0.5") - sold - report.fee_in_base
    assert harness.venue_holding() == left
    assert broker.holdings() == {harness.base: left}
    assert broker.balance_snapshot().available > 0  # the proceeds, less the fee


def test_the_fee_is_read_in_the_currency_the_venue_took_it_in(harness: Harness) -> None:
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "fee-buy")
    bought = broker.place(buy)
    venue = _venue(harness, buy.client_order_id)
    assert bought.avg_price is not None
    if venue.fee_asset == harness.base:
        assert bought.fee_in_base == venue.fee > 0
        assert bought.fee == venue.fee * bought.avg_price  # valued in quote
    else:
        assert venue.fee_asset in (harness.cash, None)
        assert (bought.fee, bought.fee_in_base) == (venue.fee, Decimal(0))
    held = harness.venue_holding()
    assert held == bought.filled_qty - bought.fee_in_base
    sell = harness.request(Side.SELL, round_down(held / 2, broker.market_rules(harness.symbol).amount_step),
                           QuantityUnit.BASE, "fee-sell")
    sold = broker.place(sell)
    sold_at = _venue(harness, sell.client_order_id)
    assert sold_at.fee_asset in (harness.cash, None)  # a sell pays its fee out of the proceeds
    assert (sold.fee, sold.fee_in_base) == (sold_at.fee, Decimal(0))
    assert broker.holdings() == {harness.base: held - sold.filled_qty} == {harness.base: harness.venue_holding()}


def test_minimums_and_balances_refuse_an_order_once(harness: Harness) -> None:
    broker = harness.build(cash="100", base="0.01")
    rules = broker.market_rules(harness.symbol)
    refused = []
    tiny = harness.request(Side.SELL, rules.min_amount / 2, QuantityUnit.BASE, "tiny")
    with pytest.raises(OrderRejected, match="below.*minimum"):
        broker.place(tiny)
    refused.append(tiny)
    if rules.min_cost > 0:
        cheap = harness.request(Side.BUY, rules.min_cost * Decimal("0.99"), QuantityUnit.QUOTE, "cheap")
        with pytest.raises(OrderRejected, match="below.*minimum"):
            broker.place(cheap)
        refused.append(cheap)
    for below in refused:  # checked before sending, unless the adapter is the venue itself
        assert harness.count_orders(below.client_order_id) == (1 if harness.in_process else 0)
    oversell = harness.request(Side.SELL, "0.02", QuantityUnit.BASE, "oversell")
    overbuy = harness.request(Side.BUY, "150", QuantityUnit.QUOTE, "overbuy")
    for order, refusal in ((oversell, (InsufficientFunds, OrderRejected)), (overbuy, InsufficientFunds)):
        with pytest.raises(refusal):
            broker.place(order)
        assert harness.count_orders(order.client_order_id) <= 1  # refused, never sent again
        assert broker.fetch_order(order.client_order_id, harness.symbol) is None
    assert broker.balance_snapshot().available == Decimal("100")
    assert broker.holdings() == {harness.base: Decimal("0.01")}


def test_orders_leave_the_calling_threads_decimal_arithmetic_as_it_was(harness: Harness) -> None:
    # ccxt's precision helpers set the thread's context to round half up and trap underflow; the
    # loop's and the copy engine's own Decimal sums run in that thread right after.
    with decimal.localcontext(decimal.Context()) as context:  # a fresh one: no earlier test's leftovers
        before = (context.prec, context.rounding, dict(context.traps))
        broker = harness.build(cash="1000", base="0.5")
        buy = harness.request(Side.BUY, "120", QuantityUnit.QUOTE, "buy")
        broker.place(buy)
        broker.place(harness.request(Side.SELL, Decimal("0.200000000123"), QuantityUnit.BASE, "sell"))
        broker.fetch_order(buy.client_order_id, harness.symbol)
        after = decimal.getcontext()
        assert (after.prec, after.rounding, dict(after.traps)) == before
