"""Binance spot through the real ccxt client: markets, orders, client ids, faults, timestamps."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.sim.clients import ccxt_client
from tests.sim.model import Account, OrderStatus
from tests.sim.simulator import Simulator

KEY = "binance-key-1"
CID = "nj0123456789abcdef"


@pytest.fixture
def binance_account(simulator: Simulator) -> Account:
    return simulator.add_account("binance", KEY, balances={"USDT": Decimal("10000")})


@pytest.fixture
def binance(simulator: Simulator, binance_account: Account) -> ccxt.binance:
    client = ccxt_client(simulator.url("binance"), "binance", KEY, binance_account.secret, timeout=300)
    client.load_markets()
    simulator.clear_requests()
    return client


def test_load_markets_with_a_key_also_calls_sapi_fapi_and_dapi(simulator: Simulator, binance_account: Account) -> None:
    client = ccxt_client(simulator.url("binance"), "binance", KEY, binance_account.secret)
    markets = client.load_markets()

    assert [r.path for r in simulator.requests("binance")] == [
        "/sapi/v1/capital/config/getall",
        "/sapi/v1/margin/allPairs",
        "/api/v3/exchangeInfo",
        "/sapi/v1/margin/allPairs",
        "/sapi/v1/margin/isolated/allPairs",
        "/fapi/v1/exchangeInfo",
        "/dapi/v1/exchangeInfo",
    ]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["precision"]["amount"], btc["limits"]["cost"]["min"]) == ("BTCUSDT", 1e-05, 5.0)


def test_spot_only_market_loading_is_one_call(simulator: Simulator, binance_account: Account) -> None:
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False}
    client = ccxt_client(simulator.url("binance"), "binance", KEY, binance_account.secret, options=options)
    client.load_markets()
    assert [r.path for r in simulator.requests("binance")] == ["/api/v3/exchangeInfo"]


def test_tickers_are_one_batched_request_and_ohlcv_is_served(simulator: Simulator, binance: ccxt.binance) -> None:
    simulator.set_price("binance", "ETH/USDT", Decimal("3100.5"))

    tickers = binance.fetch_tickers(["BTC/USDT", "ETH/USDT"])

    assert {s: t["last"] for s, t in tickers.items()} == {"BTC/USDT": 60000.0, "ETH/USDT": 3100.5}
    [request] = simulator.requests("binance")
    assert request.params == {"symbols": '["BTCUSDT","ETHUSDT"]'}
    candles = binance.fetch_ohlcv("ETH/USDT", "5m", limit=50)
    assert len(candles) == 50 and candles[-1][4] == 3100.5


def test_market_buy_pays_the_fee_in_the_asset_bought(simulator: Simulator, binance: ccxt.binance) -> None:
    order = binance.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": CID})

    assert (order["id"], order["clientOrderId"], order["status"], order["filled"]) == ("1001", CID, "closed", 0.01)
    assert order["fee"] == {"currency": "BTC", "cost": 1e-05}
    assert simulator.balances("binance", KEY) == {"USDT": Decimal("9400.00000000"), "BTC": Decimal("0.00999000")}
    assert binance.fetch_balance()["total"] == {"BTC": 0.00999, "USDT": 9400.0}
    [request] = simulator.requests("binance", path_contains="/order", method="POST")
    sent = request.params
    assert (sent["newClientOrderId"], sent["type"], sent["quantity"]) == (CID, "MARKET", "0.01")


def test_market_buy_by_cost_and_market_sell(simulator: Simulator, binance: ccxt.binance) -> None:
    binance.create_market_buy_order_with_cost("BTC/USDT", 100)
    binance.create_order("BTC/USDT", "market", "sell", 0.001)

    [buy, sell] = simulator.requests("binance", path_contains="/order", method="POST")
    assert buy.params["quoteOrderQty"] == "100" and "quantity" not in buy.params
    assert sell.params["newClientOrderId"].startswith("x-TKT5PX2F")  # ccxt's own id when none is given
    assert simulator.balances("binance", KEY) == {"USDT": Decimal("9960.34000000"), "BTC": Decimal("0.00065834")}


def test_lookup_by_client_order_id_uses_orig_client_order_id(simulator: Simulator, binance: ccxt.binance) -> None:
    placed = binance.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": CID})

    found = binance.fetch_order(None, "BTC/USDT", params={"clientOrderId": CID})

    assert (found["id"], found["clientOrderId"], found["status"]) == (placed["id"], CID, "closed")
    [query] = simulator.requests("binance", path_contains="/order", method="GET")
    assert query.params["origClientOrderId"] == CID
    with pytest.raises(ccxt.OrderNotFound):
        binance.fetch_order(None, "BTC/USDT", params={"clientOrderId": "nj-never-sent"})


def test_partial_fill_then_cancel(simulator: Simulator, binance: ccxt.binance) -> None:
    simulator.inject("binance", "/api/v3/order", "partial_fill", method="POST", fraction="0.5")
    order = binance.create_order("ETH/USDT", "market", "buy", 0.1, params={"clientOrderId": CID})
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.05, 0.05)
    assert [o["id"] for o in binance.fetch_open_orders("ETH/USDT")] == [order["id"]]

    canceled = binance.cancel_order(order["id"], "ETH/USDT")

    assert canceled["status"] == "canceled"
    assert simulator.order("binance", order["id"]).status is OrderStatus.CANCELED
    with pytest.raises(ccxt.OrderNotFound):
        binance.cancel_order(order["id"], "ETH/USDT")


def test_real_rejections_map_to_ccxt_classes(simulator: Simulator, binance: ccxt.binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        binance.create_order("BTC/USDT", "market", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # ccxt would round first; send it raw
        binance.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):  # -1013 is BadRequest in ccxt's map
        binance.create_order("BTC/USDT", "market", "buy", 0.00002)
    assert simulator.orders("binance") == []


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("invalid_nonce", {}, ccxt.InvalidNonce),
        ("insufficient_funds", {}, ccxt.InsufficientFunds),
        ("rate_limit", {}, ccxt.DDoSProtection),
        ("auth_error", {}, ccxt.AuthenticationError),
        ("http_5xx", {}, ccxt.ExchangeNotAvailable),
        ("http_429", {}, ccxt.DDoSProtection),  # binance turns any 429 into DDoSProtection
        ("timeout", {"delay_ms": 800}, ccxt.RequestTimeout),
        ("drop", {}, ccxt.NetworkError),
    ],
)
def test_fault_maps_to_the_ccxt_exception(
    simulator: Simulator, binance: ccxt.binance, kind: str, options: dict[str, object], expected: type[Exception]
) -> None:
    simulator.inject("binance", "/api/v3/account", kind, **options)
    with pytest.raises(expected):
        binance.fetch_balance()
    assert binance.fetch_balance()["total"] == {"USDT": 10000.0}


def test_apply_after_drop_leaves_the_order_findable_by_client_id(simulator: Simulator, binance: ccxt.binance) -> None:
    simulator.inject("binance", "/api/v3/order", "drop", method="POST", apply_after=True)
    with pytest.raises(ccxt.NetworkError):
        binance.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": CID})

    found = binance.fetch_order(None, "BTC/USDT", params={"clientOrderId": CID})

    assert (found["status"], found["filled"]) == ("closed", 0.001)
    assert simulator.count_orders("binance", CID) == 1


def test_html_200_on_create_returns_order_id_none(simulator: Simulator, binance: ccxt.binance) -> None:
    simulator.inject("binance", "/api/v3/order", "html_200", method="POST", apply_after=True)
    assert binance.create_order("BTC/USDT", "market", "buy", 0.001)["id"] is None
    assert len(simulator.orders("binance")) == 1


def test_skewed_clock_and_wrong_secret_are_refused(simulator: Simulator, binance: ccxt.binance) -> None:
    simulator.set_clock_offset("binance", -15)  # the client is 15 s ahead: outside recvWindow's 1 s tolerance
    with pytest.raises(ccxt.InvalidNonce):
        binance.fetch_balance()
    simulator.set_clock_offset("binance", 11)  # the client is 11 s behind: older than recvWindow (10 s)
    with pytest.raises(ccxt.InvalidNonce):
        binance.fetch_balance()
    assert simulator.invalid_nonces("binance", KEY) == 2
    simulator.set_clock_offset("binance", 0)

    intruder = ccxt_client(simulator.url("binance"), "binance", KEY, "0" * 64)
    intruder.set_markets_from_exchange(binance)
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        intruder.fetch_balance()
