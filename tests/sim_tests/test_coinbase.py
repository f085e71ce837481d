"""Coinbase Advanced Trade through the real ccxt client: ES256 JWT auth, markets, tickers, orders, faults."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import ccxt
import pytest
import requests

from tests.sim.clients import ccxt_client
from tests.sim.model import Account, OrderStatus
from tests.sim.simulator import Simulator

KEY = "organizations/sim-org/apiKeys/coinbase-key-1"  # the shape of a CDP key name
CID = "nj0123456789abcdef"


@pytest.fixture
def coinbase_account(simulator: Simulator) -> Account:
    return simulator.add_account("coinbase", KEY, balances={"USD": Decimal("10000")})


@pytest.fixture
def coinbase(simulator: Simulator, coinbase_account: Account) -> ccxt.coinbase:
    client = ccxt_client(simulator.url("coinbase"), "coinbase", KEY, coinbase_account.secret, timeout=300)
    client.load_markets()
    simulator.clear_requests()
    return client


def _claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_the_generated_secret_is_a_pem_p256_key_and_the_jwt_claims_carry_the_plain_http_url(
    simulator: Simulator, coinbase: ccxt.coinbase, coinbase_account: Account
) -> None:
    assert coinbase_account.secret.startswith("-----BEGIN EC PRIVATE KEY-----")
    signed = coinbase.sign("accounts", ["v2", "private"], "GET", {"limit": 250})
    claims = _claims(signed["headers"]["Authorization"].removeprefix("Bearer "))

    # ccxt strips only "https://", so the claim keeps the simulator's scheme; the query is left out
    assert claims["uri"] == f"GET http://127.0.0.1:{simulator.port}/coinbase/v2/accounts"
    assert (claims["sub"], claims["iss"], claims["aud"]) == (KEY, "coinbase-cloud", ["retail_rest_api_proxy"])
    assert claims["exp"] == claims["nbf"] + 120
    answer = requests.get(signed["url"], headers=signed["headers"], timeout=5)
    assert answer.status_code == 200
    assert answer.json()["data"][0]["balance"] == {"amount": "10000.00000000", "currency": "USD"}


def test_load_markets_calls_v2_reference_data_products_and_fees(
    simulator: Simulator, coinbase_account: Account
) -> None:
    client = ccxt_client(simulator.url("coinbase"), "coinbase", KEY, coinbase_account.secret)
    markets = client.load_markets()

    assert [(r.path, r.params, r.api_key) for r in simulator.requests("coinbase")] == [
        ("/v2/currencies", {}, None),
        ("/v2/currencies/crypto", {}, None),
        ("/v2/exchange-rates", {}, None),
        ("/api/v3/brokerage/market/products", {}, None),
        ("/api/v3/brokerage/transaction_summary", {}, KEY),  # only with a key: the fee tier
        ("/api/v3/brokerage/market/products", {"product_type": "FUTURE"}, None),
    ]
    btc = markets["BTC/USD"]
    assert (btc["id"], btc["taker"], btc["maker"]) == ("BTC-USD", 0.006, 0.004)
    assert (btc["precision"], btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (
        {"amount": 1e-08, "price": 0.01}, 1e-08, 1.0,
    )
    simulator.clear_requests()
    ccxt_client(simulator.url("coinbase"), "coinbase").load_markets()
    assert "/api/v3/brokerage/transaction_summary" not in [r.path for r in simulator.requests("coinbase")]


def test_tickers_are_one_batched_request_and_ohlcv_is_served(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    simulator.set_price("coinbase", "ETH/USD", Decimal("3100.5"))

    tickers = coinbase.fetch_tickers(["BTC/USD", "ETH/USD"])

    assert {s: t["last"] for s, t in tickers.items()} == {"BTC/USD": 60000.0, "ETH/USD": 3100.5}
    [request] = simulator.requests("coinbase")
    assert request.path == "/api/v3/brokerage/market/products"  # product_ids=BTC-USD&product_ids=ETH-USD
    assert request.params["product_type"] == "SPOT"
    ticker = coinbase.fetch_ticker("ETH/USD")
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (3100.5, 3100.5, 3100.5)
    assert simulator.requests("coinbase")[-1].path == "/api/v3/brokerage/market/products/ETH-USD/ticker"
    simulator.clear_requests()
    candles = coinbase.fetch_ohlcv("ETH/USD", "5m", limit=50)
    assert len(candles) == 50 and candles[-1][4] == 3100.5
    assert candles[0][0] < candles[-1][0]  # Coinbase answers newest first; ccxt sorts
    [request] = simulator.requests("coinbase")
    assert request.path == "/api/v3/brokerage/market/products/ETH-USD/candles"
    assert request.params["granularity"] == "FIVE_MINUTE"
    assert int(request.params["end"]) - int(request.params["start"]) == 50 * 300


def test_market_buy_by_quote_size_with_the_raw_client_order_id(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    placed = coinbase.create_market_buy_order_with_cost("BTC/USD", 120, {"client_order_id": CID})

    # The create answer carries ids only: no status, no fill.
    assert (placed["clientOrderId"], placed["status"], placed["filled"]) == (CID, None, None)
    [request] = simulator.requests("coinbase", method="POST")
    assert request.params == {
        "client_order_id": CID,
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "120"}},
    }
    assert simulator.balances("coinbase", KEY) == {"USD": Decimal("9879.28000000"), "BTC": Decimal("0.00200000")}

    [found] = [o for o in coinbase.fetch_orders("BTC/USD", None, 100) if o["clientOrderId"] == CID]

    assert (found["id"], found["status"]) == (placed["id"], "closed")
    assert (found["filled"], found["average"]) == (0.002, 60000.0)
    assert found["fees"] == [{"cost": 0.72, "currency": "USD"}]
    listing = simulator.requests("coinbase", path_contains="/orders/historical/batch")[-1]
    assert listing.params == {"product_id": "BTC-USD", "limit": "100"}
    assert coinbase.fetch_order(placed["id"], "BTC/USD")["filled"] == 0.002


def test_sell_by_base_size_and_ccxt_drops_the_unified_client_order_id(
    simulator: Simulator, coinbase: ccxt.coinbase
) -> None:
    simulator.set_balance("coinbase", KEY, "BTC", Decimal("0.01"))

    coinbase.create_order("BTC/USD", "market", "sell", 0.004, params={"clientOrderId": CID})

    [request] = simulator.requests("coinbase", method="POST")
    assert request.params["order_configuration"] == {"market_market_ioc": {"base_size": "0.004"}}
    assert request.params["client_order_id"].startswith("ccxt-")  # `clientOrderId` is not forwarded
    # 240 USD in, 1.44 USD fee
    assert simulator.balances("coinbase", KEY) == {"USD": Decimal("10238.56000000"), "BTC": Decimal("0.00600000")}
    assert coinbase.fetch_balance()["total"] == {"BTC": 0.006, "USD": 10238.56}
    assert coinbase.fetch_balance({"v3": True})["BTC"] == {"free": 0.006, "used": 0.0, "total": 0.006}
    assert simulator.requests("coinbase")[-1].path == "/api/v3/brokerage/accounts"


def test_a_reused_client_order_id_returns_the_existing_order(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    placed = coinbase.create_market_buy_order_with_cost("ETH/USD", 30, {"client_order_id": CID})
    again = coinbase.create_market_buy_order_with_cost("ETH/USD", 30, {"client_order_id": CID})

    assert again["id"] == placed["id"]
    assert len(simulator.orders("coinbase", KEY)) == 1
    assert simulator.count_orders("coinbase", CID) == 2  # two requests carried it; one order exists


def test_unknown_order_is_plain_exchange_error_and_cancel_failure_bad_request(
    simulator: Simulator, coinbase: ccxt.coinbase
) -> None:
    with pytest.raises(ccxt.ExchangeError, match="order with this orderID was not found") as raised:
        coinbase.fetch_order("00000000-0000-4000-8000-000000000000", "BTC/USD")
    assert type(raised.value) is ccxt.ExchangeError  # not OrderNotFound (ccxt's pattern reads "self orderID")
    with pytest.raises(ccxt.BadRequest):
        coinbase.cancel_order("00000000-0000-4000-8000-000000000000", "BTC/USD")


def test_partial_fill_holds_the_rest_then_cancel(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    simulator.inject("coinbase", "/api/v3/brokerage/orders$", "partial_fill", fraction="0.5")
    placed = coinbase.create_market_buy_order_with_cost("ETH/USD", 300, {"client_order_id": CID})

    [found] = coinbase.fetch_orders("ETH/USD", None, 100)
    assert (found["id"], found["status"], found["filled"]) == (placed["id"], "open", 0.05)
    assert found["amount"] is None and found["remaining"] is None  # quote-sized: ccxt knows no base amount
    assert coinbase.fetch_balance({"v3": True})["USD"]["used"] == 150.9  # the rest plus its fee, on hold
    v2 = coinbase.fetch_balance()["USD"]  # ccxt's default, /v2/accounts, knows no holds: free is the total
    assert v2["free"] == v2["total"] == 10000 - 150 - 0.9
    coinbase.cancel_order(placed["id"], "ETH/USD")
    assert simulator.order("coinbase", placed["id"]).status is OrderStatus.CANCELED
    assert [o["status"] for o in coinbase.fetch_orders("ETH/USD", None, 100)] == ["canceled"]
    with pytest.raises(ccxt.BadRequest):  # batch_cancel answers success false for it
        coinbase.cancel_order(placed["id"], "ETH/USD")


def test_real_rejections_map_to_ccxt_classes(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="PREVIEW_INSUFFICIENT_FUND"):
        coinbase.create_market_buy_order_with_cost("BTC/USD", 20000, {"client_order_id": CID})
    with pytest.raises(ccxt.ExchangeError, match="PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL") as raised:
        coinbase.create_market_buy_order_with_cost("BTC/USD", 0.5, {"client_order_id": "nj-too-small"})
    assert type(raised.value) is ccxt.ExchangeError  # ccxt maps no *_TOO_SMALL reason
    assert simulator.orders("coinbase") == []


def test_signature_key_and_clock_are_checked(
    simulator: Simulator, coinbase: ccxt.coinbase, coinbase_account: Account
) -> None:
    intruder = ccxt_client(simulator.url("coinbase"), "coinbase", KEY, simulator.venue("coinbase").new_secret())
    intruder.set_markets_from_exchange(coinbase)
    with pytest.raises(ccxt.AuthenticationError, match="401 Unauthorized"):
        intruder.fetch_balance()
    stranger = ccxt_client(simulator.url("coinbase"), "coinbase", "organizations/x/apiKeys/none", coinbase.secret)
    stranger.set_markets_from_exchange(coinbase)
    with pytest.raises(ccxt.AuthenticationError):
        stranger.fetch_balance()
    signed = coinbase.sign("brokerage/accounts", ["v3", "private"], "GET", {})
    elsewhere = signed["url"].replace("/accounts", "/transaction_summary")
    replayed = requests.get(elsewhere, headers=signed["headers"], timeout=5)
    assert replayed.status_code == 401  # the uri claim names another path
    assert simulator.invalid_nonces("coinbase", KEY) == 0

    simulator.set_clock_offset("coinbase", 121)  # the client's clock is 121 s behind: the JWT has expired
    with pytest.raises(ccxt.AuthenticationError, match="request timestamp expired"):
        coinbase.fetch_balance()
    simulator.set_clock_offset("coinbase", -10)  # 10 s ahead: nbf is in the venue's future
    with pytest.raises(ccxt.AuthenticationError, match="request timestamp expired"):
        coinbase.fetch_balance()
    simulator.set_clock_offset("coinbase", 0)
    assert simulator.invalid_nonces("coinbase", KEY) == 2


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        # No nonce on Coinbase: a stale JWT's "authentication_error" id wins over the broad InvalidNonce rule.
        ("invalid_nonce", {}, ccxt.AuthenticationError),
        ("insufficient_funds", {}, ccxt.InsufficientFunds),
        ("rate_limit", {}, ccxt.RateLimitExceeded),
        ("auth_error", {}, ccxt.AuthenticationError),
        ("http_5xx", {}, ccxt.ExchangeNotAvailable),
        ("http_429", {}, ccxt.RateLimitExceeded),
        ("http_429", {"body": '{"error":"RATE_LIMIT_EXCEEDED"}'}, ccxt.ExchangeError),  # exact match is case-sensitive
        ("timeout", {"delay_ms": 800}, ccxt.RequestTimeout),
        ("drop", {}, ccxt.NetworkError),
    ],
)
def test_fault_maps_to_the_ccxt_exception(
    simulator: Simulator, coinbase: ccxt.coinbase, kind: str, options: dict[str, object], expected: type[Exception]
) -> None:
    simulator.inject("coinbase", "^/v2/accounts$", kind, **options)
    with pytest.raises(expected) as raised:
        coinbase.fetch_balance()
    if expected is ccxt.ExchangeError:
        assert type(raised.value) is ccxt.ExchangeError
    assert coinbase.fetch_balance()["total"] == {"USD": 10000.0}


def test_apply_after_drop_leaves_the_order_findable_by_listing(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    simulator.inject("coinbase", "/api/v3/brokerage/orders$", "drop", apply_after=True)
    with pytest.raises(ccxt.NetworkError):
        coinbase.create_market_buy_order_with_cost("BTC/USD", 60, {"client_order_id": CID})

    [found] = [o for o in coinbase.fetch_orders("BTC/USD", None, 100) if o["clientOrderId"] == CID]

    assert (found["status"], found["filled"]) == ("closed", 0.001)
    assert simulator.count_orders("coinbase", CID) == 1


def test_html_200_on_create_returns_order_id_none(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    simulator.inject("coinbase", "/api/v3/brokerage/orders$", "html_200", apply_after=True)
    assert coinbase.create_market_buy_order_with_cost("BTC/USD", 60, {"client_order_id": CID})["id"] is None
    assert len(simulator.orders("coinbase")) == 1
