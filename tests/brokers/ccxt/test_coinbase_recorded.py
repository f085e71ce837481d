"""Recorded Coinbase Advanced answers (tests/brokers/recorded/coinbase/*.json, each naming its
public source) fed through CcxtBroker and the real ccxt client, with exact expected results.

Only the HTTP session is replaced: a replayer answers each request from the recorded files, so
ccxt's signing, its error handling, the adapter's non-JSON guard and every parser run for real
against the real hostname. Reference data the recordings do not cover (the /v2 currency lists,
the FUTURE product list, an empty last page of orders) is answered by small stubs, named as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nija.brokers.base import InsufficientFunds, TransientError
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.brokers.ccxt import broker as broker_module
from nija.brokers.ccxt.coinbase import book_product_ids
from nija.models import BrokerName, ExecutionReport, OrderRequest, OrderStatus, QuantityUnit, Side

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "coinbase"
KEY = "organizations/recorded-org/apiKeys/recorded-key"
FILLED_CID = "a0f970a2-05fa-4e1f-9517-f6702c33cfd1"  # the ADA-USDT market sell of orders_batch_has_next
FILLED_ID = "01b6e467-b659-432f-9490-c7cefe949564"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())



class Replay(requests.Session):
    """A requests session that answers from recordings: route(method, path, query) -> (status, body);
    `seen` keeps (method, path, query, body) of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.route: Callable[[str, str, dict[str, str]], tuple[int, Any]] = lambda m, p, q: (404, "not found\n")
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []

    def request(self, method: str, url: str, *args: Any, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        split = urlsplit(url)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.seen.append((method, split.path, query, data))
        status, body = self.route(method, split.path, query)
        response = requests.Response()
        response.status_code = status
        response.reason = "OK" if status < 400 else "Error"
        response.url = url
        response._content = (body if isinstance(body, str) else json.dumps(body)).encode()
        response.headers["Content-Type"] = "text/plain" if isinstance(body, str) else "application/json"
        return response


def _products() -> dict[str, Any]:
    """The two recorded products (BTC-USD, ETH-USD), plus BTC-USDC derived from BTC-USD as its alias
    (a stub: no recording of the USDC side was found; its shape follows the alias/alias_to fields)."""
    btc = recorded("products_btc_usd_alias")["body"]["products"][0]
    eth = recorded("products_eth_usd_alias")["body"]["products"][0]
    usdc = {**btc, "product_id": "BTC-USDC", "quote_currency_id": "USDC", "quote_name": "USDC",
            "quote_display_symbol": "USDC", "display_name": "BTC-USDC", "alias": "BTC-USD", "alias_to": []}
    return {"products": [btc, eth, usdc], "num_products": 3}


def _stub(method: str, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
    if path == "/v2/currencies" or path == "/v2/currencies/crypto":
        return 200, {"data": []}
    if path == "/v2/exchange-rates":
        return 200, {"data": {"currency": "USD", "rates": {}}}
    if path == "/api/v3/brokerage/market/products":
        return (200, {"products": [], "num_products": 0}) if query.get("product_type") == "FUTURE" else (200, _products())
    return None


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    session = Replay()
    real_build = broker_module.build_client

    def build(*args: Any, **kwargs: Any) -> Any:
        client = real_build(*args, **kwargs)
        client.session = session
        return client

    monkeypatch.setattr(broker_module, "build_client", build)
    yield session


def _broker(replay: Replay, answers: dict[tuple[str, str], Any], tmp_path: Path) -> CcxtBroker:
    """A Coinbase broker on the real hostname whose answers come from `answers` (method, path) -> file
    name, or (status, body), then the stubs."""

    def route(method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        answer = answers.get((method, path))
        if callable(answer):
            answer = answer(query)
        if isinstance(answer, str):
            doc = recorded(answer)
            return doc["status"], doc["body"]
        if answer is not None:
            return answer
        return _stub(method, path, query) or (404, "404 page not found\n")

    replay.route = route
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    broker = CcxtBroker(
        BrokerName.COINBASE, "master", {"api_key": KEY, "api_secret": pem}, SharedMarkets(), data_dir=tmp_path,
        enable_rate_limit=False, read_attempts=1,
    )
    broker.begin_cycle()
    replay.seen.clear()
    return broker


def _private(replay: Replay) -> list[tuple[str, str, dict[str, str]]]:
    return [(m, p, q) for m, p, q, _ in replay.seen]


def test_products_with_alias_give_one_symbol_per_book(replay: Replay, tmp_path: Path) -> None:
    broker = _broker(replay, {}, tmp_path)

    assert broker.symbols() == ["BTC/USD", "ETH/USD"]  # BTC/USDC is BTC/USD's book
    markets = broker.client.markets
    assert book_product_ids(markets, markets["BTC/USD"]) == ["BTC-USD", "BTC-USDC"]
    assert book_product_ids(markets, markets["ETH/USD"]) == ["ETH-USD", "ETH-USDC"]
    rules = broker.market_rules("BTC/USD")
    assert (rules.min_amount, rules.min_cost, rules.amount_step, rules.price_step) == (
        Decimal("0.00000001"), Decimal("1"), Decimal("0.00000001"), Decimal("0.01"),
    )


def test_orders_batch_finds_the_filled_order_with_its_fee(replay: Replay, tmp_path: Path) -> None:
    broker = _broker(replay, {("GET", "/api/v3/brokerage/orders/historical/batch"): "orders_batch_has_next"}, tmp_path)

    report = broker.fetch_order(FILLED_CID, "ADA/USDT")

    assert report is not None
    assert report.model_copy(update={"fills": ()}) == ExecutionReport(
        client_order_id=FILLED_CID, status=OrderStatus.FILLED, exchange_order_id=FILLED_ID,
        filled_qty=Decimal("10"), avg_price=Decimal("0.392"), fee=Decimal("0.03136"),
    )
    [fill] = report.fills
    assert (fill.symbol, fill.side, fill.qty, fill.price, fill.fee, fill.fee_in_base) == (
        "ADA/USDT", Side.SELL, Decimal("10"), Decimal("0.392"), Decimal("0.03136"), Decimal("0"),
    )
    assert fill.ts_exchange == datetime(2023, 11, 26, 10, 19, 47, 423000, tzinfo=UTC)
    assert _private(replay) == [("GET", "/api/v3/brokerage/orders/historical/batch", {"limit": "100"})]


def test_orders_batch_follows_the_cursor_until_has_next_is_false(replay: Replay, tmp_path: Path) -> None:
    last_page = (200, {"orders": [], "sequence": "0", "has_next": False, "cursor": ""})  # stub: an empty last page

    def batch(query: dict[str, str]) -> Any:
        return last_page if query.get("cursor") else "orders_batch_has_next"

    broker = _broker(replay, {("GET", "/api/v3/brokerage/orders/historical/batch"): batch}, tmp_path)

    assert broker.fetch_order("nj-not-on-the-venue", "ADA/USDT") is None
    assert _private(replay) == [
        ("GET", "/api/v3/brokerage/orders/historical/batch", {"limit": "100"}),
        ("GET", "/api/v3/brokerage/orders/historical/batch", {"limit": "100", "cursor": "748478308"}),
    ]


def test_order_by_id_reads_one_order_directly(replay: Replay, tmp_path: Path) -> None:
    order_id = "9bc1eb3b-5b46-4b71-9628-ae2ed0cca75b"
    broker = _broker(replay, {("GET", f"/api/v3/brokerage/orders/historical/{order_id}"): "order_by_id_open"}, tmp_path)

    report = broker.fetch_order("e5fe8482-05bb-428f-ad4d-dbc8ce39239c", "LTC/BTC", order_id=order_id)

    assert report == ExecutionReport(
        client_order_id="e5fe8482-05bb-428f-ad4d-dbc8ce39239c", status=OrderStatus.SUBMITTED,
        exchange_order_id=order_id, filled_qty=Decimal("0"), avg_price=None, fee=Decimal("0"),
    )
    assert [p for _, p, _ in _private(replay)] == [f"/api/v3/brokerage/orders/historical/{order_id}"]


def test_an_unknown_order_id_404_falls_back_to_the_orders_list(replay: Replay, tmp_path: Path) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    broker = _broker(replay, {
        ("GET", f"/api/v3/brokerage/orders/historical/{unknown}"): "order_not_found",
        ("GET", "/api/v3/brokerage/orders/historical/batch"): "orders_batch_has_next",
    }, tmp_path)

    report = broker.fetch_order(FILLED_CID, "ADA/USDT", order_id=unknown)

    assert report is not None and (report.status, report.exchange_order_id, report.filled_qty) == (
        OrderStatus.FILLED, FILLED_ID, Decimal("10"),
    )


def test_v3_accounts_balance(replay: Replay, tmp_path: Path) -> None:
    broker = _broker(replay, {("GET", "/api/v3/brokerage/accounts"): "accounts_v3"}, tmp_path)

    snapshot = broker.balance_snapshot()

    assert (snapshot.available, snapshot.total_equity) == (Decimal("0"), Decimal("0"))
    assert broker.holdings() == {}
    assert [p for _, p, _ in _private(replay)] == ["/api/v3/brokerage/accounts"] * 2


def _buy(cid: str) -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.COINBASE, account="master", symbol="BTC/USD", side=Side.BUY, quantity=Decimal("20"),
        unit=QuantityUnit.QUOTE, client_order_id=cid,
    )


def test_create_success_is_acknowledged_with_the_venue_order_id(replay: Replay, tmp_path: Path) -> None:
    cid = "4d760580-6fca-4094-a70b-ebcca8626288"
    broker = _broker(replay, {("POST", "/api/v3/brokerage/orders"): "create_order_success"}, tmp_path)

    report = broker.submit(_buy(cid))

    assert report == ExecutionReport(
        client_order_id=cid, status=OrderStatus.SUBMITTED, exchange_order_id="52cfe5e2-0b29-4c19-a245-a6a773de5030",
    )
    [(method, path, _, body)] = replay.seen
    assert (method, path) == ("POST", "/api/v3/brokerage/orders")
    assert json.loads(body) == {
        "client_order_id": cid, "product_id": "BTC-USD", "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "20"}},
    }


def test_create_insufficient_fund_is_insufficient_funds(replay: Replay, tmp_path: Path) -> None:
    broker = _broker(replay, {("POST", "/api/v3/brokerage/orders"): "create_order_insufficient_fund"}, tmp_path)

    with pytest.raises(InsufficientFunds, match="Insufficient balance in source account"):
        broker.submit(_buy("nj-recorded-insufficient"))


def test_create_unsupported_configuration_is_transient_and_looked_up(replay: Replay, tmp_path: Path) -> None:
    # ccxt 4.5 maps no error without a preview_failure_reason: the outcome is unknown, so the order is
    # looked up by client id, never re-sent (the adapter's taxonomy: unmapped venue errors are transient)
    broker = _broker(replay, {("POST", "/api/v3/brokerage/orders"): "create_order_unsupported_configuration"}, tmp_path)

    with pytest.raises(TransientError, match="outcome unknown: .*source is not enabled for trading"):
        broker.submit(_buy("nj-recorded-unsupported"))


def test_ticker_of_the_usdc_book(replay: Replay, tmp_path: Path) -> None:
    broker = _broker(replay, {("GET", "/api/v3/brokerage/market/products/BTC-USDC/ticker"): "ticker_btc_usdc"}, tmp_path)

    ticker = broker.ticker("BTC/USDC")

    assert (ticker.bid, ticker.ask, ticker.last) == (Decimal("66367.58"), Decimal("66367.59"), Decimal("66363.03"))
