"""AlpacaBroker beyond the adapter contract (`tests/brokers/contract/`), through the real
alpaca-py clients against the simulator: one call per balance, buying power, notional and whole
share sizing, Alpaca's refusals and error codes, the read retries of every failure kind, a 504
before processing, the request timeout, the market clock, market data and URLs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import structlog

from nija.brokers.alpaca import AlpacaBroker
from nija.brokers.alpaca.errors import classify_api_error
from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    MarketDataError,
    OrderRejected,
    TransientError,
)
from nija.execution.executor import OrderExecutor
from nija.models import (
    BrokerName,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from nija.store import Store
from tests.sim.simulator import Simulator
from tests.sim.venues.alpaca import AlpacaVenue

LOG = structlog.get_logger("alpaca-contract")
VENUE = "alpaca"
ORDERS = r"^/v2/orders$"
ACCOUNT = r"^/v2/account$"

_counter = iter(range(10**6))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=[VENUE]) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


@pytest.fixture(autouse=True)
def _clean(sim: Simulator) -> Iterator[None]:
    venue = sim.venue(VENUE)
    assert isinstance(venue, AlpacaVenue)
    sim.clear_faults(VENUE)
    sim.clear_requests()
    venue.set_market_open(True)
    sim.set_price(VENUE, "AAPL", Decimal("200"))
    yield
    sim.clear_faults(VENUE)
    venue.set_market_open(True)
    venue.set_fractionable("TSLA", True)


def _broker(sim: Simulator, balances: dict[str, str], **options: object) -> tuple[AlpacaBroker, str]:
    key = f"PKCONTRACT{next(_counter):010d}"
    account = sim.add_account(VENUE, key, balances={k: Decimal(v) for k, v in balances.items()})
    settings: dict[str, object] = {"timeout_s": 1.0, **options}
    credentials = {"api_key": key, "api_secret": account.secret}
    broker = AlpacaBroker("master", credentials, api_url=sim.url(VENUE), **settings)  # type: ignore[arg-type]
    return broker, key


def _request(side: Side, qty: str, unit: QuantityUnit, tag: str, symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.ALPACA, account="master", symbol=symbol, side=side, quantity=Decimal(qty), unit=unit,
        client_order_id=client_order_id_for(VENUE, tag, next(_counter)),
    )


def _posts(sim: Simulator) -> int:
    return len(sim.requests(VENUE, path_contains="/v2/orders", method="POST"))


# -- balance and holdings ---------------------------------------------------------------------


def test_balance_is_alpacas_equity_with_its_parts_from_the_positions_list(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "10000", "AAPL": "10"})
    snapshot = broker.balance_snapshot()
    assert snapshot.total_equity == Decimal("12000")  # Alpaca's figure: cash 10 000 + 10 AAPL at 200
    assert snapshot.assets == (("USD", Decimal("10000"), Decimal(1)), ("AAPL", Decimal("10"), Decimal("200")))
    assert [r.path for r in sim.requests(VENUE)] == ["/v2/account", "/v2/positions"]


def test_available_is_capped_by_buying_power_while_an_order_waits(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    sim.venue(VENUE).set_market_open(False)  # type: ignore[attr-defined]
    report = broker.place(_request(Side.BUY, "150", QuantityUnit.QUOTE, "queued"))
    assert (report.status, report.filled_qty) == (OrderStatus.SUBMITTED, Decimal(0))
    snapshot = broker.balance_snapshot()
    assert (snapshot.total_equity, snapshot.available, snapshot.locked_in_positions) == (
        Decimal("1000"), Decimal("850"), Decimal("150")
    )


# -- orders -----------------------------------------------------------------------------------


def test_a_notional_buy_is_sent_to_the_cent_and_a_sell_as_a_rounded_qty(sim: Simulator) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    buy = _request(Side.BUY, "150.129", QuantityUnit.QUOTE, "buy")
    report = broker.place(buy)
    assert (report.status, report.filled_qty, report.avg_price, report.fee) == (
        OrderStatus.FILLED, Decimal("0.7506"), Decimal("200"), Decimal(0)
    )  # notional rounded down to the cent: 150.12 USD at 200
    (post,) = sim.requests(VENUE, path_contains="/v2/orders", method="POST")
    assert post.params == {"symbol": "AAPL", "notional": 150.12, "side": "buy", "type": "market",
                           "time_in_force": "day", "client_order_id": buy.client_order_id}  # fmt: skip

    sold = broker.place(_request(Side.SELL, "0.5000000001", QuantityUnit.BASE, "sell"))
    assert (sold.status, sold.filled_qty) == (OrderStatus.FILLED, Decimal("0.5"))
    assert sim.requests(VENUE, path_contains="/v2/orders", method="POST")[-1].params["qty"] == 0.5
    assert sim.balances(VENUE, key)["USD"] == Decimal("1000") - Decimal("150.12") + Decimal("100")


def test_market_rules_follow_the_fractionable_flag_and_whole_shares_are_bought(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    rules = broker.market_rules("AAPL")
    assert (rules.base, rules.quote, rules.amount_step, rules.min_amount, rules.min_cost, rules.price_step) == (
        "AAPL", "USD", Decimal("1e-9"), Decimal("1e-9"), Decimal("1"), Decimal("0.01")
    )
    sim.venue(VENUE).set_fractionable("TSLA", False)  # type: ignore[attr-defined]
    assert broker.market_rules("TSLA").amount_step == Decimal("1")
    report = broker.place(_request(Side.BUY, "600", QuantityUnit.QUOTE, "whole", symbol="TSLA"))
    assert (report.status, report.filled_qty) == (OrderStatus.FILLED, Decimal("2"))  # 600 USD at 250: 2 shares
    assert sim.requests(VENUE, path_contains="/v2/orders", method="POST")[-1].params["qty"] == 2.0


@pytest.mark.parametrize(
    ("side", "qty", "unit", "reason"),
    [
        (Side.BUY, "200", QuantityUnit.QUOTE, "not fractionable and 200 USD buys 0 shares"),  # at 250
        (Side.SELL, "0.9", QuantityUnit.BASE, "below minimum"),
    ],
)
def test_whole_share_minimums_are_checked_before_sending(
    sim: Simulator, side: Side, qty: str, unit: QuantityUnit, reason: str
) -> None:
    broker, _ = _broker(sim, {"USD": "1000", "TSLA": "1"})
    sim.venue(VENUE).set_fractionable("TSLA", False)  # type: ignore[attr-defined]
    tiny = _request(side, qty, unit, "tiny", symbol="TSLA")
    with pytest.raises(OrderRejected, match=reason):
        broker.place(tiny)
    assert _posts(sim) == 0


def test_unknown_symbol_is_rejected_without_an_order(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    with pytest.raises(OrderRejected, match="unknown symbol"):
        broker.place(_request(Side.BUY, "50", QuantityUnit.QUOTE, "nope", symbol="NOPE"))
    assert _posts(sim) == 0


def test_a_duplicate_client_id_answer_reports_the_order_already_there(sim: Simulator) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    buy = _request(Side.BUY, "60", QuantityUnit.QUOTE, "twice")
    first = broker.place(buy)
    again = broker.place(buy)  # the venue refuses the twin (422): the first order is reported
    assert again.status is OrderStatus.FILLED and again.exchange_order_id == first.exchange_order_id
    assert len(sim.orders(VENUE, key)) == 1


# -- errors -----------------------------------------------------------------------------------


def test_refused_or_missing_credentials_name_the_cause(sim: Simulator) -> None:
    _, key = _broker(sim, {"USD": "1000"})
    wrong = AlpacaBroker("master", {"api_key": key, "api_secret": "wrong"}, api_url=sim.url(VENUE))
    with pytest.raises(AuthError, match="40110000"):
        wrong.balance_snapshot()
    with pytest.raises(AuthError, match="api_key and api_secret"):
        AlpacaBroker("master", None, api_url=sim.url(VENUE))


def test_refusals_for_funds_carry_alpacas_reason(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "100", "AAPL": "1"})
    with pytest.raises(InsufficientFunds, match="insufficient buying power"):
        broker.place(_request(Side.BUY, "150", QuantityUnit.QUOTE, "poor"))
    with pytest.raises(InsufficientFunds, match="insufficient qty"):
        broker.place(_request(Side.SELL, "2", QuantityUnit.BASE, "short"))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, '{"code":40010001,"message":"qty must be > 0"}'),
        (403, '{"code":40310000,"message":"trade denied due to pattern day trading protection"}'),
        (403, '{"code":40310000,"message":"cost basis must be >= 1"}'),
    ],
)
def test_refused_orders_are_rejected_not_auth_failures(sim: Simulator, status: int, body: str) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    sim.inject(VENUE, ORDERS, "http_5xx", method="POST", status=status, body=body)
    with pytest.raises(OrderRejected) as refused:
        broker.place(_request(Side.BUY, "50", QuantityUnit.QUOTE, "refused"))
    assert not isinstance(refused.value, InsufficientFunds)


@pytest.mark.parametrize(  # a 503 and a timeout: the contract
    ("kind", "status"), [("http_5xx", 504), ("http_429", 429), ("drop", None), ("html_200", None)]
)
def test_every_kind_of_failed_read_is_retried_then_transient(sim: Simulator, kind: str, status: int | None) -> None:
    broker, _ = _broker(sim, {"USD": "1000"}, read_attempts=3)
    sim.inject(VENUE, ACCOUNT, kind, times=None, status=status)
    with pytest.raises(TransientError):
        broker.balance_snapshot()
    assert len(sim.requests(VENUE, path_contains="/v2/account")) == 3  # ours, not alpaca-py's
    sim.clear_faults(VENUE)
    sim.inject(VENUE, ACCOUNT, kind, times=2, status=status)
    assert broker.balance_snapshot().total_equity == Decimal("1000")  # the third attempt is served


def test_malformed_answer_is_market_data_error(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    sim.inject(VENUE, ACCOUNT, "http_5xx", status=200, body='{"id":"not-a-uuid","status":"ACTIVE"}')
    with pytest.raises(MarketDataError):
        broker.balance_snapshot()


@pytest.mark.parametrize(
    ("status", "code", "message", "placing", "expected"),
    [
        (401, 40110000, "request is not authorized", False, AuthError),
        (403, 40310000, "insufficient buying power", True, InsufficientFunds),
        (403, 40310000, "insufficient qty available for order", True, InsufficientFunds),
        (422, 40010001, "insufficient balance", True, InsufficientFunds),
        (403, 40310000, "potential wash trade detected", True, OrderRejected),
        (403, 40310000, "subscription does not permit querying recent SIP data", False, AuthError),
        (422, 40010001, "qty must be > 0", True, OrderRejected),
        (422, 40010001, "invalid timeframe", False, MarketDataError),
        (404, 40410000, "order not found", False, MarketDataError),
        (404, 40410000, "endpoint not found", True, OrderRejected),
        (429, 42910000, "rate limit exceeded", True, TransientError),
        (500, None, "", True, TransientError),
        (504, None, "", False, TransientError),
        (None, None, "", True, TransientError),
    ],
)
def test_error_translation_table(
    status: int | None, code: int | None, message: str, placing: bool, expected: type[BrokerError]
) -> None:
    found = classify_api_error(status, code, message, placing=placing)
    assert issubclass(found, expected) and (expected is not OrderRejected or not issubclass(found, InsufficientFunds))


# -- an order the venue never got -------------------------------------------------------------


def test_a_504_before_processing_is_not_resent_and_stays_unknown(sim: Simulator, tmp_path: Path) -> None:
    broker, key = _broker(sim, {"USD": "1000"})
    store = Store(tmp_path / "nija.db")
    buy = _request(Side.BUY, "60", QuantityUnit.QUOTE, "gateway")
    sim.inject(VENUE, ORDERS, "http_5xx", method="POST", status=504)
    with pytest.raises(TransientError, match="outcome unknown"):
        OrderExecutor(broker, store, LOG).submit(buy)
    assert sim.count_orders(VENUE, buy.client_order_id) == 1 and sim.orders(VENUE, key) == []
    order = store.get_order(buy.client_order_id)
    assert order is not None and order.status is OrderStatus.UNKNOWN
    store.close()


# -- timeout, clock, market data --------------------------------------------------------------


def test_every_request_has_the_timeout(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"}, timeout_s=0.3, read_attempts=2)
    sim.inject(VENUE, r"^/v2/(account|stocks/trades/latest)$", "timeout", times=None, delay_ms=2000)
    for call in (broker.balance_snapshot, lambda: broker.ticker("AAPL")):
        started = time.monotonic()
        with pytest.raises(TransientError, match="ReadTimeout"):
            call()
        assert time.monotonic() - started < 1.5  # two attempts of 0.3 s and a jittered pause


def test_is_market_open_follows_the_sim_clock(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    assert broker.is_market_open() is True
    sim.venue(VENUE).set_market_open(False)  # type: ignore[attr-defined]
    assert broker.is_market_open() is False
    assert [r.path for r in sim.requests(VENUE)] == ["/v2/clock", "/v2/clock"]


def test_an_order_sent_while_closed_waits_and_is_found_filled_later(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    sim.venue(VENUE).set_market_open(False)  # type: ignore[attr-defined]
    buy = _request(Side.BUY, "60", QuantityUnit.QUOTE, "overnight")
    report = broker.place(buy)
    assert report.status is OrderStatus.SUBMITTED and report.exchange_order_id is not None
    sim.venue(VENUE).set_market_open(True)  # type: ignore[attr-defined]
    sim.fill_order(VENUE, report.exchange_order_id)
    found = broker.fetch_order(buy.client_order_id, "AAPL")
    assert found is not None and (found.status, found.filled_qty) == (OrderStatus.FILLED, Decimal("0.3"))


def test_ticker_and_closed_five_minute_candles(sim: Simulator) -> None:
    broker, _ = _broker(sim, {"USD": "1000"})
    sim.set_price(VENUE, "MSFT", Decimal("412.34"))
    ticker = broker.ticker("MSFT")
    assert (ticker.bid, ticker.ask, ticker.last) == (Decimal("412.34"), Decimal("412.34"), Decimal("412.34"))
    candles = broker.ohlcv("MSFT", 50)
    assert len(candles) == 50
    assert set(np.diff(candles.ts)) == {300_000.0}  # oldest first, 5 minutes apart
    assert candles.ts[-1] + 300_000 <= time.time() * 1000  # closed bars only
    assert candles.close[-1] == 412.34
    (bars,) = sim.requests(VENUE, path_contains="/stocks/bars")
    assert (bars.params["timeframe"], bars.params["sort"], bars.params["limit"]) == ("5Min", "desc", "51")
    assert broker.symbols() == ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ"]


def test_urls_paper_live_and_overrides() -> None:
    credentials = {"api_key": "k", "api_secret": "s"}
    assert AlpacaBroker("m", credentials).trading._base_url == "https://paper-api.alpaca.markets"
    live = AlpacaBroker("m", credentials, paper=False)
    assert live.trading._base_url == "https://api.alpaca.markets"
    assert live.data._base_url == "https://data.alpaca.markets"
    split = AlpacaBroker("m", credentials, api_url="http://127.0.0.1:1/a/", data_url="http://127.0.0.1:1/d")
    assert (split.trading._base_url, split.data._base_url) == ("http://127.0.0.1:1/a", "http://127.0.0.1:1/d")
    assert (live.trading._retry, live.trading._retry_codes, live.data._retry) == (0, [], 0)
