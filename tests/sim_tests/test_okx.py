"""OKX spot through the real ccxt client: markets, batched tickers, candles, orders, client ids, auth, faults."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
import requests

from tests.sim.clients import ccxt_client
from tests.sim.model import Account, OrderStatus
from tests.sim.simulator import Simulator

KEY = "okx-key-1"
PASSPHRASE = "okx-pass-1"
CID = "nj0123456789abcdef"
_SPOT = {"fetchMarkets": {"types": ["spot"]}}  # what CcxtBroker sets


@pytest.fixture
def okx_account(simulator: Simulator) -> Account:
    return simulator.add_account("okx", KEY, balances={"USDT": Decimal("10000")}, passphrase=PASSPHRASE)


def _client(simulator: Simulator, secret: str, passphrase: str = PASSPHRASE, **config: object) -> ccxt.okx:
    return ccxt_client(simulator.url("okx"), "okx", KEY, secret, password=passphrase, options=dict(_SPOT), **config)


@pytest.fixture
def okx(simulator: Simulator, okx_account: Account) -> ccxt.okx:
    client = _client(simulator, okx_account.secret, timeout=300)
    client.load_markets()
    simulator.clear_requests()
    return client


def test_load_markets_signs_currencies_then_lists_each_instrument_type(
    simulator: Simulator, okx_account: Account
) -> None:
    everything = ccxt_client(simulator.url("okx"), "okx", KEY, okx_account.secret, password=PASSPHRASE)
    markets = everything.load_markets()

    assert [(r.path, r.params.get("instType"), r.api_key) for r in simulator.requests("okx")] == [
        ("/api/v5/asset/currencies", None, KEY),
        ("/api/v5/public/instruments", "SPOT", None),
        ("/api/v5/public/instruments", "FUTURES", None),
        ("/api/v5/public/instruments", "SWAP", None),
        ("/api/v5/public/instruments", "OPTION", None),  # once per default underlying: BTC-USD, ETH-USD
        ("/api/v5/public/instruments", "OPTION", None),
    ]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["precision"], btc["limits"]["amount"]["min"]) == (
        "BTC-USDT", {"amount": 1e-08, "price": 0.1}, 1e-05,
    )
    assert btc["limits"]["cost"]["min"] is None  # OKX publishes no minimum notional for spot
    simulator.clear_requests()
    spot_only = _client(simulator, okx_account.secret)
    spot_only.load_markets()
    assert [r.path for r in simulator.requests("okx")] == ["/api/v5/asset/currencies", "/api/v5/public/instruments"]
    simulator.clear_requests()
    ccxt_client(simulator.url("okx"), "okx", options=dict(_SPOT)).load_markets()  # no key: no currencies call
    assert [r.path for r in simulator.requests("okx")] == ["/api/v5/public/instruments"]


def test_tickers_are_one_batched_request_and_ohlcv_is_served(simulator: Simulator, okx: ccxt.okx) -> None:
    simulator.set_price("okx", "ETH/USDT", Decimal("3100.5"))

    tickers = okx.fetch_tickers(["BTC/USDT", "ETH/USDT"])

    assert {s: t["last"] for s, t in tickers.items()} == {"BTC/USDT": 60000.0, "ETH/USDT": 3100.5}
    [request] = simulator.requests("okx")
    assert (request.path, request.params) == ("/api/v5/market/tickers", {"instType": "SPOT"})
    assert okx.fetch_ticker("ETH/USDT")["bid"] == 3100.5
    simulator.clear_requests()
    candles = okx.fetch_ohlcv("ETH/USDT", "5m", limit=50)
    assert len(candles) == 50 and candles[-1][4] == 3100.5
    assert candles[0][0] < candles[-1][0]  # OKX answers newest first; ccxt sorts
    [request] = simulator.requests("okx")
    assert request.path == "/api/v5/market/candles"
    assert request.params == {"instId": "ETH-USDT", "bar": "5m", "limit": "50"}
    since = candles[10][0]
    assert [c[0] for c in okx.fetch_ohlcv("ETH/USDT", "5m", since=since, limit=5)] == [c[0] for c in candles[10:15]]


def test_market_buy_by_cost_spends_the_quote_and_pays_the_fee_in_base(simulator: Simulator, okx: ccxt.okx) -> None:
    placed = okx.create_market_buy_order_with_cost("BTC/USDT", 120, {"clientOrderId": CID})

    # The batch-orders answer carries ids only: no state, no fill.
    assert (placed["id"], placed["clientOrderId"], placed["status"], placed["filled"]) == (
        "600000000000000001", CID, None, None,
    )
    [request] = simulator.requests("okx", path_contains="/trade/")
    assert (request.path, request.client_order_ids) == ("/api/v5/trade/batch-orders", (CID,))
    [order] = simulator.orders("okx", KEY)
    assert (order.extra["tgtCcy"], order.extra["sz"], order.volume) == ("quote_ccy", "120", Decimal("0.002"))
    assert simulator.balances("okx", KEY) == {"USDT": Decimal("9880.00000000"), "BTC": Decimal("0.001998")}

    found = okx.fetch_order(None, "BTC/USDT", {"clientOrderId": CID})

    assert (found["id"], found["status"]) == (placed["id"], "closed")
    assert (found["filled"], found["average"]) == (0.002, 60000.0)
    assert (found["cost"], found["fee"]) == (120.0, {"cost": 2e-06, "currency": "BTC"})  # "sz" is the cost here
    query = simulator.requests("okx", path_contains="/trade/order", method="GET")[-1]
    assert query.params == {"instId": "BTC-USDT", "clOrdId": CID}


def test_market_buy_and_sell_by_base_amount(simulator: Simulator, okx: ccxt.okx) -> None:
    okx.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": CID})
    sold = okx.create_order("BTC/USDT", "market", "sell", 0.004)

    buy, sell = simulator.orders("okx", KEY)
    assert (buy.extra["tgtCcy"], buy.extra["sz"], buy.volume) == ("base_ccy", "0.01", Decimal("0.01"))
    assert (sell.extra["tgtCcy"], sell.volume) == ("base_ccy", Decimal("0.004"))
    assert sold["clientOrderId"].startswith("6b9ad766b55dBCDE")  # ccxt's broker id when none is given
    # 600 USDT out, 0.01 BTC in less 0.00001 BTC fee; the sell pays 0.24 USDT
    assert simulator.balances("okx", KEY) == {"USDT": Decimal("9639.76000000"), "BTC": Decimal("0.00599000")}
    balance = okx.fetch_balance()
    assert (balance["BTC"]["total"], balance["USDT"]["free"]) == (0.00599, 9639.76)
    fees = [okx.fetch_order(o.order_id, "BTC/USDT")["fee"] for o in (buy, sell)]
    assert fees == [{"cost": 1e-05, "currency": "BTC"}, {"cost": 0.24, "currency": "USDT"}]


def test_lookup_by_client_order_id_and_order_not_found(simulator: Simulator, okx: ccxt.okx) -> None:
    okx.create_order("ETH/USDT", "market", "buy", 0.1, params={"clientOrderId": CID})

    assert okx.fetch_order(None, "ETH/USDT", {"clientOrderId": CID})["clientOrderId"] == CID
    with pytest.raises(ccxt.OrderNotFound, match="51603"):
        okx.fetch_order(None, "ETH/USDT", {"clientOrderId": "njneversent000000"})
    with pytest.raises(ccxt.OrderNotFound, match="51603"):
        okx.fetch_order(None, "BTC/USDT", {"clientOrderId": CID})  # the id is per instrument


def test_partial_fill_shows_in_pending_then_cancel(simulator: Simulator, okx: ccxt.okx) -> None:
    simulator.inject("okx", "batch-orders", "partial_fill", fraction="0.5")
    placed = okx.create_order("ETH/USDT", "market", "buy", 0.1, params={"clientOrderId": CID})

    [pending] = okx.fetch_open_orders("ETH/USDT")
    assert (pending["id"], pending["status"]) == (placed["id"], "open")
    assert (pending["filled"], pending["remaining"]) == (0.05, 0.05)
    assert simulator.holds("okx", KEY) == {"USDT": Decimal("150.00")}
    okx.cancel_order(placed["id"], "ETH/USDT")
    assert simulator.order("okx", placed["id"]).status is OrderStatus.CANCELED
    with pytest.raises(ccxt.OrderNotFound, match="51401"):
        okx.cancel_order(placed["id"], "ETH/USDT")
    okx.create_order("ETH/USDT", "market", "buy", 0.1)
    assert [o["status"] for o in okx.fetch_closed_orders("ETH/USDT")] == ["closed"]  # state=filled only
    assert okx.fetch_open_orders("ETH/USDT") == []


def test_real_rejections_map_to_ccxt_classes(simulator: Simulator, okx: ccxt.okx) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        okx.create_order("BTC/USDT", "market", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder, match="51020"):  # below minSz; ccxt does not check minimums
        okx.create_order("BTC/USDT", "market", "sell", 0.000001)
    raw = {"instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "market", "sz": "0.000012345"}
    with pytest.raises(ccxt.InvalidOrder, match="51121"):  # not a multiple of lotSz: ccxt would round first
        okx.private_post_trade_batch_orders([raw])
    with pytest.raises(ccxt.BadSymbol, match="51001"):
        okx.private_post_trade_batch_orders([raw | {"instId": "DOGE-USDT"}])
    assert simulator.orders("okx") == []


def test_signature_passphrase_key_and_clock_are_checked(simulator: Simulator, okx: ccxt.okx) -> None:
    wrong_secret = _client(simulator, "0" * 32)
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        wrong_secret.fetch_balance()
    wrong_passphrase = _client(simulator, okx.secret, passphrase="not-it")
    with pytest.raises(ccxt.AuthenticationError, match="50105"):
        wrong_passphrase.fetch_balance()
    unknown = ccxt_client(simulator.url("okx"), "okx", "no-such-key", okx.secret, password=PASSPHRASE)
    with pytest.raises(ccxt.AuthenticationError, match="50111"):
        unknown.private_get_account_balance()
    signed = okx.sign("trade/batch-orders", ["private"], "POST", [{"instId": "BTC-USDT", "sz": "0.001"}])
    body = signed["body"].replace("0.001", "0.002")
    tampered = requests.post(signed["url"], data=body, headers=signed["headers"], timeout=5)
    assert (tampered.status_code, tampered.json()["code"]) == (401, "50113")
    assert simulator.invalid_nonces("okx", KEY) == 0  # refused before the timestamp is looked at

    simulator.set_clock_offset("okx", 31)  # the client's clock is 31 s behind: outside OKX's 30 s
    with pytest.raises(ccxt.InvalidNonce, match="50102"):
        okx.fetch_balance()
    simulator.set_clock_offset("okx", 0)
    assert simulator.invalid_nonces("okx", KEY) == 1


def test_rate_limit_counter_answers_50011(simulator: Simulator, okx: ccxt.okx) -> None:
    simulator.set_rate_limit("okx", KEY, max_count=2, decay_per_s=0)
    okx.fetch_balance()
    okx.fetch_balance()
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        okx.fetch_balance()


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("invalid_nonce", {}, ccxt.InvalidNonce),
        ("insufficient_funds", {}, ccxt.InsufficientFunds),
        ("rate_limit", {}, ccxt.RateLimitExceeded),
        ("auth_error", {}, ccxt.AuthenticationError),
        ("http_5xx", {}, ccxt.ExchangeNotAvailable),
        ("http_429", {}, ccxt.ExchangeNotAvailable),  # okx maps a bare 429 so (ccxt#9612); 50011 is RateLimitExceeded
        ("http_429", {"body": '{"code":"50011","data":[],"msg":"Too Many Requests"}'}, ccxt.RateLimitExceeded),
        ("timeout", {"delay_ms": 800}, ccxt.RequestTimeout),
        ("drop", {}, ccxt.NetworkError),
    ],
)
def test_fault_maps_to_the_ccxt_exception(
    simulator: Simulator, okx: ccxt.okx, kind: str, options: dict[str, object], expected: type[Exception]
) -> None:
    simulator.inject("okx", "/api/v5/account/balance", kind, **options)
    with pytest.raises(expected):
        okx.fetch_balance()
    assert okx.fetch_balance()["total"] == {"USDT": 10000.0}


def test_apply_after_drop_leaves_the_order_at_the_venue(simulator: Simulator, okx: ccxt.okx) -> None:
    simulator.inject("okx", "batch-orders", "drop", apply_after=True)
    with pytest.raises(ccxt.NetworkError):
        okx.create_market_buy_order_with_cost("BTC/USDT", 60, {"clientOrderId": CID})

    found = okx.fetch_order(None, "BTC/USDT", {"clientOrderId": CID})

    assert (found["status"], found["filled"]) == ("closed", 0.001)
    assert simulator.count_orders("okx", CID) == 1


def test_html_200_on_create_returns_order_id_none(simulator: Simulator, okx: ccxt.okx) -> None:
    simulator.inject("okx", "batch-orders", "html_200", apply_after=True)
    assert okx.create_order("BTC/USDT", "market", "buy", 0.001)["id"] is None
    assert len(simulator.orders("okx")) == 1
