"""OKX v5 spot REST dialect (`/api/v5/*`), as ccxt 4.5.90's `okx` calls it.

Private calls carry OK-ACCESS-KEY, OK-ACCESS-PASSPHRASE, OK-ACCESS-TIMESTAMP (ISO, ms) and
OK-ACCESS-SIGN = b64(HMAC-SHA256(secret, timestamp + METHOD + path[?query] + body)). Every answer
is `{"code": "0", "msg": "", "data": [...]}`; order-level refusals are `{"code": "1", "data":
[{"sCode": "51008", "sMsg": ...}]}`, which ccxt maps by `sCode` first. ccxt creates orders
through `trade/batch-orders` with a JSON list of one order. A buy pays its 0.1 % taker fee in the
asset bought (OKX charges the currency received). Only market orders are supported; a market buy
may be sized in the quote currency (`tgtCcy=quote_ccy`, `sz` = amount to spend).

Modelling choices not measured against OKX: business errors (51xxx) come with HTTP 200, auth
and timestamp errors with 401, the rate limit (the core's per-key counter, 1 per private call)
with 429 `50011`; a timestamp more than 30 s off the venue clock is `50102` and counts in
`invalid_nonces`; an account added without a passphrase accepts any passphrase; a second *open*
order with the same clOrdId is `51016`; unknown routes answer 404 `{"code": "404"}`.

Two accounts per key, as on OKX: orders use the trading account (`account/balance`); deposits wait
in the funding account (`asset/balances`, only non-zero rows, `bal`/`availBal`/`frozenBal`), set by
`Simulator.set_funding_balance` and never tradable here. `Simulator.mmp_cancel` cancels a key's
open orders as Market Maker Protection does: they end `mmp_canceled`, partial fills kept. Fees are
negative strings (`"fee": "-0.0001"`) in the currency received: base on buys, quote on sells.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import time
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from tests.sim.model import Account, Candle, Market, Order, OrderStatus, Reject, Side, VenueError
from tests.sim.venue import Call, Reply, Request, Venue, request_decimal, route

__all__ = ["VENUE", "OkxVenue"]

_DEFAULT_MARKETS: Final = (
    (Market("BTC/USDT", "BTC", "USDT", 1, 8, Decimal("0.00001"), Decimal("0"), 8), Decimal("60000")),
    (Market("ETH/USDT", "ETH", "USDT", 2, 6, Decimal("0.0001"), Decimal("0"), 8), Decimal("3000")),
    (Market("SOL/USDT", "SOL", "USDT", 2, 6, Decimal("0.001"), Decimal("0"), 8), Decimal("150")),
)

# Rejections answered at the top level: (HTTP status, code, msg)
_ERRORS: Final[dict[Reject, tuple[int, str, str]]] = {
    Reject.INVALID_KEY: (401, "50111", "Invalid OK-ACCESS-KEY"),
    Reject.INVALID_SIGNATURE: (401, "50113", "Invalid Sign"),
    Reject.INVALID_NONCE: (401, "50102", "Timestamp request expired"),
    Reject.RATE_LIMIT: (429, "50011", "Too Many Requests"),
    Reject.UNKNOWN_SYMBOL: (200, "51001", "Instrument ID does not exist"),
    Reject.UNKNOWN_ORDER: (200, "51603", "Order does not exist"),
    Reject.BAD_REQUEST: (200, "51000", "Parameter error"),
    Reject.UNKNOWN_ROUTE: (404, "404", "Not Found"),
}
_BAD_PASSPHRASE: Final = (401, "50105", "Invalid OK-ACCESS-PASSPHRASE")
# Rejections of one order, answered inside `data` with code "1": (sCode, sMsg)
_ORDER_ERRORS: Final[dict[Reject, tuple[str, str]]] = {
    Reject.INSUFFICIENT_FUNDS: ("51008", "Order failed. Insufficient balance in account."),
    Reject.BELOW_MIN_AMOUNT: ("51020", "Your order should meet or exceed the minimum order amount."),
    Reject.BELOW_MIN_COST: ("51020", "Your order should meet or exceed the minimum order amount."),
    Reject.DUPLICATE_CLIENT_ORDER_ID: ("51016", "Duplicated clOrdId"),
}
_CANCEL_ERRORS: Final[dict[str, tuple[str, str]]] = {
    "missing": ("51400", "Cancellation failed as the order does not exist."),
    "canceled": ("51401", "Cancellation failed as the order is already canceled."),
    "closed": ("51402", "Cancellation failed as the order is already completed."),
}
_LOT_ERROR: Final = ("51121", "Order quantity must be a multiple of the lot size.")

_BARS_S: Final[dict[str, int]] = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1H": 3600, "2H": 7200, "4H": 14400,
    "6H": 21600, "6Hutc": 21600, "12H": 43200, "12Hutc": 43200, "1D": 86400, "1Dutc": 86400,
    "1W": 604800, "1Wutc": 604800,
}  # fmt: skip
_CANDLES_DEFAULT, _CANDLES_MAX = 100, 300
_ORDERS_PAGE_MAX = 100
_TIMESTAMP_TOLERANCE_S: Final = 30.0
_STATE: Final = {OrderStatus.CLOSED: "filled", OrderStatus.CANCELED: "canceled"}


def _fmt(value: Decimal, decimals: int = 8) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN):f}"


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))




class _OrderRefused(Exception):
    """One order of a batch refused: rendered inside `data` with its clOrdId."""

    def __init__(self, code: str, message: str, client_order_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.client_order_id = code, message, client_order_id


class OkxVenue(Venue):
    name = "okx"
    taker_fee = Decimal("0.001")
    buy_fee_in_base = True

    def __init__(self, seed: int = 0) -> None:
        self._order_ids = itertools.count(600_000_000_000_000_001)
        self._trade_ids = itertools.count(700_001)
        self._funding: dict[str, dict[str, Decimal]] = {}  # api key -> funding account balances
        super().__init__(seed)

    def set_funding_balance(self, api_key: str, asset: str, amount: Decimal) -> None:
        """What the key's funding account holds of `asset` (deposits land there; orders never use it)."""
        self._funding.setdefault(api_key, {})[asset] = Decimal(amount)

    def mmp_cancel(self, account: Account) -> list[Order]:
        """Market Maker Protection trips: the account's open orders end `mmp_canceled`, fills kept."""
        canceled = self.book.orders_of(account, OrderStatus.OPEN)
        for order in canceled:
            self.book.cancel_order(order)
            order.extra["state"] = "mmp_canceled"
        return canceled

    def default_markets(self) -> list[tuple[Market, Decimal]]:
        return list(_DEFAULT_MARKETS)

    def new_secret(self) -> str:
        return secrets.token_hex(16).upper()  # OKX secrets are 32 hex characters

    def new_order_id(self) -> str:
        return str(next(self._order_ids))

    def new_fill_id(self) -> str:
        return str(next(self._trade_ids))

    def client_order_ids(self, request: Request) -> tuple[str, ...]:
        entries = request.json if isinstance(request.json, list) else [request.json]
        return tuple(str(e["clOrdId"]) for e in entries if isinstance(e, dict) and e.get("clOrdId"))

    # -- auth -------------------------------------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        return request.header("OK-ACCESS-KEY")

    def authenticate(self, request: Request) -> Account:
        account = self.book.account(self.api_key_of(request))
        if account is None:
            raise VenueError(Reject.INVALID_KEY)
        passphrase = request.header("OK-ACCESS-PASSPHRASE") or ""
        if not passphrase or (account.passphrase is not None and passphrase != account.passphrase):
            raise VenueError(Reject.INVALID_SIGNATURE, "passphrase")
        stamp = request.header("OK-ACCESS-TIMESTAMP") or ""
        prehash = stamp + request.method + request.path
        if request.query_string:
            prehash += "?" + request.query_string
        prehash += request.body.decode(errors="replace")
        expected = base64.b64encode(hmac.new(account.secret.encode(), prehash.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), request.header("OK-ACCESS-SIGN") or ""):
            raise VenueError(Reject.INVALID_SIGNATURE)
        self._check_timestamp(account, stamp)
        if account.rate is not None and not account.rate.try_spend(Decimal(1), time.monotonic()):
            raise VenueError(Reject.RATE_LIMIT)
        return account

    def _check_timestamp(self, account: Account, stamp: str) -> None:
        try:
            sent_s = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "OK-ACCESS-TIMESTAMP") from None
        if abs(self.now_s() - sent_s) > _TIMESTAMP_TOLERANCE_S:
            account.invalid_nonces += 1
            raise VenueError(Reject.INVALID_NONCE, f"{stamp} vs {self.now_s():.3f}")

    def error_reply(self, error: VenueError) -> Reply:
        if error.kind in _ORDER_ERRORS:
            return self._refused([_OrderRefused(*_ORDER_ERRORS[error.kind], "")])
        if error.kind is Reject.UNKNOWN_ORDER and error.detail in _CANCEL_ERRORS:
            return self._refused([_OrderRefused(*_CANCEL_ERRORS[error.detail], "")])
        status, code, message = _BAD_PASSPHRASE if error.detail == "passphrase" else _ERRORS[error.kind]
        if error.kind is Reject.BAD_REQUEST and error.detail:
            message = f"Parameter {error.detail} error"
        return Reply.json({"code": code, "data": [], "msg": message}, status=status)

    def _refused(self, refusals: list[_OrderRefused]) -> Reply:
        now = _ms(self.now_s())
        data = [
            {"clOrdId": r.client_order_id, "ordId": "", "sCode": r.code, "sMsg": r.message, "tag": "", "ts": now}
            for r in refusals
        ]
        return Reply.json({"code": "1", "data": data, "inTime": now, "msg": "All operations failed", "outTime": now})

    @staticmethod
    def _ok(data: list[Any]) -> Reply:
        return Reply.json({"code": "0", "data": data, "msg": ""})

    # -- public -----------------------------------------------------------------------------

    @route("GET", "/api/v5/public/time")
    def server_time(self, call: Call) -> Reply:
        return self._ok([{"ts": _ms(self.now_s())}])

    @route("GET", "/api/v5/public/instruments")
    def instruments(self, call: Call) -> Reply:
        if call.params.get("instType") != "SPOT":
            return self._ok([])  # FUTURES, SWAP, OPTION: this simulator lists spot only
        markets = list(self.book.markets.values())
        if call.params.get("instId"):
            markets = [self._market_of(call.params["instId"])]
        return self._ok([self._instrument_json(m) for m in markets])

    def _instrument_json(self, market: Market) -> dict[str, Any]:
        return {
            "alias": "",
            "auctionEndTime": "",
            "baseCcy": market.base,
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "instFamily": "",
            "instId": self.market_id(market),
            "instType": "SPOT",
            "lever": "",
            "listTime": "1606468572000",
            "lotSz": str(Decimal(1).scaleb(-market.amount_decimals)),
            "maxIcebergSz": "9999999999",
            "maxLmtAmt": "20000000",
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "1000000",
            "maxStopSz": "1000000",
            "maxTriggerSz": "9999999999",
            "maxTwapSz": "9999999999",
            "minSz": str(market.min_amount),
            "optType": "",
            "quoteCcy": market.quote,
            "ruleType": "normal",
            "settleCcy": "",
            "state": "live",
            "stk": "",
            "tickSz": str(Decimal(1).scaleb(-market.price_decimals)),
            "uly": "",
        }

    @route("GET", "/api/v5/market/tickers")
    def tickers(self, call: Call) -> Reply:
        if call.params.get("instType") != "SPOT":
            return self._ok([])
        return self._ok([self._ticker_json(m) for m in self.book.markets.values()])

    @route("GET", "/api/v5/market/ticker")
    def ticker(self, call: Call) -> Reply:
        return self._ok([self._ticker_json(self._market_of(call.params.get("instId")))])

    def _ticker_json(self, market: Market) -> dict[str, Any]:
        price = _fmt(self.book.prices[market.symbol], market.price_decimals)
        return {
            "instType": "SPOT",
            "instId": self.market_id(market),
            "last": price,
            "lastSz": "0.001",
            "askPx": price,
            "askSz": "1",
            "bidPx": price,
            "bidSz": "1",
            "open24h": price,
            "high24h": price,
            "low24h": price,
            "volCcy24h": _fmt(self.book.prices[market.symbol] * 100),
            "vol24h": "100",
            "ts": _ms(self.now_s()),
            "sodUtc0": price,
            "sodUtc8": price,
        }

    @route("GET", "/api/v5/market/candles")
    def candles(self, call: Call) -> Reply:
        return self._candles(call)

    @route("GET", "/api/v5/market/history-candles")
    def history_candles(self, call: Call) -> Reply:
        return self._candles(call)

    def _candles(self, call: Call) -> Reply:
        params = call.params
        market = self._market_of(params.get("instId"))
        interval_s = _BARS_S.get(str(params.get("bar", "1m")))
        if interval_s is None:
            raise VenueError(Reject.BAD_REQUEST, "bar")
        limit = min(int(request_decimal(params.get("limit", _CANDLES_DEFAULT), "limit")), _CANDLES_MAX)
        bars = self.book.candles(market.symbol, interval_s)
        # `after`: older than this ms timestamp; `before`: newer than it (both exclusive)
        if params.get("after") not in (None, ""):
            bars = [c for c in bars if c.ts_s * 1000 < int(request_decimal(params["after"], "after"))]
        if params.get("before") not in (None, ""):
            bars = [c for c in bars if c.ts_s * 1000 > int(request_decimal(params["before"], "before"))]
        current_s = int(self.now_s()) // interval_s * interval_s
        newest_first = list(reversed(bars[-limit:]))
        return self._ok([self._candle_row(c, market, c.ts_s < current_s) for c in newest_first])

    @staticmethod
    def _candle_row(candle: Candle, market: Market, confirmed: bool) -> list[str]:
        p = market.price_decimals
        quote_volume = _fmt(candle.volume * candle.close)
        prices = [_fmt(v, p) for v in (candle.open, candle.high, candle.low, candle.close)]
        volume = _fmt(candle.volume)
        return [str(candle.ts_s * 1000), *prices, volume, quote_volume, quote_volume, "1" if confirmed else "0"]

    # -- private: reference data and balances -----------------------------------------------

    @route("GET", "/api/v5/asset/currencies", private=True)
    def currencies(self, call: Call) -> Reply:
        call.require_account()
        codes = sorted({m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()})
        return self._ok([self._currency_json(code) for code in codes])

    @staticmethod
    def _currency_json(code: str) -> dict[str, Any]:
        return {
            "canDep": True,
            "canInternal": True,
            "canWd": True,
            "ccy": code,
            "chain": f"{code}-{code}" if code != "USDT" else "USDT-TRC20",
            "depQuotaFixed": "",
            "logoLink": "",
            "mainNet": code != "USDT",
            "maxFee": "0.001",
            "maxWd": "1000000",
            "minDep": "0.00000001",
            "minFee": "0.0001",
            "minWd": "0.001",
            "name": code,
            "needTag": False,
            "wdTickSz": "8",
        }

    @route("GET", "/api/v5/account/config", private=True)
    def account_config(self, call: Call) -> Reply:
        account = call.require_account()
        perm = ",".join(["read_only", *(["trade"] if account.can_trade else []), *(["withdraw"] if account.can_withdraw else [])])
        return self._ok([{
            "uid": "44705892343619584", "mainUid": "44705892343619584", "acctLv": "1", "posMode": "net_mode",
            "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic", "label": "nija", "roleType": "0", "traderInsts": [], "spotRoleType": "0",
            "opAuth": "0", "kycLv": "2", "ip": "", "perm": perm, "liquidationGear": "-1", "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False, "type": "0",
        }])  # fmt: skip

    @route("GET", "/api/v5/account/balance", private=True)
    def balance(self, call: Call) -> Reply:
        account = call.require_account()
        wanted = {c for c in str(call.params.get("ccy", "")).split(",") if c}
        now = _ms(self.now_s())
        details = []
        for code in sorted(set(account.balances) | set(account.holds)):
            if wanted and code not in wanted:
                continue
            total, held, free = _fmt(account.total(code)), _fmt(account.held(code)), _fmt(account.free(code))
            details.append(
                {
                    "availBal": free,
                    "availEq": "",
                    "cashBal": total,
                    "ccy": code,
                    "disEq": total,
                    "eq": total,
                    "eqUsd": "",
                    "frozenBal": held,
                    "ordFrozen": held,
                    "uTime": now,
                    "upl": "0",
                }
            )
        return self._ok([{"adjEq": "", "details": details, "imr": "", "totalEq": "", "uTime": now}])

    @route("GET", "/api/v5/asset/balances", private=True)
    def funding_balances(self, call: Call) -> Reply:
        account = call.require_account()
        wanted = {c for c in str(call.params.get("ccy", "")).split(",") if c}
        rows = [
            {"availBal": _fmt(amount), "bal": _fmt(amount), "ccy": code, "frozenBal": "0"}
            for code, amount in sorted(self._funding.get(account.api_key, {}).items())
            if amount > 0 and (not wanted or code in wanted)  # OKX lists only non-zero balances
        ]
        return Reply.json({"code": "0", "msg": "", "data": rows})

    # -- private: orders --------------------------------------------------------------------

    @route("POST", "/api/v5/trade/batch-orders", private=True, creates_order=True)
    def batch_orders(self, call: Call) -> Reply:
        entries = call.request.json
        if not isinstance(entries, list) or not entries or len(entries) > 20:
            raise VenueError(Reject.BAD_REQUEST, "body")
        return self._place_all(call, entries)

    @route("POST", "/api/v5/trade/order", private=True, creates_order=True)
    def place_order(self, call: Call) -> Reply:
        if not isinstance(call.request.json, dict):
            raise VenueError(Reject.BAD_REQUEST, "body")
        return self._place_all(call, [call.request.json])

    def _place_all(self, call: Call, entries: list[Any]) -> Reply:
        account = call.require_account()
        placed: list[dict[str, Any]] = []
        refused: list[_OrderRefused] = []
        now = _ms(self.now_s())
        for entry in entries:
            client_order_id = str(entry.get("clOrdId") or "") if isinstance(entry, dict) else ""
            try:
                order = self._place_one(call, account, entry, client_order_id)
            except VenueError as error:
                if error.kind not in _ORDER_ERRORS:
                    raise
                refused.append(_OrderRefused(*_ORDER_ERRORS[error.kind], client_order_id))
                continue
            except _OrderRefused as refusal:
                refused.append(refusal)
                continue
            placed.append(
                {"clOrdId": client_order_id, "ordId": order.order_id, "sCode": "0", "sMsg": "Order placed",
                 "tag": order.extra.get("tag", ""), "ts": now}
            )  # fmt: skip
        if not placed:
            return self._refused(refused)
        data = placed + [
            {"clOrdId": r.client_order_id, "ordId": "", "sCode": r.code, "sMsg": r.message, "tag": "", "ts": now}
            for r in refused
        ]
        code = "0" if not refused else "2"  # 2: a batch that partly succeeded
        return Reply.json({"code": code, "data": data, "inTime": now, "msg": "", "outTime": now})

    def _place_one(self, call: Call, account: Account, entry: Any, client_order_id: str) -> Order:
        if not isinstance(entry, dict):
            raise VenueError(Reject.BAD_REQUEST, "body")
        market = self._market_of(entry.get("instId"))
        if entry.get("ordType") != "market":
            raise VenueError(Reject.BAD_REQUEST, "ordType")
        if entry.get("tdMode") != "cash":
            raise VenueError(Reject.BAD_REQUEST, "tdMode")
        try:
            side = Side(str(entry.get("side")))
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "side") from None
        if client_order_id and not (client_order_id.isascii() and client_order_id.isalnum()):
            raise VenueError(Reject.BAD_REQUEST, "clOrdId")  # OKX: up to 32 letters and digits
        if len(client_order_id) > 32:
            raise VenueError(Reject.BAD_REQUEST, "clOrdId")
        target = str(entry.get("tgtCcy") or ("quote_ccy" if side is Side.BUY else "base_ccy"))
        size = request_decimal(entry.get("sz"), "sz")
        if size <= 0:
            raise VenueError(Reject.BAD_REQUEST, "sz")
        by_quote = target == "quote_ccy"
        if by_quote and side is Side.SELL:
            raise VenueError(Reject.BAD_REQUEST, "tgtCcy")
        if not by_quote and -size.as_tuple().exponent > market.amount_decimals:
            raise _OrderRefused(*_LOT_ERROR, client_order_id)
        return call.book.place_market_order(
            account,
            market.symbol,
            side,
            volume=None if by_quote else size,
            quote_cost=size if by_quote else None,
            client_order_id=client_order_id or None,
            fill_fraction=call.fill_fraction,
            extra={"tgtCcy": target, "sz": str(size), "tag": str(entry.get("tag") or "")},
        )

    def _order_json(self, order: Order) -> dict[str, Any]:
        market = self.book.markets[order.symbol]
        fills = [f for f in self.book.fills if f.order_id == order.order_id]
        last = fills[-1] if fills else None
        if order.status is OrderStatus.OPEN:
            state = "partially_filled" if order.filled > 0 else "live"
        else:
            state = order.extra.get("state") or _STATE[order.status]  # mmp_canceled: set by mmp_cancel
        fee_asset = fills[0].fee_asset if fills else (market.base if order.side is Side.BUY else market.quote)
        average = order.average
        return {
            "accFillSz": _fmt(order.filled),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "avgPx": _fmt(average, market.price_decimals + 2) if average is not None else "",
            "cTime": _ms(order.created_at_s),
            "cancelSource": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": order.client_order_id or "",
            "fee": "-" + _fmt(order.fee) if order.fee else "0",  # negative: a fee paid (OKX sign)
            "feeCcy": fee_asset,
            "fillPx": _fmt(last.price, market.price_decimals) if last else "",
            "fillSz": _fmt(last.volume) if last else "0",
            "fillTime": _ms(last.ts_s) if last else "",
            "instId": self.market_id(market),
            "instType": "SPOT",
            "lever": "",
            "ordId": order.order_id,
            "ordType": order.order_type,
            "pnl": "0",
            "posSide": "net",
            "px": "",
            "rebate": "0",
            "rebateCcy": market.quote,
            "reduceOnly": "false",
            "side": str(order.side),
            "slOrdPx": "",
            "slTriggerPx": "",
            "source": "",
            "state": state,
            "stpMode": "cancel_maker",
            "sz": order.extra.get("sz", _fmt(order.volume)),
            "tag": order.extra.get("tag", ""),
            "tdMode": "cash",
            "tgtCcy": order.extra.get("tgtCcy", ""),
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tradeId": last.fill_id if last else "",
            "uTime": _ms(order.closed_at_s or (last.ts_s if last else order.created_at_s)),
        }

    def _find(self, call: Call, *, cancel: bool = False) -> Order:
        account = call.require_account()
        params = call.params
        market = self._market_of(params.get("instId"))
        candidates = [o for o in call.book.orders_of(account) if o.symbol == market.symbol]
        if params.get("ordId") not in (None, ""):
            candidates = [o for o in candidates if o.order_id == str(params["ordId"])]
        elif params.get("clOrdId") not in (None, ""):
            candidates = [o for o in candidates if o.client_order_id == str(params["clOrdId"])]
        else:
            raise VenueError(Reject.BAD_REQUEST, "ordId")
        if not candidates:
            raise VenueError(Reject.UNKNOWN_ORDER, "missing" if cancel else "")
        return candidates[-1]  # a reused clOrdId finds the newest order

    @route("GET", "/api/v5/trade/order", private=True)
    def query_order(self, call: Call) -> Reply:
        return self._ok([self._order_json(self._find(call))])

    @route("POST", "/api/v5/trade/cancel-order", private=True)
    def cancel_order(self, call: Call) -> Reply:
        order = self._find(call, cancel=True)
        if order.status is not OrderStatus.OPEN:
            raise VenueError(Reject.UNKNOWN_ORDER, "canceled" if order.status is OrderStatus.CANCELED else "closed")
        call.book.cancel_order(order)
        ack = {"clOrdId": order.client_order_id or "", "ordId": order.order_id, "sCode": "0", "sMsg": ""}
        return self._ok([ack | {"ts": _ms(self.now_s())}])

    def _listed(self, call: Call, statuses: set[OrderStatus]) -> list[Order]:
        account = call.require_account()
        params = call.params
        inst_type = params.get("instType")
        if inst_type not in (None, "", "SPOT"):
            return []
        orders = call.book.orders_of(account, statuses)
        if params.get("instId"):
            market = self._market_of(params["instId"])
            orders = [o for o in orders if o.symbol == market.symbol]
        if params.get("begin") not in (None, ""):
            orders = [o for o in orders if o.created_at_s * 1000 >= int(request_decimal(params["begin"], "begin"))]
        if params.get("end") not in (None, ""):
            orders = [o for o in orders if o.created_at_s * 1000 <= int(request_decimal(params["end"], "end"))]
        limit = min(int(request_decimal(params.get("limit", _ORDERS_PAGE_MAX), "limit")), _ORDERS_PAGE_MAX)
        return list(reversed(orders))[:limit]  # newest first

    @route("GET", "/api/v5/trade/orders-pending", private=True)
    def orders_pending(self, call: Call) -> Reply:
        return self._ok([self._order_json(o) for o in self._listed(call, {OrderStatus.OPEN})])

    @route("GET", "/api/v5/trade/orders-history", private=True)
    def orders_history(self, call: Call) -> Reply:
        if call.params.get("instType") in (None, ""):
            raise VenueError(Reject.BAD_REQUEST, "instType")
        state = call.params.get("state")
        statuses = {OrderStatus.CLOSED, OrderStatus.CANCELED}
        if state == "filled":
            statuses = {OrderStatus.CLOSED}
        elif state == "canceled":
            statuses = {OrderStatus.CANCELED}
        return self._ok([self._order_json(o) for o in self._listed(call, statuses)])


VENUE = OkxVenue
