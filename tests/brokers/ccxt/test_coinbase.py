"""Coinbase Advanced through the real ccxt client against the simulator: the order lookup pages
past the newest 100 orders (narrowed by product and start date) or reads the order by its venue id,
and the universe holds one symbol per aliased book (research: real-venues.md defects #4 and #6).
Before the fix the lookup read `fetch_orders(symbol, None, 100)` once and the universe listed both
BTC/USD and BTC/USDC; each test below failed then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.brokers.ccxt.coinbase import LOOKUP_MARGIN, one_symbol_per_book
from nija.models import BrokerName, Order, OrderRequest, OrderStatus, QuantityUnit, Side, utc_now
from tests.sim.model import Side as SimSide
from tests.sim.simulator import Simulator

CID = "nj-coinbase-target-0001"
_counter = iter(range(10**6))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


def _broker(sim: Simulator, tmp_path: Path) -> tuple[CcxtBroker, str]:
    key = f"organizations/sim/apiKeys/cb-{next(_counter)}"
    account = sim.add_account("coinbase", key, balances={"USD": Decimal("1000000"), "USDC": Decimal("1000")})
    broker = CcxtBroker(
        BrokerName.COINBASE, "master", {"api_key": key, "api_secret": account.secret}, SharedMarkets(),
        api_url=sim.url("coinbase"), data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False,
    )
    broker.begin_cycle()
    return broker, key


def _place(sim: Simulator, key: str, symbol: str, client_order_id: str, *, age: timedelta = timedelta(0)) -> str:
    """An order placed on the venue directly (as if NIJA's answer was lost); returns its venue id."""
    venue = sim.venue("coinbase")
    account = venue.book.account(key)
    order = venue.book.place_market_order(
        account, symbol, SimSide.BUY, quote_cost=Decimal("20"), client_order_id=client_order_id
    )
    order.created_at_s -= age.total_seconds()
    return order.order_id


def _recorded(symbol: str, *, exchange_order_id: str | None = None, status: OrderStatus = OrderStatus.UNKNOWN) -> Order:
    now = utc_now()
    request = OrderRequest(
        broker=BrokerName.COINBASE, account="master", symbol=symbol, side=Side.BUY, quantity=Decimal("20"),
        unit=QuantityUnit.QUOTE, client_order_id=CID,
    )
    return Order(request=request, status=status, exchange_order_id=exchange_order_id, created_at=now, updated_at=now)


def _batches(sim: Simulator, key: str) -> list:
    return [r for r in sim.requests("coinbase", path_contains="/orders/historical/batch") if r.api_key == key]


def test_an_order_behind_more_than_100_later_orders_is_found_by_paging(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    order_id = _place(sim, key, "BTC/USD", CID)
    for i in range(120):  # later orders in the same book push it out of the newest 100
        _place(sim, key, "BTC/USD", f"nj-later-{i:04d}")
    sim.clear_requests()

    report = broker.fetch_order(CID, "BTC/USD", _recorded("BTC/USD"))

    assert report is not None
    assert (report.status, report.exchange_order_id, report.filled_qty) == (
        OrderStatus.FILLED, order_id, Decimal("0.00033333"),
    )
    assert len(report.fills) == 1
    first, second = _batches(sim, key)
    assert "cursor" not in first.params and second.params["cursor"] == "100"


def test_the_listing_names_the_book_products_and_starts_at_the_intent(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    for i in range(150):  # a day old: outside the window start_date opens
        _place(sim, key, "BTC/USD", f"nj-old-{i:04d}", age=timedelta(days=1))
    _place(sim, key, "BTC/USD", CID)
    sim.clear_requests()
    recorded = _recorded("BTC/USD")

    report = broker.fetch_order(CID, "BTC/USD", recorded)

    assert report is not None and report.status is OrderStatus.FILLED
    [listing] = _batches(sim, key)  # one page: the old orders are not listed at all
    start = (recorded.created_at - LOOKUP_MARGIN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listing.params["start_date"] == start
    assert "product_id" not in listing.params  # the legacy name ccxt's fetch_orders sends
    assert listing.params["product_ids"] in ("BTC-USD", "BTC-USDC")  # the request repeats it per product


def test_an_order_placed_in_the_alias_product_is_found_under_the_traded_symbol(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    _place(sim, key, "BTC/USDC", CID)  # BTC-USDC is BTC-USD's book

    report = broker.fetch_order(CID, "BTC/USD", _recorded("BTC/USD"))

    assert report is not None and report.status is OrderStatus.FILLED
    assert {f.symbol for f in report.fills} == {"BTC/USD"}


def test_a_recorded_venue_id_is_read_directly(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    order_id = _place(sim, key, "BTC/USD", CID)
    for i in range(120):
        _place(sim, key, "BTC/USD", f"nj-later-{i:04d}")
    sim.clear_requests()

    report = broker.fetch_order(CID, "BTC/USD", _recorded("BTC/USD", exchange_order_id=order_id, status=OrderStatus.SUBMITTED))

    assert report is not None and (report.status, report.exchange_order_id) == (OrderStatus.FILLED, order_id)
    paths = [r.path for r in sim.requests("coinbase") if r.api_key == key]
    assert paths == [f"/api/v3/brokerage/orders/historical/{order_id}"]


def test_an_unknown_venue_id_falls_back_to_the_listing(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    order_id = _place(sim, key, "BTC/USD", CID)
    wrong = str(uuid.uuid4())

    report = broker.fetch_order(CID, "BTC/USD", _recorded("BTC/USD", exchange_order_id=wrong))

    assert report is not None and (report.status, report.exchange_order_id) == (OrderStatus.FILLED, order_id)
    assert _batches(sim, key)


def test_a_lookup_that_finds_nothing_says_so_after_the_last_page(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    for i in range(130):
        _place(sim, key, "BTC/USD", f"nj-other-{i:04d}")

    assert broker.fetch_order(CID, "BTC/USD", _recorded("BTC/USD")) is None
    assert len(_batches(sim, key)) == 2


def test_place_reads_its_fill_by_the_venue_id_of_the_create_answer(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, tmp_path)
    sim.clear_requests()
    request = _recorded("BTC/USD").request

    report = broker.place(request)

    assert report.status is OrderStatus.FILLED and report.exchange_order_id
    paths = [r.path for r in sim.requests("coinbase") if r.api_key == key]
    assert paths == ["/api/v3/brokerage/orders", f"/api/v3/brokerage/orders/historical/{report.exchange_order_id}"]


def test_the_universe_holds_one_symbol_per_aliased_book(sim: Simulator, tmp_path: Path) -> None:
    broker, _ = _broker(sim, tmp_path)
    products = {m["id"]: m["info"] for m in broker.client.markets.values()}
    assert (products["BTC-USD"]["alias"], products["BTC-USD"]["alias_to"]) == ("", ["BTC-USDC"])
    assert (products["BTC-USDC"]["alias"], products["BTC-USDC"]["alias_to"]) == ("BTC-USD", [])

    assert broker.symbols() == ["BTC/USD", "ETH/USD", "SOL/USD"]


def _market(product: str, alias: str = "", alias_to: tuple[str, ...] = ()) -> dict:
    return {"id": product, "info": {"alias": alias, "alias_to": list(alias_to)}}


def test_one_symbol_per_book_keeps_the_canonical_product_or_the_only_one_given() -> None:
    markets = {
        "BTC/USD": _market("BTC-USD", alias_to=("BTC-USDC",)),
        "BTC/USDC": _market("BTC-USDC", alias="BTC-USD"),
        "ETH/USDC": _market("ETH-USDC", alias="ETH-USD"),
        "ETH/USD": _market("ETH-USD", alias_to=("ETH-USDC",)),
        "SOL/USD": _market("SOL-USD"),
    }

    assert one_symbol_per_book(markets, ["BTC/USDC", "BTC/USD", "SOL/USD"]) == ["BTC/USD", "SOL/USD"]
    assert one_symbol_per_book(markets, ["ETH/USDC", "ETH/USD"]) == ["ETH/USD"]
    assert one_symbol_per_book(markets, ["BTC/USDC", "DOGE/USD"]) == ["BTC/USDC", "DOGE/USD"]
    # alias_to alone (the USDC product silent) still joins the book
    linked = {"X/USD": _market("X-USD", alias_to=("X-USDC",)), "X/USDC": _market("X-USDC")}
    assert one_symbol_per_book(linked, ["X/USDC", "X/USD"]) == ["X/USD"]


def test_explicit_symbols_are_deduplicated_too(sim: Simulator, tmp_path: Path) -> None:
    key = f"organizations/sim/apiKeys/cb-{next(_counter)}"
    account = sim.add_account("coinbase", key, balances={"USD": Decimal("100")})
    broker = CcxtBroker(
        BrokerName.COINBASE, "master", {"api_key": key, "api_secret": account.secret}, SharedMarkets(),
        api_url=sim.url("coinbase"), data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False,
        symbols=("BTC/USDC", "ETH/USD", "BTC/USD"),
    )

    assert broker.symbols() == ["ETH/USD", "BTC/USD"]

