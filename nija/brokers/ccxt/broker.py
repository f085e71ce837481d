"""CcxtBroker: one Coinbase Advanced, Kraken, OKX or Binance spot account through ccxt.

One ccxt client per account, used only by that account's thread (`client.build_client`);
market metadata is shared read-only between clients (`SharedMarkets`). Orders are never retried
by ccxt: an ambiguous answer (timeout, dropped connection, 5xx, a 200 that is not JSON so the
order has no id) raises `TransientError`, and the order executor looks the order up by client
order id instead of sending it again. Reads are retried with backoff and jitter (tenacity).
Kraken private calls go through the key's `NonceSource`: one persistent millisecond nonce and
one request in flight per key. Order answers are read into reports and fills by `reports.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, ContextManager, Final, TypeVar

import ccxt
import numpy as np

from nija.brokers.base import (
    InsufficientFunds,
    InvalidNonce,
    MarketDataError,
    OrderRejected,
    TransientError,
    read_retrying,
    secret_text,
    venue_decimal,
)
from nija.brokers.ccxt import binance, coinbase, kraken
from nija.brokers.ccxt.client import SharedMarkets, build_client
from nija.brokers.ccxt.errors import ccxt_errors
from nija.brokers.ccxt.kraken_budget import KeyBudget, kraken_budget
from nija.brokers.ccxt.nonce import NonceSource, key_fingerprint
from nija.brokers.ccxt.reports import OrderAnswers
from nija.brokers.ccxt.venues import VENUES
from nija.brokers.fees import fee_schedule
from nija.models import (
    BalanceSnapshot,
    BrokerName,
    Candles,
    ExecutionReport,
    MarketRules,
    Order,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    Ticker,
    utc_now,
)

__all__ = ["TIMEFRAME_MS", "CcxtBroker"]

T = TypeVar("T")

TIMEFRAME: Final = "5m"
TIMEFRAME_MS: Final = 300_000
NONCE_JUMP_MS: Final = 5_000  # after InvalidNonce: jump past whatever raced us, then retry once
# The nonce file holds a mark this many values ahead, so only one request in 10,000 per key waits
# on an fsync'd rename (nonce.py, "lease"); after a crash a key's nonces resume at most 10 s
# ahead of the clock.
NONCE_LEASE_MS: Final = 10_000
_CCXT_KRAKEN_PRIVATE_COST: Final = 3.0




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
        sandbox: bool = False,
    ) -> None:
        self.name = name
        self.account = account
        self.venue = VENUES[name]
        self.cash_currency = self.venue.cash[0]
        self.settles_in_cash = False  # ETH/BTC spends BTC, BTC/USDC spends USDC
        self.scan_batch: int | None = self.venue.scan_batch
        self._ohlcv_cache: dict[str, Candles] = {}
        self._api_url = api_url
        self._timeout_ms = timeout_ms
        self._markets = markets
        self.sandbox = sandbox  # NIJA_<BROKER>_SANDBOX: the venue's own test environment
        self._markets_key = (self.venue.ccxt_id, api_url or ("sandbox" if sandbox else ""))
        self._markets_loaded_at = 0.0
        self._rules: dict[str, MarketRules] = {}  # per symbol, until the markets are reloaded
        self._explicit_symbols = symbols
        self._disabled = disabled_symbols
        self._read_attempts = read_attempts
        self._enable_rate_limit = enable_rate_limit
        self._stop = stop or threading.Event()
        self.client = self._build(credentials)
        self._orders = OrderAnswers(name, account, self.venue, self.client)
        self._budget: KeyBudget | None = None
        self._sub_balances: dict[str, Decimal] = {}  # asset -> part in Earn/staking, as last read
        self._paused_until = 0.0  # monotonic: no call before then (Binance rate limit or IP ban)
        self._paused_by = ""  # the venue answer that paused the calls
        # OKX: what waits in the funding account, read while the trading account looks unfunded (okx.py)
        watch = self.venue.funding_watch
        self._funding = watch(self.client, lambda fn: self._read(fn, private=True), self.venue.cash) if watch else None
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
        self._budget = budget

        def throttle(cost: float | None = None) -> None:
            cost = 1.0 if cost is None else float(cost)
            if cost >= 0 and (locked := budget.locked_seconds()) > 0:
                # a call during Kraken's lockout would only extend it: fail the cycle, send nothing
                raise TransientError(f"{self.name}: Kraken locked this API key out; calls resume in {locked:.0f}s")
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
        return build_client(
            self.venue, credentials, api_url=self._api_url, timeout_ms=self._timeout_ms,
            enable_rate_limit=self._enable_rate_limit, sandbox=self.sandbox,
        )

    def _public_template(self) -> ccxt.Exchange:
        return self._build(None)

    # -- plumbing ----------------------------------------------------------------------------

    def _private(self) -> ContextManager[None]:
        return self._nonce.in_flight() if self._nonce is not None else nullcontext()

    def _call(self, fn: Callable[[], T], *, private: bool = False) -> T:
        """One venue call with translated errors; a Kraken InvalidNonce jumps the nonce and retries once."""
        if (paused := self._paused_until - time.monotonic()) > 0:
            # calls during a rate-limit pause or an IP ban only prolong it: fail the cycle, send nothing
            raise TransientError(f"{self.name}: calls paused {paused:.0f}s more after: {self._paused_by}")
        for attempt in (1, 2):
            try:
                # localcontext: ccxt's precision helpers set the calling thread's Decimal context
                # to round half up and trap underflow; NIJA's own arithmetic must not inherit that.
                with self._private() if private else nullcontext(), ccxt_errors(self.name), localcontext():
                    return fn()
            except InvalidNonce:
                if attempt == 2 or self._nonce is None:
                    raise
                self._nonce.jump(NONCE_JUMP_MS)
            except TransientError as exc:
                self._back_off(exc)
                raise
        raise AssertionError("unreachable")

    def _read(self, fn: Callable[[], T], *, private: bool = False) -> T:
        """A read: retried on transient errors with exponential backoff and jitter (max ~2 s)."""
        retrying = read_retrying(self._read_attempts)
        return retrying(self._call, fn, private=private)

    def _back_off(self, exc: TransientError) -> None:
        """Pace the key as a transient Kraken answer asks (rate limit: counter full; lockout: 15 min);
        pause the account's calls as a Binance one asks (rate limit: next minute; 418: the ban)."""
        pause = self.venue.pause_after(str(exc), time.time()) if self.venue.pause_after is not None else None
        if pause is not None:
            self._paused_until, self._paused_by = max(self._paused_until, time.monotonic() + pause), str(exc)
        row = kraken.error_for(str(exc)) if self._budget is not None else None
        if row is None or self._budget is None:
            return
        if row.backoff is kraken.Backoff.DRAIN:
            self._budget.saturate()
        elif row.backoff is kraken.Backoff.LOCKOUT:
            self._budget.lock_out(kraken.LOCKOUT_SECONDS)

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
            chosen = [s for s in self._explicit_symbols if s not in self._disabled]
        else:
            chosen = sorted(
                symbol
                for symbol, market in self.client.markets.items()
                if market.get("spot") and market.get("active") is not False
                and market.get("quote") in self.venue.cash and symbol not in self._disabled
            )
        # one symbol per order book: never two positions in one Coinbase book (BTC/USD = BTC/USDC)
        return coinbase.one_symbol_per_book(self.client.markets, chosen) if self.venue.aliased_books else chosen

    def _balances(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        raw = self._read(lambda: self.client.fetch_balance(), private=True)
        free = {a: venue_decimal(v, f"{self.name} free {a}") for a, v in (raw.get("free") or {}).items() if v is not None}
        total = {a: venue_decimal(v, f"{self.name} total {a}") for a, v in (raw.get("total") or {}).items() if v is not None}
        if self.venue.fold_balances is not None:
            # ccxt's code mapping, with the venue's listed codes (Binance: LDO is listed, LDUSDT is Earn)
            folded = self.venue.fold_balances(free, total, self.venue.cash, binance.CurrencyCodes(self.client))
            self._sub_balances = folded.sub_balances
            return folded.free, folded.total
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
        assets = [(c, total[c], Decimal(1)) for c in self.venue.cash if total.get(c, Decimal(0)) > 0]
        for asset, symbol in priced.items():
            ticker = tickers.get(symbol) or {}
            last = ticker.get("last") or ticker.get("bid")
            if last is None:
                raise MarketDataError(f"{self.name}: no price for {symbol} in the ticker answer")
            price = venue_decimal(last, f"{self.name} {symbol} last")
            value += held[asset] * price
            assets.append((asset, held[asset], price))
        locked = max(cash_total - available, Decimal(0)) + value
        note = self._funding.note(available + locked) if self._funding is not None else None
        return BalanceSnapshot.from_parts(
            available=available, locked_in_positions=locked, taken_at=utc_now(), note=note, assets=tuple(assets)
        )

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

    def place(self, request: OrderRequest) -> ExecutionReport:
        """Send one market order carrying the client order id and read its fill; never retried here."""
        report = self.submit(request)
        if report.status is OrderStatus.SUBMITTED and report.filled_qty == 0:
            # Market orders fill in milliseconds; one read tells the fill instead of waiting a cycle.
            found = self.fetch_order(request.client_order_id, request.symbol, order_id=report.exchange_order_id)
            if found is not None:
                return found
        return report

    def submit(self, request: OrderRequest) -> ExecutionReport:
        """Send one market order and return the venue's acknowledgment (an order id, usually no
        fill yet): the copy engine's hot path, which reads fills later with `fetch_order`."""
        rules = self.market_rules(request.symbol)
        params = {**self.venue.order_params, self.venue.client_id_param: request.client_order_id}
        symbol = request.symbol
        self._refuse_inactive(symbol)
        if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE and self.venue.buy_in_base:
            amount = self._buy_volume(request, rules)
            send = lambda: self.client.create_order(symbol, "market", "buy", float(amount), None, params)  # noqa: E731
        elif request.side is Side.BUY and request.unit is QuantityUnit.QUOTE:
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
        except InsufficientFunds as exc:
            raise self._explain_refused_sell(request, exc) from exc
        except (TransientError, MarketDataError) as exc:
            raise TransientError(f"{self.name}: order {request.client_order_id} outcome unknown: {exc}") from exc
        if not raw or raw.get("id") is None:
            # A 200 whose body was not JSON: the venue may well hold the order.
            raise TransientError(f"{self.name}: order {request.client_order_id} answer had no order id")
        try:
            raw = self._with_fees(raw, symbol)
        except (TransientError, MarketDataError) as exc:  # placed, but its fee has no value yet: look it up
            raise TransientError(f"{self.name}: order {request.client_order_id} placed, fee unvalued: {exc}") from exc
        return self._orders.report(request.client_order_id, raw, None, request.side)

    def _with_fees(self, raw: Mapping[str, Any], symbol: str, *, lookup: bool = False) -> Mapping[str, Any]:
        """The order answer with the venue's fees completed: on a lookup, the order's own trades
        where the answer has none (Binance myTrades); fees paid in a third asset (BNB) valued in quote."""
        if lookup and self.venue.lookup_trades is not None and raw.get("filled") and not raw.get("trades"):
            trades = self._order_trades(symbol, str(raw.get("id")))
            raw = self.venue.lookup_trades(raw, trades, fee_schedule(self.name).taker)
        if self.venue.restate_fees is not None:
            # at the asset's ask, read once a second for all the venue's clients (a fan-out of
            # BNB-paying followers reads BNB's price once, not once per follower)
            ask = lambda s: self._markets.recent_ask(self._markets_key, s, lambda: self.ticker(s).ask)  # noqa: E731
            raw = self.venue.restate_fees(raw, self.client.markets, ask)
        return raw

    def _order_trades(self, symbol: str, order_id: str) -> list[Mapping[str, Any]] | None:
        """The account's trades of one order (Binance GET /api/v3/myTrades `orderId`); None when
        that read fails (the caller falls back to the taker rate, binance.with_trades says why)."""
        try:
            params = {"orderId": order_id}
            return self._read(lambda: self.client.fetch_my_trades(symbol, None, None, params), private=True)
        except (TransientError, MarketDataError):
            return None

    def _refuse_inactive(self, symbol: str) -> None:
        """A market the venue marks inactive (Kraken: cancel_only, post_only, ...) takes no market
        order: refuse before sending, saying why; an exit is decided again next cycle."""
        market = self.client.markets.get(symbol) or {}
        if market.get("active") is False:
            status = (market.get("info") or {}).get("status") or "inactive"
            raise OrderRejected(
                f"{self.name}: {symbol} market is {status}: no new orders there; entries skip it and"
                " exits wait until it trades again"
            )

    def _buy_volume(self, request: OrderRequest, rules: MarketRules) -> Decimal:
        """A quote budget as a base volume at the current ask (at most a second old, shared by the
        venue's clients), fee included, rounded down to the lot step (kraken.buy_volume): the
        budget is never exceeded at that ask. ccxt's create_order rounds it again with its own
        `amount_to_precision`, on the same grid, so it is not rounded twice here (a 1,000-follower
        fan-out paid ~30 µs per order for that)."""
        symbol = request.symbol
        ask = self._markets.recent_ask(self._markets_key, symbol, lambda: self.ticker(symbol).ask)
        quote_step = (self.client.currencies or {}).get(rules.quote, {}).get("precision")
        quote_unit = venue_decimal(quote_step, f"{rules.quote} precision") if quote_step is not None else Decimal(0)
        volume = kraken.buy_volume(request.quantity, ask, fee_schedule(self.name).taker, quote_unit, rules.amount_step)
        amount = volume
        if amount <= 0 or amount < rules.min_amount or amount * ask < rules.min_cost:
            raise OrderRejected(
                f"{self.name}: {symbol} buy of {request.quantity} {rules.quote} at ask {ask} is {amount} {rules.base},"
                f" below the minimum ({rules.min_amount} {rules.base}, {rules.min_cost} {rules.quote})"
            )
        return amount

    def _explain_refused_sell(self, request: OrderRequest, exc: InsufficientFunds) -> InsufficientFunds:
        """A refused sell of an asset partly held in Earn/staking says so (the venue sells only free coins)."""
        base = request.symbol.split("/")[0]
        earning = self._sub_balances.get(base, Decimal(0))
        if request.side is not Side.SELL or earning <= 0:
            return exc
        return InsufficientFunds(
            f"{exc}; {earning} {base} of this account is in {self.name} Earn/staking"
            f" {self.venue.earn_help.format(base=base)} so the position can be sold"
        )

    def _to_precision(self, helper: Callable[[str, float], str], symbol: str, value: Decimal, what: str) -> Decimal:
        """Round with ccxt's own precision helper (truncating); a value that rounds to 0 is below minimum."""
        try:
            with localcontext():  # ccxt's helper changes the thread's Decimal context (see `_call`)
                return Decimal(helper(symbol, float(value)))
        except ccxt.InvalidOrder as exc:
            raise OrderRejected(f"{self.name}: {symbol} {what} {value} below minimum precision: {exc}") from exc

    def fetch_order(
        self, client_order_id: str, symbol: str, recorded: Order | None = None, *, order_id: str | None = None
    ) -> ExecutionReport | None:
        """Find an order by client order id (fills since `recorded`); None when the venue never saw it.

        `order_id`, else the recorded one, is the venue's id from the create answer (Coinbase reads
        the order by it directly)."""
        side = recorded.request.side if recorded is not None else None
        self._ensure_markets()
        params = {self.venue.client_id_param: client_order_id}
        if self.venue.lookup == "fetch_order":
            try:
                raw = self._read(lambda: self.client.fetch_order(None, symbol, params), private=True)
            except OrderRejected as exc:  # ccxt's OrderNotFound is an InvalidOrder
                if isinstance(exc.__cause__, ccxt.OrderNotFound):
                    return None
                raise
            if not raw:
                return None
            return self._orders.report(client_order_id, self._with_fees(raw, symbol, lookup=True), recorded, side)
        if self.venue.lookup == "open_closed":
            # A market order is closed within milliseconds: look there first, one call usually.
            fetchers = (self.client.fetch_closed_orders, self.client.fetch_open_orders)
            for fetch in fetchers:
                orders = self._read(lambda fetch=fetch: fetch(None, None, None, dict(params)), private=True)
                for raw in orders:
                    if raw.get("clientOrderId") == client_order_id:
                        return self._orders.report(client_order_id, raw, recorded, side)
            return None
        # "history" (Coinbase): by the venue's order id, else the order list paged since the intent
        raw = coinbase.find_order(
            self.client, lambda fn: self._read(fn, private=True), client_order_id, symbol,
            order_id=order_id or (recorded.exchange_order_id if recorded is not None else None),
            since=recorded.created_at if recorded is not None else None,
        )
        return self._orders.report(client_order_id, raw, recorded, side) if raw is not None else None

    def cancel_order(self, order: Order) -> bool:
        """Ask the venue to cancel an order it holds open, by the venue's order id (every venue
        here cancels by it; an order acknowledged or found by a lookup has one). False when the
        venue refuses (the order closed meanwhile, or is unknown): the lookup after it says what
        became of the order."""
        if not order.exchange_order_id:
            raise OrderRejected(f"{self.name}: order {order.request.client_order_id} has no venue order id to cancel by")
        self._ensure_markets()
        try:
            self._call(lambda: self.client.cancel_order(order.exchange_order_id, order.request.symbol), private=True)
        except OrderRejected:
            return False
        return True

    def close(self) -> None:
        """Release the HTTP session."""
        session = getattr(self.client, "session", None)
        if session is not None:
            session.close()
