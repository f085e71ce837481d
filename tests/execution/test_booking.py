"""Booking venue answers: a trade counts once, a stale answer is left out, a master's new fills
emit one signal each with its running position; and fills derived from cumulative totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from nija.brokers.fills import increment_fill
from nija.execution.booking import Answer, book
from nija.models import (
    BrokerName,
    ExecutionReport,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    TradeSignal,
)
from nija.store import PositionChange, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = Decimal
KRAKEN = BrokerName.KRAKEN
KEY = ("kraken", "master", "BTC/USD")


def _order(cid: str, side: Side = Side.BUY, status: OrderStatus = OrderStatus.PENDING, account: str = "master") -> Order:
    request = OrderRequest(
        broker=KRAKEN, account=account, symbol="BTC/USD", side=side, quantity=D("1"), unit=QuantityUnit.BASE,
        client_order_id=cid,
    )
    return Order(request=request, status=status, created_at=T0, updated_at=T0)


def _fill(order: Order, trade: str, qty: str, price: str = "100", fee_in_base: str = "0") -> Fill:
    request = order.request
    return Fill(
        broker=KRAKEN, account=request.account, symbol=request.symbol, side=request.side, trade_id=trade,
        client_order_id=request.client_order_id, qty=D(qty), price=D(price), fee=D(0), fee_in_base=D(fee_in_base),
        ts_exchange=T0, ts_seen=T0 + timedelta(seconds=1),
    )


def _answer(order: Order, status: OrderStatus, *fills: Fill) -> Answer:
    qty = sum((f.qty for f in fills), D(0))
    report = ExecutionReport(
        client_order_id=order.request.client_order_id, status=status, exchange_order_id="x-" + order.request.client_order_id,
        filled_qty=qty, avg_price=fills[0].price if fills else None, fills=fills,
    )
    return Answer(order, report)


def _held(qty: str, entry: str = "100") -> Position:
    return Position(broker=KRAKEN, account="master", symbol="BTC/USD", qty=D(qty), entry_price=D(entry), opened_at=T0)


def test_a_filled_answer_moves_the_order_stores_its_fills_and_opens_the_position() -> None:
    order = _order("nj1")
    t1, t2 = _fill(order, "t1", "0.4"), _fill(order, "t2", "0.6")
    booking = book([_answer(order, OrderStatus.FILLED, t1, t2)], {}, {KEY: None})
    [report] = booking.recording.reports
    assert (report.status, report.filled_qty) == (OrderStatus.FILLED, D("1.0"))  # the store writes the fills apart
    assert list(booking.recording.fills) == [t1, t2]
    [change] = booking.recording.positions
    assert (change.broker, change.account, change.symbol, change.position.qty) == ("kraken", "master", "BTC/USD", D("1.0"))
    outcome = booking.outcomes["nj1"]
    assert (outcome.order.status, outcome.order.exchange_order_id, outcome.filled_qty) == (
        OrderStatus.FILLED, "x-nj1", D("1.0"))
    assert outcome.fills == (t1, t2)
    assert booking.stale == [] and booking.recording.signals == []


def test_a_trade_already_stored_counts_once() -> None:
    order = _order("nj1", status=OrderStatus.PARTIAL)
    t1, t2 = _fill(order, "t1", "0.4"), _fill(order, "t2", "0.6")
    booking = book(
        [_answer(order, OrderStatus.FILLED, t1, t2)], {("kraken", "master"): {"t1"}}, {KEY: _held("0.4")},
        master_equity=D("1000"),
    )
    assert list(booking.recording.fills) == [t2]
    assert booking.outcomes["nj1"].fills == (t2,)
    assert booking.recording.positions[0].position.qty == D("1.0")  # 0.4 held + only the new 0.6
    [signal] = booking.recording.signals
    assert (signal.trade_id, signal.master_position_before) == ("t2", D("0.4"))


def test_a_known_trade_id_of_another_account_is_not_this_ones() -> None:
    order = _order("nj1")
    booking = book([_answer(order, OrderStatus.FILLED, _fill(order, "t1", "1"))], {("kraken", "alice"): {"t1"}}, {KEY: None})
    assert [f.trade_id for f in booking.recording.fills] == ["t1"]


def test_a_trade_repeated_within_one_batch_counts_once() -> None:
    order = _order("nj1")
    t1, t2 = _fill(order, "t1", "0.4"), _fill(order, "t2", "0.6")
    # one report listing a trade twice
    twice = book([_answer(order, OrderStatus.PARTIAL, t1, t1)], {}, {KEY: None})
    assert list(twice.recording.fills) == [t1]
    assert twice.recording.positions[0].position.qty == D("0.4")
    # two answers of one order in a batch, the second repeating the first's trade
    booking = book(
        [_answer(order, OrderStatus.PARTIAL, t1), _answer(order, OrderStatus.FILLED, t1, t2)], {}, {KEY: None},
        master_equity=D("1000"),
    )
    assert list(booking.recording.fills) == [t1, t2]
    assert booking.recording.positions[0].position.qty == D("1.0")
    assert [(s.trade_id, s.master_position_before) for s in booking.recording.signals] == [("t1", D(0)), ("t2", D("0.4"))]
    assert [r.status for r in booking.recording.reports] == [OrderStatus.PARTIAL, OrderStatus.FILLED]


def test_a_batch_booking_is_written_once_without_a_concurrent_write(store: Store) -> None:
    store.insert_orders([_order("nj1").request])
    order = store.get_order("nj1")
    t1, t2 = _fill(order, "t1", "0.4"), _fill(order, "t2", "0.6")
    booking = book([_answer(order, OrderStatus.PARTIAL, t1), _answer(order, OrderStatus.FILLED, t1, t2)], {}, {KEY: None})
    store.record(booking.recording)
    assert [f.trade_id for f in store.fills(KRAKEN, "master")] == ["t1", "t2"]
    assert store.get_order("nj1").status is OrderStatus.FILLED
    assert store.positions(KRAKEN, "master")[0].qty == D("1.0")


def test_a_stale_answer_is_left_out() -> None:
    filled = _order("nj1", status=OrderStatus.FILLED)
    stale = _answer(filled, OrderStatus.SUBMITTED)  # a lagging read of an order already filled
    fresh_order = _order("nj2")
    fresh = _answer(fresh_order, OrderStatus.FILLED, _fill(fresh_order, "t9", "1"))
    booking = book([stale, fresh], {}, {KEY: None}, master_equity=D("1000"))
    assert booking.stale == [stale]
    assert [r.client_order_id for r in booking.recording.reports] == ["nj2"]
    assert set(booking.outcomes) == {"nj2"}
    assert [f.trade_id for f in booking.recording.fills] == ["t9"]
    assert [s.trade_id for s in booking.recording.signals] == ["t9"]


def test_a_reread_final_answer_books_no_new_fill() -> None:
    order = _order("nj1", status=OrderStatus.FILLED)
    t1 = _fill(order, "t1", "1")
    booking = book([_answer(order, OrderStatus.FILLED, t1)], {("kraken", "master"): {"t1"}}, {KEY: _held("1")},
                   master_equity=D("1000"))
    assert booking.stale == [] and booking.outcomes["nj1"].fills == ()
    assert list(booking.recording.fills) == [] and list(booking.recording.positions) == []
    assert booking.recording.signals == []


def test_each_new_master_fill_emits_one_signal_with_the_running_position_before_it() -> None:
    buy = _order("nj1")
    sell = _order("nj2", side=Side.SELL)
    b1 = _fill(buy, "b1", "1", fee_in_base="0.001")  # 0.999 arrives
    b2 = _fill(buy, "b2", "0.001")
    s1 = _fill(sell, "s1", "0.25", price="110")
    s2 = _fill(sell, "s2", "0.25", price="120")
    booking = book(
        [_answer(buy, OrderStatus.FILLED, b1, b2), _answer(sell, OrderStatus.FILLED, s1, s2)], {}, {KEY: _held("2")},
        master_equity=D("5000"),
    )
    assert [(s.trade_id, s.side, s.master_position_before) for s in booking.recording.signals] == [
        ("b1", Side.BUY, D("2")), ("b2", Side.BUY, D("2.999")), ("s1", Side.SELL, D("3.000")), ("s2", Side.SELL, D("2.750")),
    ]
    assert booking.recording.signals[2] == TradeSignal.from_fill(s1, D("5000"), D("3.000"))
    assert {s.master_equity for s in booking.recording.signals} == {D("5000")}
    [change] = booking.recording.positions
    assert change == PositionChange("kraken", "master", "BTC/USD", change.position) and change.position.qty == D("2.500")


def test_a_sell_that_closes_the_position_carries_it_in_its_signal_and_closes_it() -> None:
    sell = _order("nj1", side=Side.SELL)
    booking = book([_answer(sell, OrderStatus.FILLED, _fill(sell, "s1", "1"))], {}, {KEY: _held("1")},
                   master_equity=D("1000"))
    [signal] = booking.recording.signals
    assert signal.master_position_before == D("1") and signal.qty / signal.master_position_before == 1
    assert booking.recording.positions == [PositionChange("kraken", "master", "BTC/USD", None)]


def test_no_signal_without_master_equity_nor_for_an_unfilled_answer() -> None:
    order = _order("nj1")
    follower = book([_answer(order, OrderStatus.FILLED, _fill(order, "t1", "1"))], {}, {KEY: None})
    assert follower.recording.signals == [] and len(follower.recording.fills) == 1
    refused = book([_answer(_order("nj2"), OrderStatus.REJECTED)], {}, {KEY: None}, master_equity=D("1000"))
    assert refused.recording.signals == [] and refused.recording.positions == []
    assert refused.outcomes["nj2"].order.status is OrderStatus.REJECTED


# -- fills derived from cumulative totals ------------------------------------------------------


def _totals(cid: str, status: OrderStatus, qty: str, avg: str, fee: str, fee_in_base: str = "0") -> ExecutionReport:
    return ExecutionReport(client_order_id=cid, status=status, filled_qty=D(qty), avg_price=D(avg), fee=D(fee),
                           fee_in_base=D(fee_in_base))


def _increment(report: ExecutionReport, recorded: Order | None) -> tuple[Fill, ...]:
    return increment_fill(report, recorded, broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY,
                          venue_time=T0)


def test_cumulative_reports_become_exact_increment_fills() -> None:
    order = _order("nj00000000000000cc")
    first = _totals("nj00000000000000cc", OrderStatus.PARTIAL, "0.4", "100", "0.1", "0.0004")
    [f1] = _increment(first, None)
    assert (f1.qty, f1.price, f1.fee, f1.fee_in_base, f1.trade_id) == (
        D("0.4"), D("100"), D("0.1"), D("0.0004"), "nj00000000000000cc:0.4")
    assert (f1.side, f1.client_order_id, f1.ts_exchange) == (Side.BUY, "nj00000000000000cc", T0)
    recorded = order.model_copy(update={"status": OrderStatus.PARTIAL, "filled_qty": D("0.4"), "avg_price": D("100"),
                                        "fee": D("0.1"), "fee_in_base": D("0.0004")})
    second = _totals("nj00000000000000cc", OrderStatus.FILLED, "1.0", "106", "0.25", "0.001")
    [f2] = _increment(second, recorded)
    # 1.0 × 106 − 0.4 × 100 = 66 over 0.6: 110
    assert (f2.qty, f2.price, f2.fee, f2.fee_in_base, f2.trade_id) == (
        D("0.6"), D("110"), D("0.15"), D("0.0006"), "nj00000000000000cc:1.0")
    # the same venue state read again gives the same trade id (so it is counted once) ...
    assert _increment(first, None)[0].trade_id == f1.trade_id
    # ... and a report of what is already recorded adds nothing
    done = recorded.model_copy(update={"filled_qty": D("1.0"), "avg_price": D("106"), "fee": D("0.25")})
    assert _increment(second, done) == ()
    assert _increment(first, recorded) == ()
    assert _increment(first, done) == ()  # an older report than what is recorded


def test_no_increment_without_a_price_or_a_fill() -> None:
    assert _increment(ExecutionReport(client_order_id="nj1", status=OrderStatus.SUBMITTED), None) == ()
    unpriced = ExecutionReport(client_order_id="nj1", status=OrderStatus.PARTIAL, filled_qty=D("1"))
    assert _increment(unpriced, None) == ()


@pytest.mark.parametrize("repeat", [1, 2])
def test_an_increment_booked_twice_counts_once(repeat: int) -> None:
    order = _order("nj1")
    [fill] = _increment(_totals("nj1", OrderStatus.FILLED, "1", "100", "0"), None)
    answers = [Answer(order, _totals("nj1", OrderStatus.FILLED, "1", "100", "0").model_copy(update={"fills": (fill,)}))]
    booking = book(answers * repeat, {}, {KEY: None})
    assert list(booking.recording.fills) == [fill]
    again = book(answers, {("kraken", "master"): {fill.trade_id}}, {KEY: _held("1")})
    assert list(again.recording.fills) == []
