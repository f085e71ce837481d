"""Kraken spot REST dialect (`/0/public/*`, `/0/private/*`), as ccxt 4.5.90's `kraken` calls it.

Private calls are form posts signed with API-Sign = b64(HMAC-SHA512(b64decode(secret),
path + SHA256(nonce + body))); the nonce must grow strictly per key (nonce window 0). Every
answer is HTTP 200 with `{"error": [...], "result": ...}`; error strings keep Kraken's casing
because ccxt maps them by exact match. Only market orders are supported.

Modelling choices where Kraken's behaviour was not measured (documented in tests/sim/README.md):
QueryOrders without a txid, or with a non-integer userref, answers `EGeneral:Invalid arguments`;
unknown txids are left out of its result; a second open order with the same cl_ord_id answers
`EOrder:Duplicate cl_ord_id` (Kraken enforces uniqueness among open orders only).

Fee currency (`oflags` fciq / fcib). An order's own flag decides; without one, the key's (or the
venue's) setting (`Simulator.set_fee_in_base`), else Kraken's documented default: "fcib ... default
if selling", fciq when buying (REST "Add Order"). Both flags are *preferences* ("prefer fee in
quote currency"): `set_fee_in_base(..., overriding=True)` makes the venue take the fee in base even
from an order that asked for quote, which is how tests reach the `fcib` answer shape now that NIJA
sends `fciq` on every order. Under `fcib` a buy credits volume minus fee in base and a
sell debits volume plus fee in base, the quote leg moving by the bare cost. What Kraken answers:
  - the order's and the trade's `fee` stay the fee's value in the QUOTE currency. Kraken REST
    "Query Orders Info": `fee` = "Total fee (quote currency)"; Kraken support, "Differences between
    ledger and trades history" (support.kraken.com/hc/en-us/articles/115000302707): trades show
    "the fee estimate in terms of the quote currency (NOT necessarily the actual amount that was
    deducted)"; only the ledger shows the base amount taken;
  - `oflags` names the flag in force. ccxt 4.5.90 `kraken.parse_order` (ccxt/kraken.py, the
    `if flags.find('fciq') >= 0 ... elif flags.find('fcib') >= 0` lines) sets `fee.currency` to
    the market's base for `fcib` but keeps `fee.cost` = Kraken's quote-valued `fee` string.
Modelling choices, not measured: the base fee is volume x taker rate rounded half-up
to the asset's `decimals` (Kraken's record-keeping precision, 10 for XBT: its ledger prints
"-0.4000000000"); an `fcib` sell needs volume + fee free in base, else `EOrder:Insufficient funds`
(no fallback to quote); `fcib` together with `fciq` answers `EGeneral:Invalid arguments`.

Quote-sized buys (`oflags=viqc`) are refused with `EGeneral:Invalid arguments:volume`, what ccxt's
maintainers got from the live API for a funded account (ccxt issue #22521, PR #22522).

Balances. Unified codes with a Kraken suffix are sub-balances: `BTC.F` (Auto Earn) is served as
`XBT.F`, `USD.F` as `USD.F` (altname + suffix, as BalanceEx names them: infinity-grid PR #46,
freqtrade #11118); they are not free to trade here (a sell needs the plain balance, else
`EOrder:Insufficient funds`). `KFEE` (fee credits, 2 decimals) and `EUR` (`ZEUR`) are ordinary rows
(JKorf/Kraken.Net #30). Market status (`set_market_status`: online, cancel_only, post_only,
limit_only, reduce_only) shows in AssetPairs' `status`; an AddOrder on a market that is not
online answers `EService:Market in <status> mode`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import time
from decimal import ROUND_DOWN, Decimal
from email.utils import formatdate
from typing import Any, Final

from tests.sim.model import Account, Candle, Fill, Market, Order, OrderStatus, Reject, Side, VenueError
from tests.sim.venue import Call, Reply, Request, Venue, request_decimal, route

__all__ = ["VENUE", "KrakenVenue"]

# unified code -> (Kraken asset id, altname, decimals)
_ASSETS: Final[dict[str, tuple[str, str, int]]] = {
    "BTC": ("XXBT", "XBT", 10),
    "ETH": ("XETH", "ETH", 10),
    "XRP": ("XXRP", "XRP", 8),
    "DOGE": ("XXDG", "XDG", 8),
    "SOL": ("SOL", "SOL", 10),
    "USD": ("ZUSD", "USD", 4),
    "EUR": ("ZEUR", "EUR", 4),
    "KFEE": ("KFEE", "FEE", 2),
    "USDT": ("USDT", "USDT", 8),
}

# Pairs whose id breaks the X/Z-prefix rule on the real venue
_PAIR_IDS: Final[dict[str, str]] = {"DOGE/USD": "XDGUSD", "DOGE/EUR": "XDGEUR"}

_DEFAULT_MARKETS: Final = (
    (Market("BTC/USD", "BTC", "USD", 1, 8, Decimal("0.00005"), Decimal("0.5"), 4), Decimal("60000")),
    (Market("ETH/USD", "ETH", "USD", 2, 8, Decimal("0.002"), Decimal("0.5"), 4), Decimal("3000")),
    (Market("SOL/USD", "SOL", "USD", 2, 8, Decimal("0.02"), Decimal("0.5"), 4), Decimal("150")),
    (Market("XRP/USD", "XRP", "USD", 5, 8, Decimal("2"), Decimal("0.5"), 4), Decimal("0.6")),
)

_ERRORS: Final[dict[Reject, str]] = {
    Reject.INVALID_KEY: "EAPI:Invalid key",
    Reject.INVALID_SIGNATURE: "EAPI:Invalid signature",
    Reject.INVALID_NONCE: "EAPI:Invalid nonce",
    Reject.RATE_LIMIT: "EAPI:Rate limit exceeded",
    Reject.INSUFFICIENT_FUNDS: "EOrder:Insufficient funds",
    Reject.BELOW_MIN_AMOUNT: "EOrder:Order minimum not met",
    Reject.BELOW_MIN_COST: "EOrder:Cost minimum not met",
    Reject.UNKNOWN_SYMBOL: "EQuery:Unknown asset pair",
    Reject.UNKNOWN_ORDER: "EOrder:Unknown order",
    Reject.DUPLICATE_CLIENT_ORDER_ID: "EOrder:Duplicate cl_ord_id",
    Reject.BAD_REQUEST: "EGeneral:Invalid arguments",
    Reject.UNKNOWN_ROUTE: "EGeneral:Unknown method",
    Reject.MARKET_CLOSED: "EService:Market in {} mode",
}
# Kraken appends the offending field for these (ccxt maps ":Invalid arguments:volume" to InvalidOrder)
_FIELD_SUFFIXED: Final = frozenset({"volume", "viqc", "ordertype", "cl_ord_id", "userref"})

# Kraken's private call counter: most calls cost 1, history calls 2; trading calls have their own limiter
_CALL_COST: Final[dict[str, Decimal]] = {
    "TradesHistory": Decimal(2),
    "Ledgers": Decimal(2),
    "QueryLedgers": Decimal(2),
    "AddOrder": Decimal(0),
    "CancelOrder": Decimal(0),
}
_INTERVALS_MIN: Final = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
_OHLC_PAGE: Final = 720
_CLOSED_PAGE: Final = 50
_COST_DECIMALS_SHOWN: Final = 5  # Kraken prints order cost and fee with 5 decimals
_UUID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_STATUS: Final = {OrderStatus.OPEN: "open", OrderStatus.CLOSED: "closed", OrderStatus.CANCELED: "canceled"}
_FEE_IN_BASE, _FEE_IN_QUOTE = "fcib", "fciq"


def _fmt(value: Decimal, decimals: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")




def _kraken_id(prefix: str, rng_choice: Any) -> str:
    alphabet = string.ascii_uppercase + string.digits
    parts = ("".join(rng_choice(alphabet, k=n)) for n in (5, 5, 6))
    return prefix + "-".join(parts)


class KrakenVenue(Venue):
    name = "kraken"
    taker_fee = Decimal("0.0026")
    maker_fee = Decimal("0.0016")
    client_order_id_param = "cl_ord_id"

    def __init__(self, seed: int = 0) -> None:
        self._fee_flag_default: str | None = None  # None: Kraken's own (fcib selling, fciq buying)
        self._fee_flags: dict[str, str] = {}  # per API key, over the venue's default
        self._fee_forced: dict[str | None, str] = {}  # per key (None: venue): over the order's own flag
        self.market_status: dict[str, str] = {}  # symbol -> AssetPairs status; absent: online
        super().__init__(seed)

    def default_markets(self) -> list[tuple[Market, Decimal]]:
        return list(_DEFAULT_MARKETS)

    def base_fee_decimals(self, market: Market) -> int:
        return self.asset(market.base)[2]  # Kraken books every asset to its `decimals`

    def set_fee_in_base(self, enabled: bool, api_key: str | None = None, overriding: bool = False) -> None:
        flag = _FEE_IN_BASE if enabled else _FEE_IN_QUOTE
        if overriding:
            if enabled:
                self._fee_forced[api_key] = flag
            else:
                self._fee_forced.pop(api_key, None)
        elif api_key is None:
            self._fee_flag_default = flag
        else:
            self._fee_flags[api_key] = flag

    def _fee_flag(self, account: Account, flags: list[str], side: Side) -> str:
        """The fee currency flag in force for one AddOrder: an overriding setting, else its own,
        else the key's, else the venue's, else Kraken's default by side."""
        wanted = {f for f in flags if f in (_FEE_IN_BASE, _FEE_IN_QUOTE)}
        if len(wanted) > 1:
            raise VenueError(Reject.BAD_REQUEST, "oflags")  # mutually exclusive
        forced = self._fee_forced.get(account.api_key, self._fee_forced.get(None))
        if forced is not None:
            return forced
        if wanted:
            return wanted.pop()
        flag = self._fee_flags.get(account.api_key, self._fee_flag_default)
        if flag is not None:
            return flag
        return _FEE_IN_BASE if side is Side.SELL else _FEE_IN_QUOTE

    def new_secret(self) -> str:
        return base64.b64encode(secrets.token_bytes(64)).decode()

    def new_order_id(self) -> str:
        return _kraken_id("O", self._rng.choices)

    def new_fill_id(self) -> str:
        return _kraken_id("T", self._rng.choices)

    def client_order_ids(self, request: Request) -> tuple[str, ...]:
        params = request.params
        value = params.get("cl_ord_id", params.get("userref"))
        return (str(value),) if value is not None else ()

    # -- names ------------------------------------------------------------------------------

    @staticmethod
    def asset(code: str) -> tuple[str, str, int]:
        """(Kraken id, altname, decimals) of a unified asset code."""
        return _ASSETS.get(code, (code, code, 10))

    def pair_names(self, market: Market) -> tuple[str, str, str]:
        """(pair id, altname, wsname): XXBTZUSD / XBTUSD / XBT/USD, or SOLUSD / SOLUSD / SOL/USD."""
        base_id, base_alt, _ = self.asset(market.base)
        quote_id, quote_alt, _ = self.asset(market.quote)
        legacy = len(base_id) == 4 and len(quote_id) == 4 and base_id[0] in "XZ" and quote_id[0] in "XZ"
        altname = base_alt + quote_alt
        pair_id = _PAIR_IDS.get(market.symbol, base_id + quote_id if legacy else altname)
        return pair_id, altname, f"{base_alt}/{quote_alt}"

    def _market_of(self, pair: str) -> Market:
        for market in self.book.markets.values():
            if pair in self.pair_names(market):
                return market
        raise VenueError(Reject.UNKNOWN_SYMBOL, pair)

    # -- auth -------------------------------------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        return request.header("API-Key")

    def authenticate(self, request: Request) -> Account:
        account = self.book.account(self.api_key_of(request))
        if account is None:
            raise VenueError(Reject.INVALID_KEY)
        nonce_text = str(request.params.get("nonce", ""))
        digest = hashlib.sha256(nonce_text.encode() + request.body).digest()
        try:
            key = base64.b64decode(account.secret, validate=True)
        except ValueError:
            raise VenueError(Reject.INVALID_SIGNATURE, "secret is not base64") from None
        expected = base64.b64encode(hmac.new(key, request.path.encode() + digest, hashlib.sha512).digest()).decode()
        if not hmac.compare_digest(expected, request.header("API-Sign") or ""):
            raise VenueError(Reject.INVALID_SIGNATURE)
        if not nonce_text.isdigit() or int(nonce_text) <= account.last_nonce:
            account.invalid_nonces += 1
            raise VenueError(Reject.INVALID_NONCE, f"{nonce_text} <= {account.last_nonce}")
        account.last_nonce = int(nonce_text)
        method = request.path.rsplit("/", 1)[-1]
        cost = _CALL_COST.get(method, Decimal(1))
        if account.rate is not None and not account.rate.try_spend(cost, time.monotonic()):
            raise VenueError(Reject.RATE_LIMIT)
        return account

    def error_reply(self, error: VenueError) -> Reply:
        message = _ERRORS[error.kind]
        if error.kind is Reject.MARKET_CLOSED:
            message = message.format(error.detail)
        if error.kind is Reject.BAD_REQUEST and error.detail in _FIELD_SUFFIXED:
            message = f"{message}:{error.detail}"
        return Reply.json({"error": [message]})

    @staticmethod
    def _ok(result: Any) -> Reply:
        return Reply.json({"error": [], "result": result})

    # -- public -----------------------------------------------------------------------------

    @route("GET", "/0/public/Time")
    def server_time(self, call: Call) -> Reply:
        now = self.now_s()
        return self._ok({"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)})

    @route("GET", "/0/public/SystemStatus")
    def system_status(self, call: Call) -> Reply:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now_s()))
        return self._ok({"status": "online", "timestamp": stamp})

    @route("GET", "/0/public/Assets")
    def assets(self, call: Call) -> Reply:
        # every asset Kraken lists, traded here or not (fee credits and fiat included), as the real one does
        codes = {m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()} | set(_ASSETS)
        result = {}
        for code in sorted(codes):
            kid, alt, decimals = self.asset(code)
            result[kid] = {
                "aclass": "currency",
                "altname": alt,
                "decimals": decimals,
                "display_decimals": min(decimals, 5),
                "status": "enabled",
            }
        return self._ok(result)

    @route("GET", "/0/public/AssetPairs")
    def asset_pairs(self, call: Call) -> Reply:
        wanted = call.params.get("pair")
        markets = [self._market_of(p) for p in wanted.split(",")] if wanted else self.book.markets.values()
        return self._ok({self.pair_names(m)[0]: self._pair_json(m) for m in markets})

    def _pair_json(self, market: Market) -> dict[str, Any]:
        _, altname, wsname = self.pair_names(market)
        fee_pct = str(self.taker_fee * 100)
        return {
            "altname": altname,
            "wsname": wsname,
            "aclass_base": "currency",
            "base": self.asset(market.base)[0],
            "aclass_quote": "currency",
            "quote": self.asset(market.quote)[0],
            "lot": "unit",
            "cost_decimals": _COST_DECIMALS_SHOWN,
            "pair_decimals": market.price_decimals,
            "lot_decimals": market.amount_decimals,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": [[0, float(fee_pct)]],
            "fees_maker": [[0, float(self.maker_fee * 100)]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": str(market.min_amount),
            "costmin": str(market.min_cost),
            "tick_size": str(Decimal(1).scaleb(-market.price_decimals)),
            "status": self.market_status.get(market.symbol, "online"),
        }

    @route("GET", "/0/public/Ticker")
    def ticker(self, call: Call) -> Reply:
        wanted = call.params.get("pair")
        markets = [self._market_of(p) for p in wanted.split(",")] if wanted else list(self.book.markets.values())
        result = {}
        for market in markets:
            price = _fmt(self.book.prices[market.symbol], market.price_decimals)
            result[self.pair_names(market)[0]] = {
                "a": [price, "1", "1.000"],
                "b": [price, "1", "1.000"],
                "c": [price, "0.00100000"],
                "v": ["100.00000000", "100.00000000"],
                "p": [price, price],
                "t": [100, 100],
                "l": [price, price],
                "h": [price, price],
                "o": price,
            }
        return self._ok(result)

    @route("GET", "/0/public/Depth")
    def depth(self, call: Call) -> Reply:
        market = self._market_of(str(call.params.get("pair", "")))
        price = _fmt(self.book.prices[market.symbol], market.price_decimals)
        level = [price, "1.000", int(self.now_s())]
        return self._ok({self.pair_names(market)[0]: {"asks": [level], "bids": [level]}})

    @route("GET", "/0/public/OHLC")
    def ohlc(self, call: Call) -> Reply:
        market = self._market_of(str(call.params.get("pair", "")))
        interval_min = int(request_decimal(call.params.get("interval", 1), "interval"))
        if interval_min not in _INTERVALS_MIN:
            raise VenueError(Reject.BAD_REQUEST, "interval")
        since = call.params.get("since")
        since_s = int(request_decimal(since, "since")) if since not in (None, "") else None
        bars = self.book.candles(market.symbol, interval_min * 60, since_s)[-_OHLC_PAGE:]
        rows = [self._candle_row(c, market) for c in bars]
        return self._ok({self.pair_names(market)[0]: rows, "last": bars[-1].ts_s if bars else since_s or 0})

    @staticmethod
    def _candle_row(candle: Candle, market: Market) -> list[Any]:
        p = market.price_decimals
        prices = [_fmt(v, p) for v in (candle.open, candle.high, candle.low, candle.close, candle.close)]
        return [candle.ts_s, *prices, _fmt(candle.volume, 8), 1]

    # -- private: balances ------------------------------------------------------------------

    @route("POST", "/0/private/BalanceEx", private=True)
    def balance_ex(self, call: Call) -> Reply:
        account = call.require_account()
        result = {}
        for code in sorted(set(account.balances) | set(account.holds)):
            kid, decimals = self._balance_id(code)
            total, held = _fmt(account.total(code), decimals), _fmt(account.held(code), decimals)
            result[kid] = {"balance": total, "hold_trade": held}
        return self._ok(result)

    def _balance_id(self, code: str) -> tuple[str, int]:
        """BalanceEx's name of a balance: the asset id, or altname + suffix for a sub-balance (XBT.F)."""
        stem, dot, suffix = code.partition(".")
        kid, alt, decimals = self.asset(stem)
        return (f"{alt}.{suffix}" if dot else kid), decimals

    @route("POST", "/0/private/Balance", private=True)
    def balance(self, call: Call) -> Reply:
        account = call.require_account()
        ids = {c: self._balance_id(c) for c in account.balances}
        return self._ok({ids[c][0]: _fmt(v, ids[c][1]) for c, v in sorted(account.balances.items())})

    # -- private: orders --------------------------------------------------------------------

    @route("POST", "/0/private/AddOrder", private=True, creates_order=True)
    def add_order(self, call: Call) -> Reply:
        account = call.require_account()
        params = call.params
        market = self._market_of(str(params.get("pair", "")))
        if params.get("ordertype") != "market":
            raise VenueError(Reject.BAD_REQUEST, "ordertype")
        try:
            side = Side(str(params.get("type")))
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "type") from None
        flags = [f for f in str(params.get("oflags", "")).split(",") if f]
        if "viqc" in flags:
            # the live answer to a funded viqc market buy (ccxt #22521); a viqc sell names viqc
            raise VenueError(Reject.BAD_REQUEST, "viqc" if side is Side.SELL else "volume")
        volume = request_decimal(params.get("volume"), "volume")
        if volume <= 0 or -volume.as_tuple().exponent > market.amount_decimals:
            raise VenueError(Reject.BAD_REQUEST, "volume")
        client_order_id, userref = self._client_ids(params)
        fee_flag = self._fee_flag(account, flags, side)
        status = self.market_status.get(market.symbol, "online")
        if status != "online":
            raise VenueError(Reject.MARKET_CLOSED, status)
        descr = {"order": f"{side} {_fmt(volume, 8)} {self.pair_names(market)[1]} @ market"}
        if _truthy(params.get("validate", "")):
            return self._ok({"descr": descr})
        order = call.book.place_market_order(
            account,
            market.symbol,
            side,
            volume=volume,
            client_order_id=client_order_id,
            userref=userref,
            fill_fraction=call.fill_fraction,
            extra={"oflags": ",".join([fee_flag, *(f for f in flags if f not in (_FEE_IN_BASE, _FEE_IN_QUOTE))])},
            fee_in_base=fee_flag == _FEE_IN_BASE,
        )
        return self._ok({"descr": descr, "txid": [order.order_id]})

    @staticmethod
    def _client_ids(params: dict[str, Any]) -> tuple[str | None, int | None]:
        client_order_id = params.get("cl_ord_id")
        raw_userref = params.get("userref")
        if client_order_id is not None and raw_userref is not None:
            raise VenueError(Reject.BAD_REQUEST, "cl_ord_id")  # Kraken: mutually exclusive
        if client_order_id is not None:
            text = str(client_order_id)
            if not (_UUID_RE.match(text) or (0 < len(text) <= 18 and text.isascii() and text.isprintable())):
                raise VenueError(Reject.BAD_REQUEST, "cl_ord_id")
        userref = None
        if raw_userref is not None:
            try:
                userref = int(str(raw_userref))
            except ValueError:
                raise VenueError(Reject.BAD_REQUEST, "userref") from None
            if not -(2**31) <= userref < 2**31:
                raise VenueError(Reject.BAD_REQUEST, "userref")
        return (str(client_order_id) if client_order_id is not None else None), userref

    def _order_json(self, order: Order, with_trades: bool) -> dict[str, Any]:
        market = self.book.markets[order.symbol]
        _, altname, _ = self.pair_names(market)
        shown = order.quote_volume if order.quote_volume is not None else order.volume
        average = order.average
        result: dict[str, Any] = {
            "refid": None,
            "userref": order.userref,
            "status": _STATUS[order.status],
            "reason": "User requested" if order.status is OrderStatus.CANCELED else None,
            "opentm": order.created_at_s,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": altname,
                "type": str(order.side),
                "ordertype": order.order_type,
                "price": "0",
                "price2": "0",
                "leverage": "none",
                "order": f"{order.side} {_fmt(shown, 8)} {altname} @ market",
                "close": "",
            },
            "vol": _fmt(order.volume, 8),
            "vol_exec": _fmt(order.filled, 8),
            "cost": _fmt(order.cost, _COST_DECIMALS_SHOWN),
            # quote-valued whichever asset paid it ("Total fee (quote currency)"); see the module doc
            "fee": _fmt(order.fee_quote, _COST_DECIMALS_SHOWN),
            "price": _fmt(average, market.price_decimals) if average is not None else "0.00000",
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": order.extra.get("oflags", "fciq"),
        }
        if order.client_order_id is not None:
            result["cl_ord_id"] = order.client_order_id
        if order.closed_at_s is not None:
            result["closetm"] = order.closed_at_s
        if with_trades and order.fill_ids:
            result["trades"] = list(order.fill_ids)
        return result

    @staticmethod
    def _userref_filter(params: dict[str, Any]) -> int | None:
        raw = params.get("userref")
        if raw in (None, ""):
            return None
        try:
            return int(str(raw))
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST) from None

    @route("POST", "/0/private/QueryOrders", private=True)
    def query_orders(self, call: Call) -> Reply:
        account = call.require_account()
        txids = [t.strip() for t in str(call.params.get("txid", "")).split(",") if t.strip()]
        if not txids or len(txids) > 50:
            raise VenueError(Reject.BAD_REQUEST)
        userref = self._userref_filter(call.params)
        with_trades = _truthy(call.params.get("trades", ""))
        result = {}
        for txid in txids:
            order = call.book.order(account, txid)
            if order is not None and (userref is None or order.userref == userref):
                result[txid] = self._order_json(order, with_trades)
        return self._ok(result)

    def _filtered(self, call: Call, statuses: set[OrderStatus]) -> list[Order]:
        account = call.require_account()
        userref = self._userref_filter(call.params)
        client_order_id = call.params.get("cl_ord_id")
        return [
            o
            for o in call.book.orders_of(account, statuses, str(client_order_id) if client_order_id else None)
            if userref is None or o.userref == userref
        ]

    @route("POST", "/0/private/OpenOrders", private=True)
    def open_orders(self, call: Call) -> Reply:
        with_trades = _truthy(call.params.get("trades", ""))
        orders = self._filtered(call, {OrderStatus.OPEN})
        return self._ok({"open": {o.order_id: self._order_json(o, with_trades) for o in orders}})

    @route("POST", "/0/private/ClosedOrders", private=True)
    def closed_orders(self, call: Call) -> Reply:
        with_trades = _truthy(call.params.get("trades", ""))
        orders = self._filtered(call, {OrderStatus.CLOSED, OrderStatus.CANCELED})
        start, end = call.params.get("start"), call.params.get("end")
        if start not in (None, ""):
            orders = [o for o in orders if (o.closed_at_s or 0) > float(request_decimal(start, "start"))]
        if end not in (None, ""):
            orders = [o for o in orders if (o.closed_at_s or 0) <= float(request_decimal(end, "end"))]
        newest_first = sorted(orders, key=lambda o: o.closed_at_s or 0, reverse=True)
        offset = int(request_decimal(call.params.get("ofs", 0) or 0, "ofs"))
        page = newest_first[offset : offset + _CLOSED_PAGE]
        closed = {o.order_id: self._order_json(o, with_trades) for o in page}
        return self._ok({"closed": closed, "count": len(newest_first)})

    @route("POST", "/0/private/CancelOrder", private=True)
    def cancel_order(self, call: Call) -> Reply:
        account = call.require_account()
        client_order_id = call.params.get("cl_ord_id")
        if client_order_id is not None:
            targets = call.book.orders_of(account, OrderStatus.OPEN, str(client_order_id))
        else:
            order = call.book.order(account, str(call.params.get("txid", "")))
            targets = [order] if order is not None and order.status is OrderStatus.OPEN else []
        if not targets:
            raise VenueError(Reject.UNKNOWN_ORDER)
        for order in targets:
            call.book.cancel_order(order)
        return self._ok({"count": len(targets)})

    # -- private: trades --------------------------------------------------------------------

    def _trade_json(self, fill: Fill, order: Order) -> dict[str, Any]:
        market = self.book.markets[fill.symbol]
        return {
            "ordertxid": fill.order_id,
            "postxid": "",
            "pair": self.pair_names(market)[0],
            "time": fill.ts_s,
            "type": str(fill.side),
            "ordertype": order.order_type,
            "price": _fmt(fill.price, market.price_decimals),
            "cost": _fmt(fill.cost, _COST_DECIMALS_SHOWN),
            "fee": _fmt(fill.fee_quote, _COST_DECIMALS_SHOWN),  # quote-valued, as on the order
            "vol": _fmt(fill.volume, 8),
            "margin": "0.00000",
            "leverage": "0",
            "misc": "",
            "trade_id": self.book.fills.index(fill) + 1,
            "maker": False,
        }

    @route("POST", "/0/private/WithdrawStatus", private=True)
    def withdraw_status(self, call: Call) -> Reply:
        # Needs the key's "Withdraw Funds" permission; Kraken has no permissions endpoint otherwise.
        if not call.require_account().can_withdraw:
            return Reply.json({"error": ["EGeneral:Permission denied"]})
        return self._ok([])

    @route("POST", "/0/private/TradesHistory", private=True)
    def trades_history(self, call: Call) -> Reply:
        account = call.require_account()
        fills = call.book.fills_of(account)
        start, end = call.params.get("start"), call.params.get("end")
        if start not in (None, ""):
            fills = [f for f in fills if f.ts_s > float(request_decimal(start, "start"))]
        if end not in (None, ""):
            fills = [f for f in fills if f.ts_s <= float(request_decimal(end, "end"))]
        newest_first = sorted(fills, key=lambda f: f.ts_s, reverse=True)
        offset = int(request_decimal(call.params.get("ofs", 0) or 0, "ofs"))
        page = newest_first[offset : offset + _CLOSED_PAGE]
        trades = {f.fill_id: self._trade_json(f, call.book.orders[f.order_id]) for f in page}
        return self._ok({"trades": trades, "count": len(newest_first)})

    @route("POST", "/0/private/QueryTrades", private=True)
    def query_trades(self, call: Call) -> Reply:
        account = call.require_account()
        wanted = {t.strip() for t in str(call.params.get("txid", "")).split(",") if t.strip()}
        fills = [f for f in call.book.fills_of(account) if f.fill_id in wanted]
        return self._ok({f.fill_id: self._trade_json(f, call.book.orders[f.order_id]) for f in fills})


VENUE = KrakenVenue
