"""Alpaca dialect: trading API v2 and stock market-data v2 under one prefix (`/alpaca/v2/...`),
as alpaca-py 0.44's `TradingClient` and `StockHistoricalDataClient` call them.

Both clients take `url_override=<sim>/alpaca` (without `/v2`); the trading and data paths do not
overlap, so one prefix serves both. Every route needs `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`
matching an account (else 401 `{"code":40110000,"message":"request is not authorized"}`). A cash
account: buying power is free cash. Market orders fill at the sim price while the market clock is
open (`set_market_open`); while it is closed they are accepted and wait. Decimals are JSON strings
on the trading API (alpaca-py's models require it), numbers on the data API.

Real shapes (alpaca-py's fixtures and issues): every order answer carries `"commission"` as a JSON
number; the 403 40310000 refusals carry `buying_power`/`cost_basis` or `available`/`existing_qty`/
`held_for_orders`/`symbol` beside the message; 422 40010001 "client_order_id must be unique";
404 40410000 "order not found". A commission is set per account (`set_commission`) or per order
(the Broker API's `commission` body field); it is held by the buying-power check and taken from
cash once the order has filled something (booked when the account is next seen, at its next
request). `set_fractionable` / `set_tradable` change the asset flags: a fractional or notional
order on a non-fractionable asset is refused with Alpaca's "requested asset is not fractionable"
(support article); an active asset that is not tradable takes closing (sell) orders only.

Modelling choices not measured against Alpaca: the HTTP status/code of the not-fractionable and
not-tradable refusals and of malformed orders (422 40010001); a 429 body `{"code":42910000,...}`;
the data API uses the trading API's error shape; the POST answer shows the order `pending_new` and
unfilled even when it filled at once (as Alpaca usually answers), a later GET shows the fill.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from tests.sim.model import Account, Candle, Market, Order, OrderStatus, Reject, Side, VenueError, quantize_down
from tests.sim.venue import Call, Reply, Request, Venue, request_decimal, route

__all__ = ["VENUE", "AlpacaVenue"]

_USD: Final = "USD"
_QTY_DECIMALS: Final = 9
_NOTIONAL_DECIMALS: Final = 2
_MIN_NOTIONAL: Final = Decimal("1")
_ZERO: Final = Decimal(0)


def _stock(symbol: str) -> Market:
    return Market(symbol, symbol, _USD, 2, _QTY_DECIMALS, Decimal("1e-9"), _ZERO, 2)


_DEFAULT_MARKETS: Final = tuple(
    (_stock(symbol), Decimal(price))
    for symbol, price in (
        ("AAPL", "200"), ("MSFT", "400"), ("NVDA", "120"), ("AMZN", "180"), ("GOOGL", "170"),
        ("META", "500"), ("TSLA", "250"), ("SPY", "550"), ("QQQ", "480"),
    )
)  # fmt: skip

# (HTTP status, code, message) per rejection
_ERRORS: Final[dict[Reject, tuple[int, int, str]]] = {
    Reject.INVALID_KEY: (401, 40110000, "request is not authorized"),
    Reject.INVALID_SIGNATURE: (401, 40110000, "request is not authorized"),
    Reject.INVALID_NONCE: (401, 40110000, "request is not authorized"),  # Alpaca has no nonce: injected only
    Reject.RATE_LIMIT: (429, 42910000, "rate limit exceeded"),
    Reject.INSUFFICIENT_FUNDS: (403, 40310000, "insufficient buying power"),
    Reject.BELOW_MIN_AMOUNT: (422, 40010001, "qty must be > 0"),
    Reject.BELOW_MIN_COST: (403, 40310000, "cost basis must be >= 1"),
    Reject.UNKNOWN_SYMBOL: (422, 40010001, "asset not found"),
    Reject.UNKNOWN_ORDER: (404, 40410000, "order not found"),
    Reject.DUPLICATE_CLIENT_ORDER_ID: (422, 40010001, "client_order_id must be unique"),
    Reject.BAD_REQUEST: (422, 40010001, "invalid request"),  # a detail replaces the message
    Reject.UNKNOWN_ROUTE: (404, 40410000, "endpoint not found"),
}
_TIME_IN_FORCE: Final = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
_TIMEFRAME_RE: Final = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D)$")
_TIMEFRAME_S: Final = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400}
_BARS_DEFAULT_LIMIT, _BARS_MAX_LIMIT = 1000, 10_000
_ORDERS_DEFAULT_LIMIT, _ORDERS_MAX_LIMIT = 50, 500
_CLIENT_ORDER_ID_MAX: Final = 128
_SESSION_LEFT_S: Final = 2 * 3600  # when open, the close is 2 h away; when closed, the open 1 h away
_NIGHT_S: Final = 17 * 3600 + 1800


def _iso(ts_s: float | None) -> str | None:
    if ts_s is None:
        return None
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _decimal(value: Any, field: str) -> Decimal:
    return request_decimal(value, f"invalid {field}")


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _api_error(status: int, code: int, message: str) -> Reply:
    return Reply.json({"code": code, "message": message}, status=status)


def _parse_time(raw: str | None, field: str) -> float | None:
    if raw in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise VenueError(Reject.BAD_REQUEST, f"invalid {field}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class AlpacaVenue(Venue):
    name = "alpaca"
    taker_fee = Decimal("0")
    client_order_id_param = "client_order_id"

    def __init__(self, seed: int = 0) -> None:
        self.market_open = True
        self.not_fractionable: set[str] = set()
        self.not_tradable: set[str] = set()
        self.commissions: dict[str, Decimal] = {}  # api key -> USD per order
        self._uncharged: dict[str, list[Order]] = {}  # api key -> orders whose commission is still due
        super().__init__(seed)

    def default_markets(self) -> list[tuple[Market, Decimal]]:
        return list(_DEFAULT_MARKETS)

    def new_secret(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(40))

    def new_order_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def new_fill_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- test controls (single assignments: atomic without the simulator lock) --------------

    def set_market_open(self, is_open: bool) -> None:
        """Open or close the market clock: closed, market orders are accepted and wait."""
        self.market_open = is_open

    def set_fractionable(self, symbol: str, fractionable: bool) -> None:
        """Mark an asset (not) fractionable: fractional qty and notional orders are refused."""
        self.book.market(symbol)
        self.not_fractionable = (self.not_fractionable - {symbol}) | (set() if fractionable else {symbol})

    def set_tradable(self, symbol: str, tradable: bool) -> None:
        """Mark an active asset (not) tradable: while not, only sells are taken (Alpaca's assets FAQ)."""
        self.book.market(symbol)
        self.not_tradable = (self.not_tradable - {symbol}) | (set() if tradable else {symbol})

    def set_commission(self, api_key: str, amount: Decimal | str | None) -> None:
        """Charge `amount` USD per order on this key's orders from now on (None or 0: no commission)."""
        rest = {k: v for k, v in self.commissions.items() if k != api_key}
        self.commissions = {**rest, api_key: Decimal(amount)} if amount else rest

    # -- auth -------------------------------------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        return request.header("APCA-API-KEY-ID")

    def authenticate(self, request: Request) -> Account:
        account = self.book.account(self.api_key_of(request))
        secret = request.header("APCA-API-SECRET-KEY") or ""
        if account is None or not hmac.compare_digest(secret.encode(), account.secret.encode()):
            raise VenueError(Reject.INVALID_KEY)
        if account.rate is not None and not account.rate.try_spend(Decimal(1), time.monotonic()):
            raise VenueError(Reject.RATE_LIMIT)
        self._charge_commissions(account)
        return account

    def _charge_commissions(self, account: Account) -> None:
        # a commission is charged on execution: take it from cash once its order has filled anything
        due = self._uncharged.get(account.api_key)
        if not due:
            return
        for order in list(due):
            if order.filled > 0:
                account.balances[_USD] = account.total(_USD) - Decimal(order.extra["commission"])
            if order.filled > 0 or order.status is not OrderStatus.OPEN:  # canceled unfilled: never charged
                due.remove(order)

    def error_reply(self, error: VenueError) -> Reply:
        status, code, message = _ERRORS[error.kind]
        if error.kind is Reject.BAD_REQUEST and error.detail:
            message = error.detail
        return _api_error(status, code, message)

    # -- shapes -----------------------------------------------------------------------------

    @staticmethod
    def asset_id(symbol: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}"))

    def _asset_json(self, market: Market) -> dict[str, Any]:
        return {
            "id": self.asset_id(market.symbol), "class": "us_equity", "exchange": "NASDAQ",
            "symbol": market.symbol, "name": f"{market.symbol} Inc. Common Stock", "status": "active",
            "tradable": market.symbol not in self.not_tradable, "marginable": True, "shortable": True,
            "easy_to_borrow": True,
            "fractionable": market.symbol not in self.not_fractionable,
            "maintenance_margin_requirement": 30, "attributes": [],
        }  # fmt: skip

    def _average(self, order: Order) -> Decimal | None:
        # the execution prices, not cost / qty: costs are booked to the cent
        fills = [f for f in self.book.fills if f.order_id == order.order_id]
        volume = sum((f.volume for f in fills), _ZERO)
        return sum((f.price * f.volume for f in fills), _ZERO) / volume if volume else None

    def _status(self, order: Order) -> str:
        if order.status is OrderStatus.CLOSED:
            return "filled"
        if order.status is OrderStatus.CANCELED:
            return "canceled"
        if order.filled > 0:
            return "partially_filled"
        return "accepted" if order.extra.get("queued") else "new"

    def _order_json(self, order: Order, *, as_accepted: bool = False) -> dict[str, Any]:
        status = "pending_new" if as_accepted else self._status(order)
        average = None if as_accepted else self._average(order)
        filled = _ZERO if as_accepted else order.filled
        updated = order.created_at_s if as_accepted else (order.closed_at_s or order.created_at_s)
        return {
            "id": order.order_id, "client_order_id": order.client_order_id,
            "created_at": _iso(order.created_at_s), "updated_at": _iso(updated), "submitted_at": _iso(order.created_at_s),
            "filled_at": _iso(order.closed_at_s) if status == "filled" else None, "expired_at": None,
            "canceled_at": _iso(order.closed_at_s) if status == "canceled" else None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": self.asset_id(order.symbol), "symbol": order.symbol, "asset_class": "us_equity",
            "notional": _num(order.quote_volume) if order.quote_volume is not None else None,
            "qty": None if order.quote_volume is not None else _num(order.volume),
            "filled_qty": _num(filled), "filled_avg_price": _num(average) if average is not None else None,
            "order_class": "simple", "order_type": "market", "type": "market", "side": str(order.side),
            "position_intent": "buy_to_open" if order.side is Side.BUY else "sell_to_close",
            "time_in_force": order.extra.get("time_in_force", "day"), "limit_price": None, "stop_price": None,
            "status": status, "extended_hours": False, "legs": None, "trail_percent": None, "trail_price": None,
            "hwm": None, "subtag": None, "source": None, "expires_at": None,
            "commission": float(order.extra.get("commission", "0")),  # a JSON number, as Alpaca sends it
        }  # fmt: skip

    def _holdings(self, account: Account) -> dict[str, Decimal]:
        return {a: q for a, q in account.balances.items() if a != _USD and q != 0 and a in self.book.markets}

    def _entry_price(self, account: Account, symbol: str, qty: Decimal) -> Decimal:
        # average cost of what the fills built; a balance set by a test is valued at the current price
        held, cost = _ZERO, _ZERO
        for fill in (f for f in self.book.fills_of(account) if f.symbol == symbol):
            if fill.side is Side.BUY:
                held, cost = held + fill.volume, cost + fill.volume * fill.price
            elif held > 0:
                cost, held = cost * (held - fill.volume) / held, held - fill.volume
        return cost / held if held == qty and held > 0 else self.book.prices[symbol]

    def _position_json(self, account: Account, symbol: str, qty: Decimal) -> dict[str, Any]:
        price = self.book.prices[symbol]
        entry = self._entry_price(account, symbol, qty)
        value, basis = qty * price, qty * entry
        pl = value - basis
        return {
            "asset_id": self.asset_id(symbol), "symbol": symbol, "exchange": "NASDAQ", "asset_class": "us_equity",
            "asset_marginable": True, "qty": _num(qty), "qty_available": _num(qty - account.held(symbol)),
            "avg_entry_price": _num(entry), "side": "long" if qty > 0 else "short",
            "market_value": _num(value), "cost_basis": _num(basis), "unrealized_pl": _num(pl),
            "unrealized_plpc": _num(pl / basis) if basis else "0", "unrealized_intraday_pl": _num(pl),
            "unrealized_intraday_plpc": _num(pl / basis) if basis else "0", "current_price": _num(price),
            "lastday_price": _num(price), "change_today": "0",
        }  # fmt: skip

    # -- trading API: account, positions, assets, clock --------------------------------------

    @route("GET", "/v2/account", private=True)
    def account(self, call: Call) -> Reply:
        account = call.require_account()
        cash, free = account.total(_USD), account.free(_USD) - self._commission_due(account)
        long_value = sum((q * self.book.prices[a] for a, q in self._holdings(account).items() if q > 0), _ZERO)
        equity = cash + long_value
        digest = hashlib.sha256(account.api_key.encode()).hexdigest()
        return Reply.json({
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-account:{account.api_key}")),
            "account_number": "PA" + str(int(digest[:12], 16))[:10], "status": "ACTIVE", "crypto_status": "ACTIVE",
            "currency": _USD, "buying_power": _num(free), "regt_buying_power": _num(free),
            "daytrading_buying_power": "0", "effective_buying_power": _num(free),
            "non_marginable_buying_power": _num(free), "options_buying_power": _num(free), "bod_dtbp": "0",
            "cash": _num(cash), "accrued_fees": "0", "pending_transfer_in": "0", "portfolio_value": _num(equity),
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "created_at": "2024-01-02T14:30:00Z", "trade_suspended_by_user": False,
            "multiplier": "1", "shorting_enabled": False, "equity": _num(equity), "last_equity": _num(equity),
            "long_market_value": _num(long_value), "short_market_value": "0", "position_market_value": _num(long_value),
            "initial_margin": "0", "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0",
            "daytrade_count": 0, "options_approved_level": 0, "options_trading_level": 0,
        })  # fmt: skip

    @route("GET", "/v2/positions", private=True)
    def positions(self, call: Call) -> Reply:
        account = call.require_account()
        return Reply.json([self._position_json(account, s, q) for s, q in sorted(self._holdings(account).items())])

    @route("GET", "/v2/positions/{symbol}", private=True)
    def position(self, call: Call) -> Reply:
        account = call.require_account()
        symbol = call.path_params["symbol"]
        qty = self._holdings(account).get(symbol)
        if qty is None:
            return _api_error(404, 40410000, "position does not exist")
        return Reply.json(self._position_json(account, symbol, qty))

    @route("GET", "/v2/assets", private=True)
    def assets(self, call: Call) -> Reply:
        call.require_account()
        return Reply.json([self._asset_json(m) for m in self.book.markets.values()])

    @route("GET", "/v2/assets/{symbol}", private=True)
    def asset(self, call: Call) -> Reply:
        call.require_account()
        market = self.book.markets.get(call.path_params["symbol"])
        if market is None:
            return _api_error(404, 40410000, "asset not found")
        return Reply.json(self._asset_json(market))

    @route("GET", "/v2/clock", private=True)
    def clock(self, call: Call) -> Reply:
        call.require_account()
        now = self.now_s()
        if self.market_open:
            next_close, next_open = now + _SESSION_LEFT_S, now + _SESSION_LEFT_S + _NIGHT_S
        else:
            next_open = now + _SESSION_LEFT_S / 2
            next_close = next_open + 6.5 * 3600
        return Reply.json({
            "timestamp": _iso(now), "is_open": self.market_open,
            "next_open": _iso(next_open), "next_close": _iso(next_close),
        })  # fmt: skip

    # -- trading API: orders ----------------------------------------------------------------

    @route("POST", "/v2/orders", private=True, creates_order=True)
    def submit_order(self, call: Call) -> Reply:
        account = call.require_account()
        body = call.request.json
        if not isinstance(body, dict):
            raise VenueError(Reject.BAD_REQUEST, "request body format is invalid")
        symbol = str(body.get("symbol") or "")
        market = self.book.markets.get(symbol)
        if market is None:
            raise VenueError(Reject.BAD_REQUEST, f'asset "{symbol}" not found')
        if body.get("type") != "market":
            raise VenueError(Reject.BAD_REQUEST, "only market orders are simulated")
        try:
            side = Side(str(body.get("side")))
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "invalid side") from None
        time_in_force = str(body.get("time_in_force"))
        if time_in_force not in _TIME_IN_FORCE:
            raise VenueError(Reject.BAD_REQUEST, "invalid time_in_force")
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > _CLIENT_ORDER_ID_MAX:
            raise VenueError(Reject.BAD_REQUEST, "client_order_id must be no more than 128 characters")
        if call.book.orders_of(account, client_order_id=client_order_id):
            raise VenueError(Reject.DUPLICATE_CLIENT_ORDER_ID)  # unique per account, open or not
        if side is Side.BUY and symbol in self.not_tradable:
            raise VenueError(Reject.BAD_REQUEST, f'asset "{symbol}" is not tradable')
        qty, notional = self._size(body, symbol, time_in_force)
        commission = _decimal(body.get("commission", self.commissions.get(account.api_key, _ZERO)), "commission")
        refused = self._check_funds(account, symbol, side, qty, notional, call.book.prices[symbol], commission)
        if refused is not None:
            return refused
        extra = {"time_in_force": time_in_force, "commission": str(commission)}
        order = call.book.place_market_order(
            account, symbol, side, volume=qty, quote_cost=notional, client_order_id=client_order_id,
            fill_fraction=call.fill_fraction if self.market_open else _ZERO,
            extra=extra | ({} if self.market_open else {"queued": "1"}),
        )
        if commission > 0:
            self._uncharged.setdefault(account.api_key, []).append(order)
        return Reply.json(self._order_json(order, as_accepted=True))

    def _size(self, body: dict[str, Any], symbol: str, time_in_force: str) -> tuple[Decimal | None, Decimal | None]:
        raw_qty, raw_notional = body.get("qty"), body.get("notional")
        if (raw_qty is None) == (raw_notional is None):
            raise VenueError(Reject.BAD_REQUEST, "qty or notional is required, not both")
        qty = _decimal(raw_qty, "qty") if raw_qty is not None else None
        notional = _decimal(raw_notional, "notional") if raw_notional is not None else None
        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        if fractional and symbol in self.not_fractionable:
            raise VenueError(Reject.BAD_REQUEST, "requested asset is not fractionable")
        if fractional and time_in_force != "day":
            raise VenueError(Reject.BAD_REQUEST, "fractional orders must be DAY orders")
        if qty is not None and (qty <= 0 or _decimals(qty) > _QTY_DECIMALS):
            raise VenueError(Reject.BAD_REQUEST, "qty must be > 0 with at most 9 decimal places")
        if notional is not None:
            if notional <= 0 or _decimals(notional) > _NOTIONAL_DECIMALS:
                raise VenueError(Reject.BAD_REQUEST, "notional must be > 0 with at most 2 decimal places")
            if notional < _MIN_NOTIONAL:
                raise VenueError(Reject.BELOW_MIN_COST)
        return qty, notional

    def _check_funds(
        self, account: Account, symbol: str, side: Side, qty: Decimal | None, notional: Decimal | None,
        price: Decimal, commission: Decimal,
    ) -> Reply | None:
        # the 403 bodies carry the figures beside the message (alpaca-py #225; alpaca-py's fixtures)
        if side is Side.BUY:
            needed = (notional if notional is not None else (qty or _ZERO) * price) + commission
            buying_power = account.free(_USD) - self._commission_due(account)
            if needed > buying_power:
                return Reply.json({"buying_power": _num(buying_power), "code": 40310000, "cost_basis": _num(needed),
                                   "message": "insufficient buying power"}, status=403)  # fmt: skip
            return None
        wanted = qty if qty is not None else quantize_down((notional or _ZERO) / price, _QTY_DECIMALS)
        available, held = account.free(symbol), account.held(symbol)
        if wanted > available:
            return Reply.json({
                "available": _num(available), "code": 40310000, "existing_qty": _num(account.total(symbol)),
                "held_for_orders": _num(held), "symbol": symbol,
                "message": f"insufficient qty available for order (requested: {_num(wanted)}, available: {_num(available)})",
            }, status=403)  # fmt: skip
        return None

    def _commission_due(self, account: Account) -> Decimal:
        # commissions of orders not yet filled still hold buying power
        return sum((Decimal(o.extra["commission"]) for o in self._uncharged.get(account.api_key, ())), _ZERO)

    @route("GET", "/v2/orders", private=True)
    def orders(self, call: Call) -> Reply:
        account = call.require_account()
        params = call.params
        wanted = {
            "open": {OrderStatus.OPEN},
            "closed": {OrderStatus.CLOSED, OrderStatus.CANCELED},
            "all": set(OrderStatus),
        }.get(str(params.get("status", "open")))
        if wanted is None:
            raise VenueError(Reject.BAD_REQUEST, "invalid status")
        symbols = {s for s in str(params.get("symbols", "")).split(",") if s}
        limit = min(int(_decimal(params.get("limit", _ORDERS_DEFAULT_LIMIT), "limit")), _ORDERS_MAX_LIMIT)
        found = [o for o in call.book.orders_of(account, wanted) if not symbols or o.symbol in symbols]
        if str(params.get("direction", "desc")) == "desc":
            found.reverse()
        return Reply.json([self._order_json(o) for o in found[:limit]])

    @route("GET", "/v2/orders:by_client_order_id", private=True)
    def order_by_client_id(self, call: Call) -> Reply:
        account = call.require_account()
        client_order_id = str(call.params.get("client_order_id", ""))
        found = call.book.orders_of(account, client_order_id=client_order_id) if client_order_id else []
        if not found:
            raise VenueError(Reject.UNKNOWN_ORDER)
        return Reply.json(self._order_json(found[-1]))

    @route("GET", "/v2/orders/{order_id}", private=True)
    def order(self, call: Call) -> Reply:
        account = call.require_account()
        order = call.book.order(account, call.path_params["order_id"])
        if order is None:
            raise VenueError(Reject.UNKNOWN_ORDER)
        return Reply.json(self._order_json(order))

    @route("DELETE", "/v2/orders/{order_id}", private=True)
    def cancel_order(self, call: Call) -> Reply:
        account = call.require_account()
        order = call.book.order(account, call.path_params["order_id"])
        if order is None:
            raise VenueError(Reject.UNKNOWN_ORDER)
        if order.status is not OrderStatus.OPEN:
            return _api_error(422, 42210000, "order is not cancelable")
        call.book.cancel_order(order)
        return Reply(status=204, body=b"", content_type="application/json")

    # -- market data v2 ---------------------------------------------------------------------

    def _known(self, symbols: str) -> list[str]:
        wanted = [s for s in symbols.split(",") if s]
        if not wanted:
            raise VenueError(Reject.BAD_REQUEST, "missing symbols")
        return [s for s in wanted if s in self.book.markets]  # unknown symbols are left out

    def _bar_json(self, candle: Candle) -> dict[str, Any]:
        return {
            "t": _iso(candle.ts_s), "o": float(candle.open), "h": float(candle.high), "l": float(candle.low),
            "c": float(candle.close), "v": int(candle.volume), "n": 1, "vw": float(candle.close),
        }  # fmt: skip

    def _bars(self, call: Call, symbols: list[str]) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        params = call.params
        found = _TIMEFRAME_RE.match(str(params.get("timeframe", "")))
        if found is None:
            raise VenueError(Reject.BAD_REQUEST, "invalid timeframe")
        interval_s = int(found.group(1)) * _TIMEFRAME_S[found.group(2)]
        start = _parse_time(params.get("start"), "start")
        end = _parse_time(params.get("end"), "end")
        limit = int(_decimal(params.get("limit") or _BARS_DEFAULT_LIMIT, "limit"))
        if not 1 <= limit <= _BARS_MAX_LIMIT:
            raise VenueError(Reject.BAD_REQUEST, "invalid limit")
        descending = str(params.get("sort", "asc")) == "desc"
        rows: list[tuple[str, Candle]] = []
        for symbol in symbols:
            candles = [
                c for c in call.book.candles(symbol, interval_s)
                if (start is None or c.ts_s >= start) and (end is None or c.ts_s <= end)
            ]  # fmt: skip
            rows.extend((symbol, c) for c in (reversed(candles) if descending else candles))
        offset = int(base64.urlsafe_b64decode(params["page_token"]).decode()) if params.get("page_token") else 0
        page = rows[offset : offset + limit]
        token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if offset + limit < len(rows) else None
        bars: dict[str, list[dict[str, Any]]] = {}
        for symbol, candle in page:
            bars.setdefault(symbol, []).append(self._bar_json(candle))
        return bars, token

    @route("GET", "/v2/stocks/bars", private=True)
    def stock_bars(self, call: Call) -> Reply:
        call.require_account()
        bars, token = self._bars(call, self._known(str(call.params.get("symbols", ""))))
        return Reply.json({"bars": bars, "next_page_token": token})

    @route("GET", "/v2/stocks/{symbol}/bars", private=True)
    def stock_symbol_bars(self, call: Call) -> Reply:
        call.require_account()
        symbol = call.path_params["symbol"]
        bars, token = self._bars(call, self._known(symbol))
        return Reply.json({"bars": bars.get(symbol, []), "symbol": symbol, "next_page_token": token})

    def _quote_json(self, symbol: str) -> dict[str, Any]:
        price = float(self.book.prices[symbol])
        return {
            "t": _iso(self.now_s()), "ax": "V", "ap": price, "as": 1, "bx": "V", "bp": price, "bs": 1,
            "c": ["R"], "z": "C",
        }  # fmt: skip

    def _trade_json(self, symbol: str) -> dict[str, Any]:
        return {
            "t": _iso(self.now_s()), "x": "V", "p": float(self.book.prices[symbol]), "s": 100, "c": ["@"],
            "i": len(self.book.fills) + 1, "z": "C",
        }  # fmt: skip

    @route("GET", "/v2/stocks/quotes/latest", private=True)
    def latest_quotes(self, call: Call) -> Reply:
        call.require_account()
        return Reply.json({"quotes": {s: self._quote_json(s) for s in self._known(str(call.params.get("symbols", "")))}})

    @route("GET", "/v2/stocks/trades/latest", private=True)
    def latest_trades(self, call: Call) -> Reply:
        call.require_account()
        return Reply.json({"trades": {s: self._trade_json(s) for s in self._known(str(call.params.get("symbols", "")))}})

    @route("GET", "/v2/stocks/{symbol}/quotes/latest", private=True)
    def latest_quote(self, call: Call) -> Reply:
        call.require_account()
        symbol = call.path_params["symbol"]
        if symbol not in self.book.markets:
            return _api_error(404, 40410000, "not found")
        return Reply.json({"symbol": symbol, "quote": self._quote_json(symbol)})

    @route("GET", "/v2/stocks/{symbol}/trades/latest", private=True)
    def latest_trade(self, call: Call) -> Reply:
        call.require_account()
        symbol = call.path_params["symbol"]
        if symbol not in self.book.markets:
            return _api_error(404, 40410000, "not found")
        return Reply.json({"symbol": symbol, "trade": self._trade_json(symbol)})


VENUE = AlpacaVenue
