"""AlpacaBroker against the simulator's real Alpaca shapes, through the real alpaca-py client:
order commissions (defect #11 of real-venues.md), whole-share sizing of non-fractionable assets,
assets that take closing orders only, and Alpaca's real error bodies (403 40310000, 422 40010001,
404 40410000).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from nija.brokers.alpaca import AlpacaBroker
from nija.brokers.alpaca.preflight import AlpacaProbe
from nija.brokers.base import InsufficientFunds, OrderRejected
from nija.models import BrokerName, Order, OrderRequest, OrderStatus, QuantityUnit, Side, client_order_id_for, utc_now
from tests.sim.simulator import Simulator
from tests.sim.venues.alpaca import AlpacaVenue

VENUE = "alpaca"
_counter = iter(range(10**6))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=[VENUE]) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


@pytest.fixture
def venue(sim: Simulator) -> Iterator[AlpacaVenue]:
    target = sim.venue(VENUE)
    assert isinstance(target, AlpacaVenue)
    target.set_market_open(True)
    sim.set_price(VENUE, "AAPL", Decimal("200"))
    sim.clear_requests()
    yield target
    sim.clear_faults(VENUE)
    target.set_market_open(True)
    for symbol in ("AAPL", "TSLA"):
        target.set_fractionable(symbol, True)
        target.set_tradable(symbol, True)


def _broker(sim: Simulator, balances: dict[str, str]) -> tuple[AlpacaBroker, str]:
    key = f"PKSHAPES{next(_counter):012d}"
    account = sim.add_account(VENUE, key, balances={k: Decimal(v) for k, v in balances.items()})
    broker = AlpacaBroker("master", {"api_key": key, "api_secret": account.secret}, api_url=sim.url(VENUE),
                          timeout_s=2.0, read_attempts=1)  # fmt: skip
    return broker, key


def _request(side: Side, qty: str, unit: QuantityUnit, symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.ALPACA, account="master", symbol=symbol, side=side, quantity=Decimal(qty), unit=unit,
        client_order_id=client_order_id_for(VENUE, "shapes", next(_counter)),
    )


def _held(request: OrderRequest, report_fee: Decimal, filled: Decimal, price: Decimal | None) -> Order:
    now = utc_now()
    return Order(request=request, status=OrderStatus.PARTIAL, filled_qty=filled, avg_price=price, fee=report_fee,
                 created_at=now, updated_at=now)  # fmt: skip


# -- commission (defect #11) -------------------------------------------------------------------


def test_an_accounts_commission_is_the_reports_fee_and_its_fills(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    venue.set_commission(key, "1.25")
    report = broker.place(_request(Side.BUY, "100", QuantityUnit.QUOTE))
    assert (report.status, report.filled_qty, report.fee) == (OrderStatus.FILLED, Decimal("0.5"), Decimal("1.25"))
    assert [(f.qty, f.price, f.fee) for f in report.fills] == [(Decimal("0.5"), Decimal("200"), Decimal("1.25"))]
    assert sim.balances(VENUE, key)["USD"] == Decimal("1000") - Decimal("100") - Decimal("1.25")
    assert broker.balance_snapshot().available == Decimal("898.75")


def test_a_commission_is_booked_when_the_order_fills_and_only_once(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    venue.set_commission(key, "2")
    venue.set_market_open(False)
    buy = _request(Side.BUY, "100", QuantityUnit.QUOTE)
    waiting = broker.place(buy)
    assert (waiting.status, waiting.fee, waiting.fills) == (OrderStatus.SUBMITTED, Decimal(0), ())
    assert broker.balance_snapshot().available == Decimal("898")  # the notional and its commission are held
    venue.set_market_open(True)
    assert waiting.exchange_order_id is not None
    sim.fill_order(VENUE, waiting.exchange_order_id, Decimal("0.2"))
    part = broker.fetch_order(buy.client_order_id, "AAPL")
    assert part is not None and (part.status, part.fee, part.fills[0].fee) == (OrderStatus.PARTIAL, Decimal(2), Decimal(2))
    sim.fill_order(VENUE, waiting.exchange_order_id)
    rest = broker.fetch_order(buy.client_order_id, "AAPL", _held(buy, part.fee, part.filled_qty, part.avg_price))
    assert rest is not None and rest.status is OrderStatus.FILLED
    assert [(f.qty, f.fee) for f in rest.fills] == [(Decimal("0.3"), Decimal(0))]  # charged with the first fill
    assert sim.balances(VENUE, key)["USD"] == Decimal("1000") - Decimal("100") - Decimal("2")


def test_a_commission_set_on_the_order_itself_is_reported(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    cid = client_order_id_for(VENUE, "per-order", next(_counter))
    body = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day",
            "client_order_id": cid, "commission": 0.75}  # the Broker API's per-order field  # fmt: skip
    accepted = broker.trading.post("/orders", body)
    assert (accepted["status"], accepted["commission"]) == ("pending_new", 0.75)  # a JSON number, as recorded
    report = broker.fetch_order(cid, "AAPL")
    assert report is not None and (report.filled_qty, report.fee) == (Decimal(1), Decimal("0.75"))
    assert sim.balances(VENUE, key)["USD"] == Decimal("1000") - Decimal("200") - Decimal("0.75")


# -- fractional and whole shares --------------------------------------------------------------


def test_a_non_fractionable_buy_is_whole_shares_within_the_budget(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    venue.set_fractionable("AAPL", False)
    rules = broker.asset_rules("AAPL")
    assert (rules.fractionable, rules.amount_step, rules.min_amount) == (False, Decimal(1), Decimal(1))
    report = broker.place(_request(Side.BUY, "599.99", QuantityUnit.QUOTE))
    (post,) = sim.requests(VENUE, path_contains="/v2/orders", method="POST")
    assert post.params["qty"] == 2.0 and "notional" not in post.params  # 3 shares would cost 600.00
    assert (report.filled_qty, report.avg_price) == (Decimal(2), Decimal(200))
    assert sim.balances(VENUE, key)["USD"] == Decimal("600")


def test_a_buy_under_one_share_is_refused_with_the_reason_and_nothing_sent(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    venue.set_fractionable("AAPL", False)
    with pytest.raises(OrderRejected, match=r"AAPL is not fractionable and 150 USD buys 0 shares at ask 200"):
        broker.place(_request(Side.BUY, "150", QuantityUnit.QUOTE))
    assert sim.requests(VENUE, path_contains="/v2/orders", method="POST") == []


def test_a_flag_changed_since_cached_is_refused_by_alpacas_own_answer(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    assert broker.asset_rules("AAPL").fractionable  # cached for the hour
    venue.set_fractionable("AAPL", False)
    with pytest.raises(OrderRejected, match="requested asset is not fractionable"):
        broker.place(_request(Side.BUY, "150", QuantityUnit.QUOTE))


def test_an_asset_that_is_not_tradable_still_sells_but_never_buys(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000", "AAPL": "3"})
    venue.set_tradable("AAPL", False)
    rules = broker.market_rules("AAPL")  # an exit still needs the rules
    assert rules.amount_step == Decimal("1e-9")
    sold = broker.place(_request(Side.SELL, "1.5", QuantityUnit.BASE))
    assert (sold.status, sold.filled_qty) == (OrderStatus.FILLED, Decimal("1.5"))
    with pytest.raises(OrderRejected, match="not tradable at Alpaca: closing orders only"):
        broker.place(_request(Side.BUY, "100", QuantityUnit.QUOTE))
    assert len(sim.requests(VENUE, path_contains="/v2/orders", method="POST")) == 1
    assert sim.balances(VENUE, key)["AAPL"] == Decimal("1.5")


def test_the_doctor_probe_reads_the_asset_flags_through_public_methods(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    probe = AlpacaProbe(broker, paper=True)
    venue.set_fractionable("TSLA", False)
    venue.set_tradable("MSFT", False)
    try:
        states = {s: probe.market_state(s) for s in ("AAPL", "TSLA", "MSFT", "NOPE")}
    finally:
        venue.set_tradable("MSFT", True)
    assert {s: (m.exists, m.tradable, m.status) for s, m in states.items()} == {
        "AAPL": (True, True, "active, fractional shares"),
        "TSLA": (True, True, "active, whole shares only (not fractionable)"),
        "MSFT": (True, False, "MSFT is not tradable at Alpaca: closing orders only"),
        "NOPE": (False, False, "not listed"),
    }


# -- error bodies -----------------------------------------------------------------------------


def test_refusals_carry_alpacas_real_403_bodies(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "100", "AAPL": "1"})
    with pytest.raises(InsufficientFunds, match="code 40310000: insufficient buying power"):
        broker.place(_request(Side.BUY, "150", QuantityUnit.QUOTE))
    with pytest.raises(InsufficientFunds, match=r"insufficient qty available for order \(requested: 2, available: 1\)"):
        broker.place(_request(Side.SELL, "2", QuantityUnit.BASE))
    secret = venue.book.accounts[key].secret
    bp = requests.post(  # the body itself, as alpaca-py #225 shows it
        f"{sim.url(VENUE)}/v2/orders", headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}, timeout=2,
        json={"symbol": "AAPL", "notional": "150", "side": "buy", "type": "market", "time_in_force": "day"},
    )
    assert (bp.status_code, bp.json()) == (403, {"buying_power": "100", "code": 40310000, "cost_basis": "150",
                                                 "message": "insufficient buying power"})  # fmt: skip


def test_a_duplicate_and_an_unknown_client_id(sim: Simulator, venue: AlpacaVenue) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    buy = _request(Side.BUY, "50", QuantityUnit.QUOTE)
    first = broker.place(buy)
    again = broker.submit(buy)  # 422 40010001 "client_order_id must be unique": the order is looked up
    assert (again.exchange_order_id, again.filled_qty) == (first.exchange_order_id, Decimal("0.25"))
    assert len(sim.orders(VENUE, key)) == 1
    assert broker.fetch_order("nj-never-sent", "AAPL") is None  # 404 40410000 "order not found"
