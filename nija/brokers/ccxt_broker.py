"""CcxtBroker: Coinbase Advanced, Kraken, OKX and Binance spot accounts through ccxt.

The few per-venue differences sit in one table (`VENUES`), not in branches. One ccxt client per
account, used only by that account's thread; market metadata is loaded once per venue and shared
read-only between clients (`SharedMarkets`). ccxt exceptions are translated in one place
(`ccxt_errors`). Orders are never retried by ccxt (`maxRetriesOnFailure` 0): an ambiguous answer
(timeout, dropped connection, 5xx, a 200 that is not JSON so the order has no id) raises
`TransientError`, and the order executor looks the order up by client order id instead of
sending it again. Reads are retried with backoff and jitter (tenacity). Kraken private calls go
through the key's `NonceSource`: one persistent millisecond nonce and one request in flight per key.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ContextManager, Final, TypeVar

import ccxt
import numpy as np
import requests

from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    InvalidNonce,
    MarketDataError,
    OrderRejected,
    TransientError,
    read_retrying,
    secret_text,
    venue_decimal,
)
from nija.brokers.lean_http import LeanSession
from nija.brokers.fees import fee_schedule
from nija.brokers.nonce import NonceSource, key_fingerprint
from nija.brokers.ratelimit import KeyBudget, kraken_budget
from nija.models import (
    BalanceSnapshot,
    BrokerName,
    Candles,
    ExecutionReport,
    MarketRules,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    Ticker,
    utc_now,
)

__all__ = ["VENUES", "CcxtBroker", "SharedMarkets", "Venue", "ccxt_errors", "redirect"]

T = TypeVar("T")

TIMEFRAME: Final = "5m"
TIMEFRAME_MS: Final = 300_000
MARKETS_MAX_AGE_SECONDS: Final = 3600.0  # venues list and delist markets; refresh hourly
NONCE_JUMP_MS: Final = 5_000  # after InvalidNonce: jump past whatever raced us, then retry once
# The nonce file holds a mark this many values ahead, so only one request in 10,000 per key waits
# on an fsync'd rename (nonce.py, "lease"); after a crash a key's nonces resume at most 10 s
# ahead of the clock.
NONCE_LEASE_MS: Final = 10_000
_CCXT_KRAKEN_PRIVATE_COST: Final = 3.0


@dataclass(frozen=True, slots=True)
class Venue:
    """What differs between the ccxt venues NIJA trades."""

    ccxt_id: str
    cash: tuple[str, ...]  # quote currencies of the default universe, counted as cash 1:1
    client_id_param: str  # the create_order param ccxt sends as the venue's client order id
    lookup: str  # how an order is found by client id: "open_closed" | "fetch_order" | "history"
    options: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=lambda: {"api_key": "apiKey", "api_secret": "secret"})
    persistent_nonce: bool = False  # Kraken: monotonic per-key nonce across threads and processes
    key_budget: bool = False  # Kraken: private calls paced by the per-key counter (ratelimit.py)
    # Binance takes a buy's fee from the coins bought, and its order endpoint omits the fee: the
    # adapter then counts the market's taker rate so NIJA's books match what is really held.
    buy_fee_in_base_unreported: bool = False
    # Symbols scanned per cycle: OHLCV calls must fit the public limit within one 150 s cycle
    # (Kraken ~1 public call/s; the others allow far more).
    scan_batch: int = 30


VENUES: Final[Mapping[BrokerName, Venue]] = {
    BrokerName.KRAKEN: Venue(
        "kraken", ("USD", "USDC"), "clientOrderId", "open_closed", persistent_nonce=True, key_budget=True
    ),
    # ccxt drops `clientOrderId` for Coinbase and invents its own; the raw param goes through.
    # v3 accounts carry the cash on hold; ccxt's default v2 call reports it as free.
    BrokerName.COINBASE: Venue(
        "coinbase", ("USD", "USDC"), "client_order_id", "history", {"fetchBalance": "v3PrivateGetBrokerageAccounts"},
        scan_batch=60,
    ),
    BrokerName.OKX: Venue(
        "okx", ("USDT",), "clientOrderId", "fetch_order", {"fetchMarkets": {"types": ["spot"]}},
        {"api_key": "apiKey", "api_secret": "secret", "passphrase": "password"}, scan_batch=60,
    ),
    BrokerName.BINANCE: Venue(
        "binance", ("USDT",), "clientOrderId", "fetch_order", {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"},
        buy_fee_in_base_unreported=True, scan_batch=100,
    ),
}

# Most specific first: ccxt's InvalidNonce is also a NetworkError, PermissionDenied an AuthenticationError.
_CCXT_ERRORS: Final[tuple[tuple[type[Exception], type[BrokerError]], ...]] = (
    (ccxt.InvalidNonce, InvalidNonce),
    (ccxt.AuthenticationError, AuthError),
    (ccxt.AccountSuspended, AuthError),
    (ccxt.InsufficientFunds, InsufficientFunds),
    (ccxt.BadSymbol, OrderRejected),
    (ccxt.InvalidOrder, OrderRejected),
    (ccxt.NetworkError, TransientError),  # timeouts, 5xx, DDoSProtection and RateLimitExceeded (siblings in 4.5)
    (ccxt.BadResponse, TransientError),
    (ccxt.NotSupported, OrderRejected),
    (ccxt.BaseError, TransientError),  # unmapped venue errors: fail the cycle, never assume success
)


@contextmanager
def ccxt_errors(broker: BrokerName) -> Iterator[None]:
    """Translate ccxt exceptions into the broker error taxonomy (the only place they are caught)."""
    try:
        yield
    except ccxt.BaseError as exc:
        for source, target in _CCXT_ERRORS:
            if isinstance(exc, source):
                raise target(f"{broker}: {type(exc).__name__}: {exc}") from exc
        raise  # unreachable: BaseError is the last row


def redirect(client: ccxt.Exchange, base_url: str) -> None:
    """Point every REST URL of `client` at `base_url` (testnets, the simulator), keeping paths."""
    base = base_url.rstrip("/")

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"^https?://[^/]+", base, value)
        if isinstance(value, dict):
            return {key: fix(item) for key, item in value.items()}
        return value

    client.urls["api"] = fix(client.urls["api"])
    if "hostname" in client.options:  # okx builds its URL from a hostname option
        client.hostname = base.split("://", 1)[-1].split("/", 1)[0]


def _proxy_configured() -> bool:
    """Whether the environment routes HTTP(S) through a proxy (LeanSession does not speak to proxies)."""
    return any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))


def _refuse_non_json(client: ccxt.Exchange) -> None:
    """Make a 2xx answer whose body is not JSON an error instead of an empty result.

    ccxt parses an HTML or truncated 200 to nothing and raises nothing: fetch_balance then
    returns an empty balance (equity 0: "unfunded") and fetch_open_orders an empty list (an
    order "not found" that may well exist). Both are lies a real-money bot must not believe.
    The check parses with ccxt's own parser (`on_json_response`: orjson when installed), and
    the value is handed to ccxt's `parse_json` for that same body, so an answer is parsed once.
    """
    original = client.on_rest_response
    parse = client.on_json_response
    last: list[Any] = [None, None]  # (body, value) of the last 2xx answer; one thread per client

    def on_rest_response(code: Any, reason: Any, url: str, method: str, headers: Any, body: Any, *rest: Any) -> Any:
        body = original(code, reason, url, method, headers, body, *rest)
        last[0] = last[1] = None
        if isinstance(code, int) and 200 <= code < 300:
            try:
                value = parse(body)
            except (TypeError, ValueError) as exc:
                raise ccxt.BadResponse(f"{client.id} {method} {url}: HTTP {code} answer is not JSON") from exc
            last[0], last[1] = body, value
        return body

    def on_json_response(text: Any) -> Any:
        if text is last[0]:  # the body just checked: its value, handed over once
            value = last[1]
            last[0] = last[1] = None
            return value
        return parse(text)

    client.on_rest_response = on_rest_response
    client.on_json_response = on_json_response


class SharedMarkets:
    """Market metadata loaded once per (venue, URL) and shared read-only by every client of it.

    Loading markets costs 4–28 MiB per ccxt instance; sharing costs ~0.1 MiB per client, which is
    what lets one process hold a thousand user accounts. Holds process-wide state under one lock.
    """

    def __init__(self, max_age_seconds: float = MARKETS_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age_seconds
        self._lock = threading.Lock()
        self._templates: dict[tuple[str, str], tuple[ccxt.Exchange, float]] = {}

    def ensure(self, key: tuple[str, str], build: Callable[[], ccxt.Exchange]) -> tuple[ccxt.Exchange, float]:
        """The loaded template of `key` and when it was loaded; (re)loads when older than an hour."""
        with self._lock:
            template, loaded_at = self._templates.get(key, (None, 0.0))
            if template is None or time.monotonic() - loaded_at > self.max_age:
                template = build()
                template.load_markets(reload=True)
                loaded_at = time.monotonic()
                self._templates[key] = (template, loaded_at)
        return template, loaded_at


_STATUS: Final[Mapping[str, OrderStatus]] = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    # "open" is decided by the filled quantity below
}


class CcxtBroker:
    """One account on a ccxt venue; used only by its own thread."""

    def __init__(
        self,
        name: BrokerName,
        account: str,
        credentials: Mapping[str, Any] | None,
        markets: SharedMarkets,
        *,
        api_url: str | None = None,
        data_dir: Path = Path("data"),
        timeout_ms: int = 10_000,
        symbols: tuple[str, ...] = (),
        disabled_symbols: frozenset[str] = frozenset(),
        read_attempts: int = 3,
        enable_rate_limit: bool = True,
        kraken_tier: str = "starter",
        stop: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.account = account
        self.venue = VENUES[name]
        self.cash_currency = self.venue.cash[0]
        self.scan_batch: int | None = self.venue.scan_batch
        self._ohlcv_cache: dict[str, Candles] = {}
        self._api_url = api_url
        self._timeout_ms = timeout_ms
        self._markets = markets
        self._markets_key = (self.venue.ccxt_id, api_url or "")
        self._markets_loaded_at = 0.0
        self._rules: dict[str, MarketRules] = {}  # per symbol, until the markets are reloaded
        self._explicit_symbols = symbols
        self._disabled = disabled_symbols
        self._read_attempts = read_attempts
        self._enable_rate_limit = enable_rate_limit
        self._stop = stop or threading.Event()
        self.client = self._build(credentials)
        self._nonce: NonceSource | None = None
        if self.venue.persistent_nonce and credentials:
            api_key = secret_text(credentials["api_key"])
            self._nonce = NonceSource(data_dir, api_key, lease_ms=NONCE_LEASE_MS)
            self.client.nonce = self._nonce.next  # one persistent ms counter per key
        if self.venue.key_budget and credentials and enable_rate_limit:
            self._pace_private_calls(kraken_budget(key_fingerprint(secret_text(credentials["api_key"])), kraken_tier))

    def _pace_private_calls(self, budget: KeyBudget) -> None:
        """Kraken: private calls wait on the key's counter; public ones keep ccxt's per-instance pacing."""
        public_throttle = self.client.throttle

        def throttle(cost: float | None = None) -> None:
            cost = 1.0 if cost is None else float(cost)
            if cost >= _CCXT_KRAKEN_PRIVATE_COST:
                # ccxt prices Kraken private calls at 3 (history 6); Kraken's counter at 1 (2).
                self._wait(budget.reserve(cost / _CCXT_KRAKEN_PRIVATE_COST))
            elif cost > 0:  # AddOrder/CancelOrder cost 0: Kraken limits them per pair, not here
                public_throttle(cost)

        self.client.throttle = throttle

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._stop.wait(seconds):
            raise TransientError(f"{self.name}: stopping while waiting {seconds:.1f}s for the rate budget")

    @property
    def nonce_converted_from(self) -> str | None:
        """The unit a persisted Kraken nonce was converted from, for one start-up warning."""
        return self._nonce.converted_from if self._nonce is not None else None

    def _build(self, credentials: Mapping[str, Any] | None) -> ccxt.Exchange:
        config: dict[str, Any] = {
            "enableRateLimit": self._enable_rate_limit,  # ccxt's limiter is per instance, i.e. per account
            "timeout": self._timeout_ms,
            # Never let ccxt re-send a request by itself: an order must be looked up, not repeated.
            "options": {**self.venue.options, "maxRetriesOnFailure": 0},
        }
        for part, ccxt_key in self.venue.credentials.items():
            if credentials and part in credentials:
                config[ccxt_key] = secret_text(credentials[part])
        # requests costs about half of a request's client CPU for features NIJA never uses
        # (cookies, redirects): a lean keep-alive session per client (lean_http.py). A VPS that
        # routes through a proxy keeps requests, which honours HTTP(S)_PROXY.
        config["session"] = requests.Session() if _proxy_configured() else LeanSession()
        client: ccxt.Exchange = getattr(ccxt, self.venue.ccxt_id)(config)
        if self._api_url:
            redirect(client, self._api_url)
        _refuse_non_json(client)
        return client

    def _public_template(self) -> ccxt.Exchange:
        return self._build(None)

    # -- plumbing ----------------------------------------------------------------------------

    def _private(self) -> ContextManager[None]:
        return self._nonce.in_flight() if self._nonce is not None else nullcontext()

    def _call(self, fn: Callable[[], T], *, private: bool = False) -> T:
        """One venue call with translated errors; a Kraken InvalidNonce jumps the nonce and retries once."""
        for attempt in (1, 2):
            try:
                with self._private() if private else nullcontext(), ccxt_errors(self.name):
                    return fn()
            except InvalidNonce:
                if attempt == 2 or self._nonce is None:
                    raise
                self._nonce.jump(NONCE_JUMP_MS)
        raise AssertionError("unreachable")

    def _read(self, fn: Callable[[], T], *, private: bool = False) -> T:
        """A read: retried on transient errors with exponential backoff and jitter (max ~2 s)."""
        retrying = read_retrying(self._read_attempts)
        return retrying(self._call, fn, private=private)

    def _ensure_markets(self) -> None:
        if self._markets_loaded_at and time.monotonic() - self._markets_loaded_at < self._markets.max_age:
            return  # fresh: every order checks this, and a retrying read costs more than the order's own work
        template, loaded_at = self._read(lambda: self._markets.ensure(self._markets_key, self._public_template))
        if loaded_at != self._markets_loaded_at:
            self.client.set_markets_from_exchange(template)  # shared read-only, never copied
            self._markets_loaded_at = loaded_at
            self._rules.clear()

    # -- reads -------------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """Load (or refresh, hourly) the venue's markets."""
        self._ensure_markets()

    def is_market_open(self) -> bool:
        """Crypto venues never close."""
        return True

    def symbols(self) -> list[str]:
        """NIJA_SYMBOLS_<BROKER> if set, else active spot markets quoted in the venue's cash."""
        self._ensure_markets()
        if self._explicit_symbols:
            return [s for s in self._explicit_symbols if s not in self._disabled]
        return sorted(
            symbol
            for symbol, market in self.client.markets.items()
            if market.get("spot") and market.get("active") is not False
            and market.get("quote") in self.venue.cash and symbol not in self._disabled
        )

    def _balances(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        raw = self._read(lambda: self.client.fetch_balance(), private=True)
        free = {a: venue_decimal(v, f"{self.name} free {a}") for a, v in (raw.get("free") or {}).items() if v is not None}
        total = {a: venue_decimal(v, f"{self.name} total {a}") for a, v in (raw.get("total") or {}).items() if v is not None}
        return free, total

    def holdings(self) -> dict[str, Decimal]:
        """Base assets held (non-zero totals), excluding cash."""
        _, total = self._balances()
        return {a: q for a, q in total.items() if q > 0 and a not in self.venue.cash}

    def _symbol_for(self, asset: str) -> str | None:
        for quote in self.venue.cash:
            symbol = f"{asset}/{quote}"
            if symbol in self.client.markets:
                return symbol
        return None

    def balance_snapshot(self) -> BalanceSnapshot:
        """Equity = free cash + cash on hold + Σ holding × last price (one batched ticker call)."""
        self._ensure_markets()
        free, total = self._balances()
        available = sum((free.get(c, Decimal(0)) for c in self.venue.cash), Decimal(0))
        cash_total = sum((total.get(c, Decimal(0)) for c in self.venue.cash), Decimal(0))
        held = {a: q for a, q in total.items() if q > 0 and a not in self.venue.cash}
        priced = {a: s for a in held if (s := self._symbol_for(a)) is not None}
        tickers = self._read(lambda: self.client.fetch_tickers(sorted(priced.values()))) if priced else {}
        value = Decimal(0)
        for asset, symbol in priced.items():
            ticker = tickers.get(symbol) or {}
            last = ticker.get("last") or ticker.get("bid")
            if last is None:
                raise MarketDataError(f"{self.name}: no price for {symbol} in the ticker answer")
            value += held[asset] * venue_decimal(last, f"{self.name} {symbol} last")
        locked = max(cash_total - available, Decimal(0)) + value
        return BalanceSnapshot.from_parts(available=available, locked_in_positions=locked, taken_at=utc_now())

    def ticker(self, symbol: str) -> Ticker:
        """Best bid/ask and last trade of `symbol`."""
        raw = self._read(lambda: self.client.fetch_ticker(symbol))
        last = raw.get("last") or raw.get("close")
        bid, ask = raw.get("bid") or last, raw.get("ask") or last
        try:
            return Ticker(
                symbol=symbol, bid=venue_decimal(bid, f"{symbol} bid"), ask=venue_decimal(ask, f"{symbol} ask"),
                last=venue_decimal(last, f"{symbol} last"), ts=utc_now(),
            )
        except ValueError as exc:
            raise MarketDataError(f"{self.name}: malformed ticker for {symbol}: {exc}") from exc

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """The last `limit` closed 5-minute candles (the still-forming one is dropped).

        Cached per symbol until the next candle closes: a 150 s cycle on 5-minute candles would
        otherwise fetch the same closed candles twice.
        """
        cached = self._ohlcv_cache.get(symbol)
        now_ms = time.time() * 1000
        if cached is not None and len(cached) >= limit and now_ms < cached.ts[-1] + 2 * TIMEFRAME_MS:
            return cached.tail(limit)
        candles = self._fetch_ohlcv(symbol, limit)
        if len(candles):
            self._ohlcv_cache[symbol] = candles
        return candles

    def _fetch_ohlcv(self, symbol: str, limit: int) -> Candles:
        rows = self._read(lambda: self.client.fetch_ohlcv(symbol, TIMEFRAME, limit=limit + 1))
        if not rows:
            return Candles.from_rows(np.empty((0, 6)))
        try:
            array = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MarketDataError(f"{self.name}: malformed candles for {symbol}: {exc}") from exc
        if array.ndim != 2 or array.shape[1] < 6:
            raise MarketDataError(f"{self.name}: candles for {symbol} have shape {array.shape}, need (n, 6)")
        now_ms = time.time() * 1000
        if array[-1, 0] + TIMEFRAME_MS > now_ms:
            array = array[:-1]
        return Candles.from_rows(array[-limit:, :6])

    def market_rules(self, symbol: str) -> MarketRules:
        """Minimums and precision steps from the venue's market metadata."""
        self._ensure_markets()
        cached = self._rules.get(symbol)
        if cached is not None:
            return cached
        market = self.client.markets.get(symbol)
        if market is None:
            raise OrderRejected(f"{self.name}: unknown symbol {symbol}")
        precision, limits = market.get("precision") or {}, market.get("limits") or {}
        if precision.get("amount") is None or precision.get("price") is None:
            raise MarketDataError(f"{self.name}: market {symbol} has no precision")
        rules = self._rules[symbol] = MarketRules(
            symbol=symbol, base=market["base"], quote=market["quote"],
            min_amount=venue_decimal((limits.get("amount") or {}).get("min") or 0, f"{symbol} min amount"),
            min_cost=venue_decimal((limits.get("cost") or {}).get("min") or 0, f"{symbol} min cost"),
            amount_step=venue_decimal(precision["amount"], f"{symbol} amount step"),
            price_step=venue_decimal(precision["price"], f"{symbol} price step"),
        )
        return rules

    # -- orders ------------------------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> ExecutionReport:
        """Send one market order carrying the client order id and read its fill; never retried here."""
        report = self.send_order(request)
        if report.status is OrderStatus.SUBMITTED and report.filled_qty == 0:
            # Market orders fill in milliseconds; one read tells the fill instead of waiting a cycle.
            found = self.fetch_order(request.client_order_id, request.symbol)
            if found is not None:
                return found
        return report

    def send_order(self, request: OrderRequest) -> ExecutionReport:
        """Send one market order and return the venue's acknowledgment (an order id, usually no
        fill yet): the copy engine's hot path, which reads fills later with `fetch_order`."""
        rules = self.market_rules(request.symbol)
        params = {self.venue.client_id_param: request.client_order_id}
        symbol = request.symbol
        if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE:
            cost = self._to_precision(self.client.cost_to_precision, symbol, request.quantity, "cost")
            if cost < rules.min_cost or cost <= 0:
                raise OrderRejected(f"{self.name}: {symbol} buy of {cost} {rules.quote} below minimum cost {rules.min_cost}")
            send = lambda: self.client.create_market_buy_order_with_cost(symbol, float(cost), params)  # noqa: E731
        else:
            amount = self._to_precision(self.client.amount_to_precision, symbol, request.quantity, "amount")
            if amount <= 0 or amount < rules.min_amount:
                raise OrderRejected(f"{self.name}: {symbol} amount {amount} below minimum {rules.min_amount}")
            send = lambda: self.client.create_order(symbol, "market", request.side.value, float(amount), None, params)  # noqa: E731
        try:
            raw = self._call(send, private=True)
        except (TransientError, MarketDataError) as exc:
            raise TransientError(f"{self.name}: order {request.client_order_id} outcome unknown: {exc}") from exc
        if not raw or raw.get("id") is None:
            # A 200 whose body was not JSON: the venue may well hold the order.
            raise TransientError(f"{self.name}: order {request.client_order_id} answer had no order id")
        return self._report(request.client_order_id, raw)

    def _to_precision(self, helper: Callable[[str, float], str], symbol: str, value: Decimal, what: str) -> Decimal:
        """Round with ccxt's own precision helper (truncating); a value that rounds to 0 is below minimum."""
        try:
            return Decimal(helper(symbol, float(value)))
        except ccxt.InvalidOrder as exc:
            raise OrderRejected(f"{self.name}: {symbol} {what} {value} below minimum precision: {exc}") from exc

    def fetch_order(self, client_order_id: str, symbol: str) -> ExecutionReport | None:
        """Find an order by client order id; None when the venue has never seen it."""
        self._ensure_markets()
        params = {self.venue.client_id_param: client_order_id}
        if self.venue.lookup == "fetch_order":
            try:
                raw = self._read(lambda: self.client.fetch_order(None, symbol, params), private=True)
            except OrderRejected as exc:  # ccxt's OrderNotFound is an InvalidOrder
                if isinstance(exc.__cause__, ccxt.OrderNotFound):
                    return None
                raise
            return self._report(client_order_id, raw) if raw else None
        if self.venue.lookup == "open_closed":
            # A market order is closed within milliseconds: look there first, one call usually.
            fetchers = (self.client.fetch_closed_orders, self.client.fetch_open_orders)
            for fetch in fetchers:
                orders = self._read(lambda fetch=fetch: fetch(None, None, None, dict(params)), private=True)
                for raw in orders:
                    if raw.get("clientOrderId") == client_order_id:
                        return self._report(client_order_id, raw)
            return None
        orders = self._read(lambda: self.client.fetch_orders(symbol, None, 100), private=True)
        for raw in orders:
            if raw.get("clientOrderId") == client_order_id:
                return self._report(client_order_id, raw)
        return None

    def _report(self, client_order_id: str, raw: Mapping[str, Any]) -> ExecutionReport:
        filled = venue_decimal(raw.get("filled") or 0, f"{client_order_id} filled")
        average = raw.get("average")
        if average is None and filled > 0 and raw.get("cost"):
            average = venue_decimal(raw["cost"], "cost") / filled
        base = str(raw.get("symbol") or "/").split("/")[0]
        fee, fee_in_base = Decimal(0), Decimal(0)
        for entry in raw.get("fees") or ([raw["fee"]] if raw.get("fee") else []):
            if not entry or entry.get("cost") is None:
                continue
            cost = venue_decimal(entry["cost"], f"{client_order_id} fee")
            if entry.get("currency") == base:  # withheld from the asset bought (Binance)
                fee_in_base += cost
                cost *= venue_decimal(average, "average") if average is not None else Decimal(0)
            fee += cost
        if (
            self.venue.buy_fee_in_base_unreported and fee == 0 and filled > 0 and raw.get("side") == "buy"
            and average is not None
        ):
            fee_in_base = filled * fee_schedule(self.name).taker  # the one fee table, overrides included
            fee = fee_in_base * venue_decimal(average, "average")
        status = _STATUS.get(str(raw.get("status")), None)
        if status is None:  # open or unknown: decided by what filled
            status = OrderStatus.PARTIAL if filled > 0 else OrderStatus.SUBMITTED
        return ExecutionReport(
            client_order_id=client_order_id, status=status, exchange_order_id=str(raw.get("id")) if raw.get("id") else None,
            filled_qty=filled, avg_price=venue_decimal(average, "average") if average is not None else None, fee=fee,
            fee_in_base=fee_in_base,
        )

    def close(self) -> None:
        """Release the HTTP session."""
        session = getattr(self.client, "session", None)
        if session is not None:
            session.close()

