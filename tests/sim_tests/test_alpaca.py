"""Alpaca through the real alpaca-py 0.44 clients: what they send, the answers they accept, each
fault's effect on the raw client, and the two traps the adapter closes (no timeout; POSTs re-sent
on 504)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from nija.brokers.alpaca import AlpacaBroker
from nija.brokers.base import TransientError
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side
from tests.sim.model import Account
from tests.sim.simulator import Simulator
from tests.sim.venues.alpaca import AlpacaVenue

KEY = "PKSIMALPACA000000001"
FIVE_MIN = TimeFrame(5, TimeFrameUnit.Minute)


@pytest.fixture
def account(simulator: Simulator) -> Account:
    """10 000 USD cash and 10 AAPL (at 200) on Alpaca."""
    return simulator.add_account("alpaca", KEY, balances={"USD": Decimal("10000"), "AAPL": Decimal("10")})


@pytest.fixture
def venue(simulator: Simulator) -> AlpacaVenue:
    found = simulator.venue("alpaca")
    assert isinstance(found, AlpacaVenue)
    return found


def _trading(sim: Simulator, secret: str, key: str = KEY, *, retries: bool = False) -> TradingClient:
    """A real TradingClient on the sim; alpaca-py's own 429/504 retry off unless `retries`."""
    client = TradingClient(key, secret, url_override=sim.url("alpaca"))
    if not retries:
        client._retry = 0
    return client


@pytest.fixture
def trading(simulator: Simulator, account: Account) -> TradingClient:
    return _trading(simulator, account.secret)


@pytest.fixture
def data(simulator: Simulator, account: Account) -> StockHistoricalDataClient:
    client = StockHistoricalDataClient(KEY, account.secret, url_override=simulator.url("alpaca"))
    client._retry = 0
    return client


def _buy(
    notional: float | None = None, qty: float | None = None, cid: str | None = None, symbol: str = "AAPL"
) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol, notional=notional, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=cid
    )


# -- what alpaca-py sends ---------------------------------------------------------------------


def test_what_alpaca_py_sends_for_each_call(
    simulator: Simulator, trading: TradingClient, data: StockHistoricalDataClient
) -> None:
    start = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    trading.get_account()
    trading.get_all_positions()
    trading.get_clock()
    trading.get_asset("AAPL")
    trading.submit_order(_buy(notional=150, cid="cid-notional"))
    trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=0.25, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, client_order_id="cid-qty")
    )
    order = trading.get_order_by_client_id("cid-notional")
    trading.get_order_by_id(order.id)
    data.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=FIVE_MIN, start=start, limit=10, sort=Sort.DESC))
    data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
    data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))

    sent = [(r.method, r.path, r.params) for r in simulator.requests("alpaca")]
    assert sent == [
        ("GET", "/v2/account", {}),
        ("GET", "/v2/positions", {}),
        ("GET", "/v2/clock", {}),
        ("GET", "/v2/assets/AAPL", {}),
        ("POST", "/v2/orders", {"symbol": "AAPL", "notional": 150.0, "side": "buy", "type": "market",
                                "time_in_force": "day", "client_order_id": "cid-notional"}),
        ("POST", "/v2/orders", {"symbol": "AAPL", "qty": 0.25, "side": "sell", "type": "market",
                                "time_in_force": "day", "client_order_id": "cid-qty"}),
        ("GET", "/v2/orders:by_client_order_id", {"client_order_id": "cid-notional"}),
        ("GET", f"/v2/orders/{order.id}", {}),
        # the batched endpoint even for one symbol; limit and sort pass through, start as RFC 3339
        ("GET", "/v2/stocks/bars", {"start": "2026-01-05T14:30:00+00:00", "limit": "10", "sort": "desc",
                                    "timeframe": "5Min", "symbols": "AAPL"}),
        ("GET", "/v2/stocks/quotes/latest", {"symbols": "AAPL"}),
        ("GET", "/v2/stocks/trades/latest", {"symbols": "AAPL"}),
    ]  # fmt: skip
    assert all(r.api_key == KEY and r.status == 200 for r in simulator.requests("alpaca"))


# -- trading API ------------------------------------------------------------------------------


def test_account_equity_counts_positions_at_market_and_positions_list_them(trading: TradingClient) -> None:
    account = trading.get_account()
    assert (account.cash, account.equity, account.buying_power) == ("10000", "12000", "10000")
    assert account.long_market_value == "2000" and account.status == "ACTIVE"
    (position,) = trading.get_all_positions()
    assert (position.symbol, position.qty, position.market_value, position.side) == ("AAPL", "10", "2000", "long")


def test_order_by_notional_fills_fractionally_and_is_found_by_client_id(simulator: Simulator, trading: TradingClient) -> None:
    answer = trading.submit_order(_buy(notional=150, cid="nj-notional"))
    # Alpaca answers a market order before it fills; a read shows the fill
    assert (answer.status, answer.filled_qty, answer.notional, answer.qty) == (OrderStatus.PENDING_NEW, "0", "150", None)
    found = trading.get_order_by_client_id("nj-notional")
    assert (found.status, found.filled_qty, found.filled_avg_price) == (OrderStatus.FILLED, "0.75", "200")
    assert trading.get_order_by_id(answer.id).client_order_id == "nj-notional"
    assert simulator.balances("alpaca", KEY) == {"USD": Decimal("9850.00"), "AAPL": Decimal("10.75")}


def test_order_by_qty_sells_fractional_shares(simulator: Simulator, trading: TradingClient) -> None:
    trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=2.5, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, client_order_id="s1")
    )
    found = trading.get_order_by_client_id("s1")
    assert (found.status, found.qty, found.filled_qty, found.side) == (OrderStatus.FILLED, "2.5", "2.5", OrderSide.SELL)
    assert trading.get_all_positions()[0].qty == "7.5"
    assert [o.client_order_id for o in trading.get_orders()] == []  # nothing left open


def test_client_order_id_is_unique_per_account_even_after_the_fill(trading: TradingClient) -> None:
    trading.submit_order(_buy(notional=10, cid="once"))
    with pytest.raises(APIError) as refused:
        trading.submit_order(_buy(notional=10, cid="once"))
    assert (refused.value.status_code, refused.value.code, refused.value.message) == (
        422, 40010001, "client_order_id must be unique"
    )


def test_unknown_client_order_id_is_404(trading: TradingClient) -> None:
    with pytest.raises(APIError) as missing:
        trading.get_order_by_client_id("never-sent")
    assert (missing.value.status_code, missing.value.code) == (404, 40410000)


def test_insufficient_buying_power_and_qty_are_403_40310000(trading: TradingClient) -> None:
    with pytest.raises(APIError) as poor:
        trading.submit_order(_buy(notional=10_000.01))
    assert (poor.value.status_code, poor.value.code, poor.value.message) == (403, 40310000, "insufficient buying power")
    with pytest.raises(APIError) as short:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=11, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))
    assert (short.value.status_code, short.value.code) == (403, 40310000)
    assert short.value.message == "insufficient qty available for order (requested: 11, available: 10)"


def test_small_notional_and_fractions_of_non_fractionable_assets_are_refused(
    trading: TradingClient, venue: AlpacaVenue
) -> None:
    with pytest.raises(APIError) as small:
        trading.submit_order(_buy(notional=0.99))
    assert (small.value.status_code, small.value.message) == (403, "cost basis must be >= 1")
    venue.set_fractionable("TSLA", False)
    assert trading.get_asset("TSLA").fractionable is False
    with pytest.raises(APIError) as fraction:
        trading.submit_order(_buy(notional=500, symbol="TSLA"))
    assert (fraction.value.status_code, fraction.value.message) == (422, "requested asset is not fractionable")
    trading.submit_order(_buy(qty=2, symbol="TSLA", cid="whole"))
    assert trading.get_order_by_client_id("whole").filled_qty == "2"


def test_wrong_secret_or_unknown_key_is_401(simulator: Simulator, account: Account) -> None:
    for key, secret in ((KEY, "not-the-secret"), ("PKUNKNOWN", account.secret)):
        with pytest.raises(APIError) as refused:
            _trading(simulator, secret, key).get_account()
        assert (refused.value.status_code, refused.value.code, refused.value.message) == (
            401, 40110000, "request is not authorized"
        )
    data = StockHistoricalDataClient(KEY, "not-the-secret", url_override=simulator.url("alpaca"))
    with pytest.raises(APIError) as data_refused:
        data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))
    assert data_refused.value.status_code == 401


def test_clock_is_controlled_by_the_test_and_closed_market_orders_wait(
    simulator: Simulator, trading: TradingClient, venue: AlpacaVenue
) -> None:
    assert trading.get_clock().is_open is True
    venue.set_market_open(False)
    clock = trading.get_clock()
    assert clock.is_open is False and clock.next_open < clock.next_close
    answer = trading.submit_order(_buy(notional=100, cid="queued"))
    assert trading.get_order_by_client_id("queued").status == OrderStatus.ACCEPTED
    assert trading.get_account().buying_power == "9900"  # held for the waiting order
    venue.set_market_open(True)
    simulator.fill_order("alpaca", str(answer.id))
    assert trading.get_order_by_client_id("queued").status == OrderStatus.FILLED


# -- market data ------------------------------------------------------------------------------


def test_bars_are_five_minute_newest_first_with_desc_and_batched(data: StockHistoricalDataClient) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    bars = data.get_stock_bars(
        StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"], timeframe=FIVE_MIN, start=start, limit=6, sort=Sort.DESC)
    ).data
    # limit counts across symbols, as on Alpaca: the newest 6 bars of AAPL fill the page
    assert list(bars) == ["AAPL"] and len(bars["AAPL"]) == 6
    stamps = [b.timestamp for b in bars["AAPL"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {(a - b).total_seconds() for a, b in zip(stamps, stamps[1:])} == {300.0}
    assert bars["AAPL"][0].close == 200.0


def test_bars_page_with_next_page_token(simulator: Simulator, data: StockHistoricalDataClient) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    bars = data.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=FIVE_MIN, start=start)).data["AAPL"]
    assert 24 <= len(bars) <= 25
    raw = data.get("/stocks/AAPL/bars", {"timeframe": "5Min", "start": start.isoformat(), "limit": 10})
    assert raw["symbol"] == "AAPL" and len(raw["bars"]) == 10 and raw["next_page_token"]
    second = data.get("/stocks/AAPL/bars", {"timeframe": "5Min", "start": start.isoformat(), "limit": 10,
                                            "page_token": raw["next_page_token"]})  # fmt: skip
    assert second["bars"][0]["t"] > raw["bars"][-1]["t"]


def test_latest_quote_and_trade_follow_the_sim_price(simulator: Simulator, data: StockHistoricalDataClient) -> None:
    simulator.set_price("alpaca", "MSFT", Decimal("412.34"))
    quote = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["MSFT", "NOPE"]))
    trade = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="MSFT"))
    assert list(quote) == ["MSFT"]  # unknown symbols are left out
    assert (quote["MSFT"].bid_price, quote["MSFT"].ask_price, trade["MSFT"].price) == (412.34, 412.34, 412.34)
    single = data.get("/stocks/MSFT/quotes/latest")
    assert single["symbol"] == "MSFT" and single["quote"]["ap"] == 412.34


# -- faults, as the raw client sees them ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "error", "status"),
    [
        ("drop", {}, requests.exceptions.ConnectionError, None),
        ("http_5xx", {}, APIError, 503),
        ("http_5xx", {"status": 504}, APIError, 504),
        ("http_429", {}, APIError, 429),
        ("html_200", {}, requests.exceptions.JSONDecodeError, None),
        ("auth_error", {}, APIError, 401),
        ("insufficient_funds", {}, APIError, 403),
        ("rate_limit", {}, APIError, 429),
    ],
)
def test_each_fault_reaches_the_raw_client(
    simulator: Simulator, trading: TradingClient, kind: str, options: dict[str, int], error: type[Exception], status: int | None
) -> None:
    simulator.inject("alpaca", r"^/v2/account$", kind, **options)
    with pytest.raises(error) as raised:
        trading.get_account()
    if status is not None:
        assert raised.value.status_code == status
    assert trading.get_account().equity == "12000"  # one-shot fault: the next call is served


def test_timeout_fault_answers_late_and_a_client_timeout_cuts_it(simulator: Simulator, trading: TradingClient) -> None:
    simulator.inject("alpaca", r"^/v2/clock$", "timeout", delay_ms=400)
    started = time.monotonic()
    assert trading.get_clock().is_open is True  # no timeout in alpaca-py: it simply waits
    assert time.monotonic() - started >= 0.4
    simulator.inject("alpaca", r"^/v2/clock$", "timeout", delay_ms=1000)
    with pytest.raises(requests.exceptions.ReadTimeout):
        url = simulator.url("alpaca") + "/v2/clock"
        trading._session.request("GET", url, headers=trading._get_default_headers(), timeout=0.2)


@pytest.fixture
def armed_partial(simulator: Simulator) -> None:
    simulator.inject("alpaca", r"^/v2/orders$", "partial_fill", method="POST", fraction="0.4")


def test_partial_fill_fault(armed_partial: None, trading: TradingClient) -> None:
    trading.submit_order(_buy(notional=150, cid="part"))
    found = trading.get_order_by_client_id("part")
    assert (found.status, found.filled_qty) == (OrderStatus.PARTIALLY_FILLED, "0.3")


def test_dropped_answer_after_processing_leaves_the_order_at_the_venue(
    simulator: Simulator, trading: TradingClient
) -> None:
    simulator.inject("alpaca", r"^/v2/orders$", "drop", method="POST", apply_after=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        trading.submit_order(_buy(notional=50, cid="lost-answer"))
    assert trading.get_order_by_client_id("lost-answer").status == OrderStatus.FILLED
    assert simulator.count_orders("alpaca", "lost-answer") == 1


# -- the two traps ----------------------------------------------------------------------------


def _broker(sim: Simulator, account: Account, **options: object) -> AlpacaBroker:
    credentials = {"api_key": KEY, "api_secret": account.secret}
    return AlpacaBroker("master", credentials, api_url=sim.url("alpaca"), **options)  # type: ignore[arg-type]


def test_trap_no_timeout_raw_client_waits_the_whole_stall_the_adapter_does_not(
    simulator: Simulator, account: Account
) -> None:
    raw = TradingClient(KEY, account.secret, url_override=simulator.url("alpaca"))  # alpaca-py as shipped
    simulator.inject("alpaca", r"^/v2/account$", "timeout", delay_ms=2000)
    started = time.monotonic()
    assert raw.get_account().equity == "12000"
    assert time.monotonic() - started >= 1.95  # blocked for the full stall: a hung server blocks forever

    broker = _broker(simulator, account, timeout_s=0.3, read_attempts=1)
    simulator.inject("alpaca", r"^/v2/account$", "timeout", delay_ms=2000)
    started = time.monotonic()
    with pytest.raises(TransientError, match="ReadTimeout"):
        broker.balance_snapshot()
    assert time.monotonic() - started < 1.0


def test_trap_default_retry_resends_a_post_on_504_and_the_adapter_sends_one(
    simulator: Simulator, account: Account
) -> None:
    raw = TradingClient(KEY, account.secret, url_override=simulator.url("alpaca"))  # retries 429/504, 3 s apart
    simulator.inject("alpaca", r"^/v2/orders$", "http_5xx", method="POST", status=504, apply_after=True)
    started = time.monotonic()
    raw.submit_order(_buy(notional=100))  # no client id: the 504 hid a placed order, the retry places another
    assert time.monotonic() - started >= 3.0
    assert len(simulator.requests("alpaca", path_contains="/v2/orders", method="POST")) == 2
    assert len(simulator.orders("alpaca", KEY)) == 2  # bought twice

    broker = _broker(simulator, account, timeout_s=1.0)
    simulator.clear_requests()
    simulator.inject("alpaca", r"^/v2/orders$", "http_5xx", method="POST", status=504, apply_after=True)
    request = OrderRequest(
        broker=BrokerName.ALPACA, account="master", symbol="AAPL", side=Side.BUY, quantity=Decimal("100"),
        unit=QuantityUnit.QUOTE, client_order_id="nj-one-post",
    )
    with pytest.raises(TransientError, match="outcome unknown"):
        broker.place(request)
    assert len(simulator.requests("alpaca", path_contains="/v2/orders", method="POST")) == 1
    assert simulator.count_orders("alpaca", "nj-one-post") == 1
