"""Binance spot REST dialect (`/api/v3/*`, plus the `/sapi`, `/fapi`, `/dapi` calls ccxt makes
while loading markets), as ccxt 4.5.90's `binance` calls it.

Signed calls carry `timestamp` (and `recvWindow`) and `signature = hex(HMAC-SHA256(secret,
query string + body without the signature))`, with the key in `X-MBX-APIKEY`. Errors are
`{"code": -NNNN, "msg": "..."}` with a 4xx status. A buy pays its 0.1 % fee in the asset bought,
a sell in the quote asset received: Binance FAQ "What is Binance Spot Trading Fee and How to
Calculate" (binance.com/en/support/faq/e85d6e703b874674840122196b89780a): "Trading fees are always
charged in the asset you receive ... If you sell ETH/USDT, the fee is paid in USDT." No setting
makes a spot sell pay in the base asset, so there is no fee-in-base mode here (`set_fee_in_base`
refuses). The other real case, "pay fees with BNB", is a per-key switch (`set_bnb_fees`): while
the key holds enough BNB, each trade's commission is paid in BNB at a 25 % discount, valued at
the BNB/quote (else BNB/USDT) price, and the coins and proceeds move whole; the FULL create
answer's `fills` and /api/v3/myTrades (filtered by `orderId`) then say `"commissionAsset":"BNB"`.
Simple Earn flexible balances are plain rows named `LD<asset>` in /api/v3/account (set them with
`Simulator.set_balance(..., "LDUSDT", ...)`), as the real account answer lists them. An order the
venue ends (`expire_order`) answers `EXPIRED` or `EXPIRED_IN_MATCH`. Only market orders are supported.

Modelling choices not measured against Binance: the rate limit is the per-key decaying counter
of the core (weight 1 per signed call) answered with 429 `-1003`; a timestamp check failure
counts in `invalid_nonces`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Final

from tests.sim.model import Account, Candle, Fill, Market, Order, OrderStatus, Reject, Side, VenueError
from tests.sim.venue import Call, Reply, Request, Venue, request_decimal, route

__all__ = ["ERROR_BODIES", "VENUE", "BinanceVenue"]

_DEFAULT_MARKETS: Final = (
    (Market("BTC/USDT", "BTC", "USDT", 2, 5, Decimal("0.00001"), Decimal("5"), 8), Decimal("60000")),
    (Market("ETH/USDT", "ETH", "USDT", 2, 4, Decimal("0.0001"), Decimal("5"), 8), Decimal("3000")),
    (Market("SOL/USDT", "SOL", "USDT", 2, 3, Decimal("0.001"), Decimal("5"), 8), Decimal("150")),
)

# (HTTP status, code, msg) per rejection; msg casing matters, ccxt matches some messages exactly
_ERRORS: Final[dict[Reject, tuple[int, int, str]]] = {
    Reject.INVALID_KEY: (401, -2015, "Invalid API-key, IP, or permissions for action."),
    Reject.INVALID_SIGNATURE: (400, -1022, "Signature for this request is not valid."),
    Reject.INVALID_NONCE: (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    Reject.RATE_LIMIT: (429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
                        " Please use WebSocket Streams for live updates to avoid polling the API."),
    Reject.INSUFFICIENT_FUNDS: (400, -2010, "Account has insufficient balance for requested action."),
    Reject.BELOW_MIN_AMOUNT: (400, -1013, "Filter failure: LOT_SIZE"),
    Reject.BELOW_MIN_COST: (400, -1013, "Filter failure: NOTIONAL"),
    Reject.UNKNOWN_SYMBOL: (400, -1121, "Invalid symbol."),
    Reject.UNKNOWN_ORDER: (400, -2013, "Order does not exist."),
    Reject.DUPLICATE_CLIENT_ORDER_ID: (400, -2010, "Duplicate order sent."),
    Reject.BAD_REQUEST: (400, -1102, "Mandatory parameter was not sent, was empty/null, or malformed."),
    Reject.UNKNOWN_ROUTE: (404, -1000, "Unknown endpoint."),
}
_CANCEL_UNKNOWN: Final = (400, -2011, "Unknown order sent.")

# Real answers a test can serve through a fault (`Simulator.inject(..., "http_5xx", status=..., body=...)`):
# (HTTP status, body). Messages from Binance's spot "Error codes" page (errors.md); -1007 comes
# with a 5XX, "the execution status is UNKNOWN" (rest-api.md, "HTTP Return Codes").
ERROR_BODIES: Final[dict[str, tuple[int, str]]] = {
    "timeout": (503, '{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown;'
                     ' execution status unknown."}'),
    "ip_banned": (418, '{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659146400000.'
                       ' Please use WebSocket Streams for live updates to avoid bans."}'),
    "duplicate": (400, '{"code":-2010,"msg":"Duplicate order sent."}'),
    "notional": (400, '{"code":-1013,"msg":"Filter failure: NOTIONAL"}'),
}
_BNB: Final = "BNB"
_BNB_DISCOUNT: Final = Decimal("0.75")  # "25% discount when paying with BNB" (Binance fee schedule)
_EXPIRED: Final = frozenset({"EXPIRED", "EXPIRED_IN_MATCH"})

_INTERVALS_S: Final[dict[str, int]] = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800,
}  # fmt: skip
_KLINES_DEFAULT, _KLINES_MAX = 500, 1000
_SIGNATURE_RE: Final = re.compile(r"&?signature=[0-9a-fA-F]*")
_MAX_RECV_WINDOW_MS: Final = 60_000
_AHEAD_TOLERANCE_MS: Final = 1_000  # Binance rejects timestamps more than 1 s in its future


def _fmt(value: Decimal, decimals: int = 8) -> str:
    return str(value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))


def _decimal(value: Any) -> Decimal:
    return request_decimal(value, "number")


class BinanceVenue(Venue):
    name = "binance"
    taker_fee = Decimal("0.001")
    client_order_id_param = "newClientOrderId"
    buy_fee_in_base = True

    def __init__(self, seed: int = 0) -> None:
        self._order_ids = itertools.count(1001)
        self._trade_ids = itertools.count(5001)
        self._bnb_keys: set[str] = set()  # keys with "pay fees with BNB" on
        super().__init__(seed)
        self.book.third_asset_fee = self._bnb_fee

    def set_bnb_fees(self, api_key: str, enabled: bool) -> None:
        """Turn "pay fees with BNB" on or off for one key."""
        (self._bnb_keys.add if enabled else self._bnb_keys.discard)(api_key)

    def _bnb_fee(self, account: Account, market: Market, fee_quote: Decimal) -> tuple[str, Decimal] | None:
        # Binance charges BNB only while the key holds enough; otherwise the usual asset pays.
        if account.api_key not in self._bnb_keys or _BNB in (market.base, market.quote):
            return None
        price = self.book.prices.get(f"{_BNB}/{market.quote}")
        if price is None and market.quote != "USDT":
            return None  # no BNB price in this quote: the usual asset pays
        price = price if price is not None else self.book.prices.get(f"{_BNB}/USDT")
        if price is None:
            return None
        amount = (fee_quote * _BNB_DISCOUNT / price).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        return (_BNB, amount) if account.free(_BNB) >= amount else None

    def expire_order(self, order_id: str, status: str) -> None:
        """End an open order's remainder as Binance does: EXPIRED, or EXPIRED_IN_MATCH (self-trade prevention)."""
        if status not in _EXPIRED:
            raise ValueError(f"binance: expired statuses are {sorted(_EXPIRED)}, was {status!r}")
        order = self.book.orders[order_id]
        self.book.cancel_order(order)
        order.extra["binance_status"] = status

    def default_markets(self) -> list[tuple[Market, Decimal]]:
        return list(_DEFAULT_MARKETS)

    def new_secret(self) -> str:
        return secrets.token_hex(32)

    def new_order_id(self) -> str:
        return str(next(self._order_ids))

    def new_fill_id(self) -> str:
        return str(next(self._trade_ids))

    @staticmethod
    def market_id(market: Market) -> str:
        return market.base + market.quote

    def _now_ms(self) -> int:
        return int(self.now_s() * 1000)

    # -- auth -------------------------------------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        return request.header("X-MBX-APIKEY")

    def authenticate(self, request: Request) -> Account:
        account = self.book.account(self.api_key_of(request))
        if account is None:
            raise VenueError(Reject.INVALID_KEY)
        total = request.query_string + request.body.decode(errors="replace")
        signature = request.params.get("signature", "")
        expected = hmac.new(account.secret.encode(), _SIGNATURE_RE.sub("", total).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(signature).lower()):
            raise VenueError(Reject.INVALID_SIGNATURE)
        self._check_timestamp(account, request.params)
        if account.rate is not None and not account.rate.try_spend(Decimal(1), time.monotonic()):
            raise VenueError(Reject.RATE_LIMIT)
        return account

    def _check_timestamp(self, account: Account, params: dict[str, Any]) -> None:
        try:
            stamp = int(str(params.get("timestamp")))
            window = int(str(params.get("recvWindow", 5000)))
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "timestamp") from None
        if window > _MAX_RECV_WINDOW_MS:
            raise VenueError(Reject.BAD_REQUEST, "recvWindow")
        now = self._now_ms()
        if stamp > now + _AHEAD_TOLERANCE_MS or now - stamp > window:
            account.invalid_nonces += 1
            raise VenueError(Reject.INVALID_NONCE, f"timestamp {stamp}, server {now}, window {window}")

    def error_reply(self, error: VenueError) -> Reply:
        status, code, message = _CANCEL_UNKNOWN if error.detail == "cancel" else _ERRORS[error.kind]
        return Reply.json({"code": code, "msg": message}, status=status)

    # -- public -----------------------------------------------------------------------------

    @route("GET", "/api/v3/ping")
    def ping(self, call: Call) -> Reply:
        return Reply.json({})

    @route("GET", "/api/v3/time")
    def server_time(self, call: Call) -> Reply:
        return Reply.json({"serverTime": self._now_ms()})

    @route("GET", "/api/v3/exchangeInfo")
    def exchange_info(self, call: Call) -> Reply:
        symbols = [self._symbol_json(m) for m in self.book.markets.values()]
        return Reply.json({"timezone": "UTC", "serverTime": self._now_ms(), "rateLimits": [], "symbols": symbols})

    @staticmethod
    def _symbol_json(market: Market) -> dict[str, Any]:
        tick = str(Decimal(1).scaleb(-market.price_decimals))
        step = str(Decimal(1).scaleb(-market.amount_decimals))
        return {
            "symbol": market.base + market.quote,
            "status": "TRADING",
            "baseAsset": market.base,
            "baseAssetPrecision": 8,
            "quoteAsset": market.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": str(market.min_amount), "maxQty": "9000", "stepSize": step},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "100", "stepSize": "0"},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": str(market.min_cost),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    @route("GET", "/fapi/v1/exchangeInfo")
    def futures_exchange_info(self, call: Call) -> Reply:
        return Reply.json({"timezone": "UTC", "serverTime": self._now_ms(), "rateLimits": [], "symbols": []})

    @route("GET", "/dapi/v1/exchangeInfo")
    def delivery_exchange_info(self, call: Call) -> Reply:
        return self.futures_exchange_info(call)

    @route("GET", "/sapi/v1/capital/config/getall", private=True)
    def coins(self, call: Call) -> Reply:
        account = call.require_account()
        codes = sorted({m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()})
        return Reply.json([self._coin_json(code, account) for code in codes])

    @staticmethod
    def _coin_json(code: str, account: Account) -> dict[str, Any]:
        return {
            "coin": code,
            "name": code,
            "free": _fmt(account.free(code)),
            "locked": _fmt(account.held(code)),
            "depositAllEnable": True,
            "withdrawAllEnable": True,
            "isLegalMoney": False,
            "trading": True,
            "networkList": [],
        }

    @route("GET", "/sapi/v1/margin/allPairs", private=True)
    def margin_pairs(self, call: Call) -> Reply:
        return Reply.json([])

    @route("GET", "/sapi/v1/margin/isolated/allPairs", private=True)
    def isolated_margin_pairs(self, call: Call) -> Reply:
        return Reply.json([])

    @route("GET", "/api/v3/ticker/24hr")
    def ticker_24hr(self, call: Call) -> Reply:
        params = call.params
        if "symbol" in params:
            return Reply.json(self._ticker_json(self._market_of(params["symbol"])))
        if "symbols" in params:
            try:
                wanted = json.loads(params["symbols"])
            except ValueError:
                raise VenueError(Reject.BAD_REQUEST, "symbols") from None
            return Reply.json([self._ticker_json(self._market_of(s)) for s in wanted])
        return Reply.json([self._ticker_json(m) for m in self.book.markets.values()])

    def _ticker_json(self, market: Market) -> dict[str, Any]:
        price = _fmt(self.book.prices[market.symbol], market.price_decimals)
        now = self._now_ms()
        return {
            "symbol": self.market_id(market),
            "priceChange": "0.00",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": price,
            "prevClosePrice": price,
            "lastPrice": price,
            "lastQty": "0.00100000",
            "bidPrice": price,
            "bidQty": "1.00000000",
            "askPrice": price,
            "askQty": "1.00000000",
            "openPrice": price,
            "highPrice": price,
            "lowPrice": price,
            "volume": "100.00000000",
            "quoteVolume": _fmt(self.book.prices[market.symbol] * 100),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 100,
            "count": 100,
        }

    @route("GET", "/api/v3/klines")
    def klines(self, call: Call) -> Reply:
        params = call.params
        market = self._market_of(params.get("symbol"))
        interval_s = _INTERVALS_S.get(str(params.get("interval")))
        if interval_s is None:
            raise VenueError(Reject.BAD_REQUEST, "interval")
        bars = self.book.candles(market.symbol, interval_s)
        if params.get("startTime") not in (None, ""):
            bars = [c for c in bars if c.ts_s * 1000 >= int(_decimal(params["startTime"]))]
        if params.get("endTime") not in (None, ""):
            bars = [c for c in bars if c.ts_s * 1000 <= int(_decimal(params["endTime"]))]
        limit = min(int(_decimal(params.get("limit", _KLINES_DEFAULT))), _KLINES_MAX)
        window = bars[:limit] if params.get("startTime") not in (None, "") else bars[-limit:]
        return Reply.json([self._kline_row(c, market, interval_s) for c in window])

    @staticmethod
    def _kline_row(candle: Candle, market: Market, interval_s: int) -> list[Any]:
        p = market.price_decimals
        opened = candle.ts_s * 1000
        quote_volume = _fmt(candle.volume * candle.close)
        prices = [_fmt(v, p) for v in (candle.open, candle.high, candle.low, candle.close)]
        return [opened, *prices, _fmt(candle.volume), opened + interval_s * 1000 - 1, quote_volume, 1, "0", "0", "0"]

    # -- private ----------------------------------------------------------------------------

    @route("GET", "/api/v3/account", private=True)
    def account(self, call: Call) -> Reply:
        account = call.require_account()
        balances = [
            {"asset": code, "free": _fmt(account.free(code)), "locked": _fmt(account.held(code))}
            for code in sorted(set(account.balances) | set(account.holds))
        ]
        # Field set of the docs' "Account information" example (commissionRates, uid, ...).
        return Reply.json(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self._now_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": 354937868,
            }
        )

    @route("GET", "/sapi/v1/account/apiRestrictions", private=True)
    def api_restrictions(self, call: Call) -> Reply:
        account = call.require_account()
        return Reply.json({
            "ipRestrict": False, "createTime": 1_700_000_000_000, "enableReading": True,
            "enableSpotAndMarginTrading": account.can_trade, "enableWithdrawals": account.can_withdraw,
            "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
            "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enablePortfolioMarginTrading": False,
        })  # fmt: skip

    @route("POST", "/api/v3/order/test", private=True)
    def test_order(self, call: Call) -> Reply:
        # Validates like a new order, places nothing; answers {} (without computeCommissionRates).
        call.require_account()
        params = call.params
        market = self._market_of(params.get("symbol"))
        if params.get("type") != "MARKET" or str(params.get("side", "")).upper() not in ("BUY", "SELL"):
            raise VenueError(Reject.BAD_REQUEST, "type")
        quantity, quote = params.get("quantity"), params.get("quoteOrderQty")
        if (quantity is None) == (quote is None):
            raise VenueError(Reject.BAD_REQUEST, "quantity")
        if quote is not None and _decimal(quote) < market.min_cost:
            raise VenueError(Reject.BELOW_MIN_COST, "notional")
        return Reply.json({})

    @route("POST", "/api/v3/order", private=True, creates_order=True)
    def new_order(self, call: Call) -> Reply:
        account = call.require_account()
        params = call.params
        market = self._market_of(params.get("symbol"))
        if params.get("type") != "MARKET":
            raise VenueError(Reject.BAD_REQUEST, "type")
        try:
            side = Side(str(params.get("side", "")).lower())
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "side") from None
        quantity, quote = params.get("quantity"), params.get("quoteOrderQty")
        if (quantity is None) == (quote is None):
            raise VenueError(Reject.BAD_REQUEST, "quantity")
        volume = _decimal(quantity) if quantity is not None else None
        if volume is not None and -volume.as_tuple().exponent > market.amount_decimals:
            raise VenueError(Reject.BELOW_MIN_AMOUNT, "step size")  # Binance: "Filter failure: LOT_SIZE"
        client_order_id = params.get("newClientOrderId") or f"sim{secrets.token_hex(8)}"
        order = call.book.place_market_order(
            account,
            market.symbol,
            side,
            volume=volume,
            quote_cost=_decimal(quote) if quote is not None else None,
            client_order_id=str(client_order_id),
            fill_fraction=call.fill_fraction,
        )
        payload = self._order_json(order)
        response_type = params.get("newOrderRespType", "FULL")
        if response_type == "ACK":
            ack = {k: payload[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId")}
            return Reply.json(ack | {"transactTime": payload["time"]})
        payload["transactTime"] = payload["time"]
        if response_type == "FULL":
            payload["fills"] = [self._fill_json(f) for f in call.book.fills if f.order_id == order.order_id]
        return Reply.json(payload)

    def _order_json(self, order: Order) -> dict[str, Any]:
        market = self.book.markets[order.symbol]
        if order.extra.get("binance_status"):
            status = order.extra["binance_status"]
        elif order.status is OrderStatus.OPEN:
            status = "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
        else:
            status = "FILLED" if order.status is OrderStatus.CLOSED else "CANCELED"
        created_ms = int(order.created_at_s * 1000)
        updated_ms = int((order.closed_at_s or order.created_at_s) * 1000)
        return {
            "symbol": self.market_id(market),
            "orderId": int(order.order_id),
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": "0.00000000",
            "origQty": _fmt(order.volume),
            "executedQty": _fmt(order.filled),
            "cummulativeQuoteQty": _fmt(order.cost),
            "status": status,
            "timeInForce": "GTC",
            "type": "MARKET",
            "side": str(order.side).upper(),
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": created_ms,
            "updateTime": updated_ms,
            "isWorking": True,
            "workingTime": created_ms,
            "origQuoteOrderQty": _fmt(order.quote_volume or Decimal(0)),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    @staticmethod
    def _fill_json(fill: Fill) -> dict[str, Any]:
        return {
            "price": _fmt(fill.price),
            "qty": _fmt(fill.volume),
            "commission": _fmt(fill.fee),
            "commissionAsset": fill.fee_asset,
            "tradeId": int(fill.fill_id),
        }

    def _find_order(self, call: Call, *, cancel: bool = False) -> Order:
        account = call.require_account()
        params = call.params
        market = self._market_of(params.get("symbol"))
        candidates = [o for o in call.book.orders_of(account) if o.symbol == market.symbol]
        if params.get("orderId") not in (None, ""):
            candidates = [o for o in candidates if o.order_id == str(params["orderId"])]
        elif params.get("origClientOrderId") not in (None, ""):
            candidates = [o for o in candidates if o.client_order_id == str(params["origClientOrderId"])]
        else:
            raise VenueError(Reject.BAD_REQUEST, "orderId")
        if not candidates:
            raise VenueError(Reject.UNKNOWN_ORDER, "cancel" if cancel else "")
        return candidates[-1]  # a reused client id finds the newest order

    @route("GET", "/api/v3/order", private=True)
    def query_order(self, call: Call) -> Reply:
        return Reply.json(self._order_json(self._find_order(call)))

    @route("DELETE", "/api/v3/order", private=True)
    def cancel_order(self, call: Call) -> Reply:
        order = self._find_order(call, cancel=True)
        if order.status is not OrderStatus.OPEN:
            raise VenueError(Reject.UNKNOWN_ORDER, "cancel")
        call.book.cancel_order(order)
        return Reply.json(self._order_json(order) | {"origClientOrderId": order.client_order_id})

    @route("GET", "/api/v3/openOrders", private=True)
    def open_orders(self, call: Call) -> Reply:
        account = call.require_account()
        symbol = call.params.get("symbol")
        market = self._market_of(symbol) if symbol else None
        orders = call.book.orders_of(account, OrderStatus.OPEN)
        orders = [o for o in orders if market is None or o.symbol == market.symbol]
        return Reply.json([self._order_json(o) for o in orders])

    @route("GET", "/api/v3/allOrders", private=True)
    def all_orders(self, call: Call) -> Reply:
        account = call.require_account()
        market = self._market_of(call.params.get("symbol"))
        orders = [o for o in call.book.orders_of(account) if o.symbol == market.symbol]
        start = call.params.get("startTime")
        if start not in (None, ""):
            orders = [o for o in orders if o.created_at_s * 1000 >= int(_decimal(start))]
        limit = min(int(_decimal(call.params.get("limit", 500))), 1000)
        return Reply.json([self._order_json(o) for o in orders[-limit:]])

    @route("GET", "/api/v3/myTrades", private=True)
    def my_trades(self, call: Call) -> Reply:
        account = call.require_account()
        market = self._market_of(call.params.get("symbol"))
        fills = [f for f in call.book.fills_of(account) if f.symbol == market.symbol]
        if call.params.get("orderId") not in (None, ""):  # "can only be used in combination with symbol"
            fills = [f for f in fills if f.order_id == str(call.params["orderId"])]
        if call.params.get("fromId") not in (None, ""):
            fills = [f for f in fills if int(f.fill_id) >= int(_decimal(call.params["fromId"]))]
        start = call.params.get("startTime")
        if start not in (None, ""):
            fills = [f for f in fills if f.ts_s * 1000 >= int(_decimal(start))]
        limit = min(int(_decimal(call.params.get("limit", 500))), 1000)
        return Reply.json([self._trade_json(f) for f in fills[-limit:]])

    def _trade_json(self, fill: Fill) -> dict[str, Any]:
        market = self.book.markets[fill.symbol]
        return {
            "symbol": self.market_id(market),
            "id": int(fill.fill_id),
            "orderId": int(fill.order_id),
            "orderListId": -1,
            "price": _fmt(fill.price),
            "qty": _fmt(fill.volume),
            "quoteQty": _fmt(fill.cost),
            "commission": _fmt(fill.fee),
            "commissionAsset": fill.fee_asset,
            "time": int(fill.ts_s * 1000),
            "isBuyer": fill.side is Side.BUY,
            "isMaker": False,
            "isBestMatch": True,
        }


VENUE = BinanceVenue
