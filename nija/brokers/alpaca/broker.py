"""AlpacaBroker: a US-equities account on Alpaca through alpaca-py's trading and market-data clients.

alpaca-py is hardened on construction (`_harden`): every request carries a timeout (alpaca-py sets
none, so a stalled server would block the account's thread for good) and its own retry of 429/504
is switched off, because it re-sends POSTs too (research §6.4). alpaca-py exceptions are
translated in one place (`errors.alpaca_errors`). Orders are never retried: an ambiguous answer
(timeout, dropped connection, 5xx, a 200 that is not JSON) raises `TransientError`, and the order
executor looks the order up by client order id. Reads are retried with backoff and jitter (tenacity).

Symbols are plain tickers ("AAPL"); the ticker is also the asset held. The asset's flags decide
how an order is sized (`asset_rules`): buys sized in USD are notional (fractional) orders on
fractionable assets, and whole shares bought at the ask, rounded down, otherwise; an asset that
is active but not `tradable` takes closing orders only (Alpaca's assets FAQ), so sells still go.

Fills: an Alpaca order answer carries only running totals (filled_qty, filled_avg_price,
filled_at), so each report's fill is the increment since what the caller recorded, with a trade
id derived from the client order id and the cumulative quantity (`brokers.fills`). The order's
`commission` (USD, charged when it executes) is its fee: alpaca-py's `Order` model drops that
field, so the two order calls read the raw JSON through the client's own `post`/`get`
(`orders.parse_order`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

import numpy as np
import requests
from alpaca.common.enums import Sort
from alpaca.common.rest import RESTClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Asset, Clock, TradeAccount
from alpaca.trading.requests import MarketOrderRequest

from nija.brokers.alpaca.errors import _DuplicateClientOrderId, _NotFound, alpaca_errors
from nija.brokers.alpaca.orders import (
    MIN_NOTIONAL_USD,
    NOTIONAL_STEP,
    AssetRules,
    OrderAnswer,
    asset_rules,
    parse_order,
    whole_shares_for,
)
from nija.brokers.base import (
    AuthError,
    MarketDataError,
    OrderRejected,
    TransientError,
    read_retrying,
    secret_text,
    venue_decimal,
)
from nija.brokers.fills import increment_fill
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
    round_down,
    utc_now,
)

__all__ = ["DEFAULT_ALPACA_SYMBOLS", "AlpacaBroker"]

T = TypeVar("T")

DEFAULT_ALPACA_SYMBOLS: Final = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ")
BAR_SECONDS: Final = 300
_BAR_TIMEFRAME: Final = TimeFrame(5, TimeFrameUnit.Minute)
# A regular session holds 78 five-minute bars; look back far enough for `limit` of them across
# nights, weekends and holidays (the newest come first, so the extra span costs nothing).
_SESSION_BARS: Final = 78
_LOOKBACK_SLACK_DAYS: Final = 5
ASSETS_MAX_AGE_SECONDS: Final = 3600.0  # fractionable/tradable flags change rarely; refresh hourly


class _TimeoutSession(requests.Session):
    """A session that gives every request a timeout unless the caller chose one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)  # alpaca-py passes none (research §6.4)
        return super().request(method, url, *args, **kwargs)


def _harden(client: RESTClient, timeout_s: float) -> None:
    # alpaca-py exposes neither setting, so they are set on its private attributes; fail loudly
    # if an upgrade renames them rather than run without a timeout or with POSTs re-sent.
    for attribute in ("_session", "_retry", "_retry_codes"):
        if not hasattr(client, attribute):
            raise RuntimeError(f"alpaca-py internals changed: {type(client).__name__} has no {attribute}")
    client._session.close()
    client._session = _TimeoutSession(timeout_s)
    client._retry = 0  # a 504 on POST /v2/orders would otherwise be sent again after 3 s
    client._retry_codes = []


# Alpaca order status -> ours. Statuses left out (pending_cancel, done_for_day, stopped, held,
# suspended, calculated, ...) are decided by what filled, as ccxt's "open" is.
_STATUS: Final[Mapping[AlpacaStatus, OrderStatus]] = {
    AlpacaStatus.NEW: OrderStatus.SUBMITTED,
    AlpacaStatus.ACCEPTED: OrderStatus.SUBMITTED,
    AlpacaStatus.PENDING_NEW: OrderStatus.SUBMITTED,
    AlpacaStatus.PARTIALLY_FILLED: OrderStatus.PARTIAL,
    AlpacaStatus.FILLED: OrderStatus.FILLED,
    AlpacaStatus.CANCELED: OrderStatus.CANCELED,
    AlpacaStatus.EXPIRED: OrderStatus.CANCELED,
    AlpacaStatus.REJECTED: OrderStatus.REJECTED,
}


class AlpacaBroker:
    """One Alpaca account; used only by its own thread.

    `paper=True` trades on Alpaca's paper endpoint. `api_url` replaces the trading base URL (no
    `/v2`: alpaca-py appends it) and `data_url` the market-data one; `data_url` defaults to
    `api_url` when only that is given, which is how the simulator serves both under `/alpaca`.
    """

    name = BrokerName.ALPACA
    cash_currency = "USD"
    settles_in_cash = True  # every stock trades against dollars
    scan_batch: int | None = None  # a short explicit list of tickers: scan them all

    def __init__(
        self,
        account: str,
        credentials: Mapping[str, Any] | None,
        *,
        paper: bool = True,
        api_url: str | None = None,
        data_url: str | None = None,
        timeout_s: float = 10.0,
        symbols: tuple[str, ...] = DEFAULT_ALPACA_SYMBOLS,
        read_attempts: int = 3,
    ) -> None:
        if not credentials or not credentials.get("api_key") or not credentials.get("api_secret"):
            raise AuthError(f"{self.name}: api_key and api_secret are required")
        self.account = account
        self._symbols = tuple(symbols)
        self._read_attempts = read_attempts
        self._assets: dict[str, tuple[Asset, float]] = {}
        key, secret = secret_text(credentials["api_key"]), secret_text(credentials["api_secret"])
        self.trading = TradingClient(key, secret, paper=paper, url_override=api_url.rstrip("/") if api_url else None)
        data_base = data_url or api_url
        self.data = StockHistoricalDataClient(key, secret, url_override=data_base.rstrip("/") if data_base else None)
        _harden(self.trading, timeout_s)
        _harden(self.data, timeout_s)

    # -- plumbing ----------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], *, placing: bool = False) -> T:
        with alpaca_errors(self.name, placing=placing):
            return fn()

    def _read(self, fn: Callable[[], T]) -> T:
        """A read: retried on transient errors with exponential backoff and full jitter (max ~2 s)."""
        retrying = read_retrying(self._read_attempts)
        return retrying(self._call, fn)

    # -- reads -------------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """Forget asset metadata older than an hour (fractionable and tradable flags change)."""
        now = time.monotonic()
        self._assets = {s: entry for s, entry in self._assets.items() if now - entry[1] < ASSETS_MAX_AGE_SECONDS}

    def symbols(self) -> list[str]:
        """The configured tickers."""
        return list(self._symbols)

    def is_market_open(self) -> bool:
        """Whether the US equity market is open now, by Alpaca's clock."""
        return bool(self._read(self.trading.get_clock).is_open)

    def balance_snapshot(self) -> BalanceSnapshot:
        """Alpaca's equity (cash + positions at market), with spendable cash as `available`, and
        its parts: the cash and each position at its current price (a second call, the positions
        list: what tells a deposit or withdrawal from a price move).

        Buying power on a margin account can be 2-4x equity; NIJA spends only settled cash, so
        available is cash, capped by buying power (open orders hold it) and by equity.
        """
        raw = self._read(self.trading.get_account)
        if raw.equity is None or raw.cash is None:
            raise MarketDataError(f"{self.name}: account answer without equity or cash")
        equity, cash = venue_decimal(raw.equity, "equity"), venue_decimal(raw.cash, "cash")
        if equity < 0:
            raise MarketDataError(f"{self.name}: negative equity, was {equity}")
        available = min(cash, equity)
        if raw.buying_power is not None:
            available = min(available, venue_decimal(raw.buying_power, "buying_power"))
        available = max(available, Decimal(0))
        assets = [("USD", cash, Decimal(1))]
        for position in self._read(self.trading.get_all_positions):
            qty = venue_decimal(position.qty, f"{position.symbol} qty")
            if qty and position.current_price is not None:
                assets.append((position.symbol, qty, venue_decimal(position.current_price, f"{position.symbol} price")))
        return BalanceSnapshot(
            total_equity=equity, available=available, locked_in_positions=equity - available, taken_at=utc_now(),
            assets=tuple(assets),
        )

    def holdings(self) -> dict[str, Decimal]:
        """Long positions: shares held by ticker."""
        positions = self._read(self.trading.get_all_positions)
        held: dict[str, Decimal] = {}
        for position in positions:
            qty = venue_decimal(position.qty, f"{position.symbol} qty")
            if qty > 0:
                held[position.symbol] = qty
        return held

    def ticker(self, symbol: str) -> Ticker:
        """Latest quote (bid/ask) and latest trade (last) from the market-data API."""
        quotes = self._read(lambda: self.data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbol)))
        trades = self._read(lambda: self.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbol)))
        quote, trade = quotes.get(symbol), trades.get(symbol)
        if quote is None or trade is None:
            raise MarketDataError(f"{self.name}: no latest quote or trade for {symbol}")
        last = venue_decimal(trade.price, f"{symbol} last")
        # Outside the session a quote side is often 0: fall back to the last trade for that side.
        bid = venue_decimal(quote.bid_price, f"{symbol} bid") or last
        ask = venue_decimal(quote.ask_price, f"{symbol} ask") or last
        try:
            return Ticker(symbol=symbol, bid=bid, ask=ask, last=last, ts=trade.timestamp or utc_now())
        except ValueError as exc:
            raise MarketDataError(f"{self.name}: malformed ticker for {symbol}: {exc}") from exc

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """The last `limit` closed 5-minute bars, oldest first (the still-forming one is dropped)."""
        now = utc_now()
        days_back = math.ceil((limit + 1) / _SESSION_BARS * 7 / 5) + _LOOKBACK_SLACK_DAYS
        request = StockBarsRequest(
            symbol_or_symbols=symbol, timeframe=_BAR_TIMEFRAME, start=now - timedelta(days=days_back),
            limit=limit + 1, sort=Sort.DESC,
        )
        barset = self._read(lambda: self.data.get_stock_bars(request))
        bars = sorted(barset.data.get(symbol, []), key=lambda bar: bar.timestamp)
        # the clock read after the answer: at most the one forming bar is dropped
        closed_before = utc_now() - timedelta(seconds=BAR_SECONDS)
        rows = [
            (bar.timestamp.timestamp() * 1000, bar.open, bar.high, bar.low, bar.close, bar.volume)
            for bar in bars
            if bar.timestamp <= closed_before
        ]
        if not rows:
            return Candles.from_rows(np.empty((0, 6)))
        array = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(array).all():
            raise MarketDataError(f"{self.name}: non-finite values in the bars of {symbol}")
        return Candles.from_rows(array[-limit:])

    def _asset(self, symbol: str) -> Asset:
        cached = self._assets.get(symbol)
        if cached is not None:
            return cached[0]
        try:
            asset = self._read(lambda: self.trading.get_asset(symbol))
        except _NotFound as exc:
            raise OrderRejected(f"{self.name}: unknown symbol {symbol}") from exc
        self._assets[symbol] = (asset, time.monotonic())
        return asset

    def asset_rules(self, symbol: str) -> AssetRules:
        """The asset's order rules from its flags (fractionable, tradable, status, minimums); cached an hour."""
        return asset_rules(self._asset(symbol))

    def market_rules(self, symbol: str) -> MarketRules:
        """Whole shares, or 1e-9 steps when the asset is fractionable; at least 1 USD per notional order.

        An inactive asset takes no order (OrderRejected). An active one that is not tradable still
        has rules, because Alpaca lets it be sold: its buys are refused when sized (`submit`).
        """
        rules = self.asset_rules(symbol)
        if rules.closing_refusal:
            raise OrderRejected(f"{self.name}: {rules.closing_refusal}")
        return MarketRules(
            symbol=symbol, base=symbol, quote=self.cash_currency, min_amount=rules.min_amount,
            min_cost=MIN_NOTIONAL_USD, amount_step=rules.amount_step, price_step=rules.price_step,
        )

    def server_clock(self) -> Clock:
        """Alpaca's market clock (GET /v2/clock): its time, and whether the market is open."""
        return self._read(self.trading.get_clock)

    def account_state(self) -> TradeAccount:
        """The account as Alpaca reports it (GET /v2/account): blocks, buying power, equity."""
        return self._read(self.trading.get_account)

    def listed_asset(self, symbol: str) -> AssetRules | None:
        """The asset's rules, or None when Alpaca lists no such symbol (one fresh read, then cached)."""
        try:
            return self.asset_rules(symbol)
        except OrderRejected:
            return None

    # -- orders ------------------------------------------------------------------------------

    def _order_request(self, request: OrderRequest, rules: AssetRules) -> MarketOrderRequest:
        """The market order to send, sized from the asset's flags and checked (nothing sent yet)."""
        symbol, side = request.symbol, OrderSide(request.side.value)
        refusal = rules.opening_refusal if request.side is Side.BUY else rules.closing_refusal
        if refusal:
            raise OrderRejected(f"{self.name}: {refusal}")
        common = {"symbol": symbol, "side": side, "time_in_force": TimeInForce.DAY,
                  "client_order_id": request.client_order_id}  # fmt: skip
        if request.unit is QuantityUnit.QUOTE and rules.fractionable:
            notional = round_down(request.quantity, NOTIONAL_STEP)
            if notional < MIN_NOTIONAL_USD:
                raise OrderRejected(f"{self.name}: {symbol} buy of {notional} USD below minimum cost {MIN_NOTIONAL_USD}")
            return MarketOrderRequest(notional=float(notional), **common)
        if request.unit is QuantityUnit.QUOTE:
            # Not fractionable: Alpaca refuses notional orders, so buy the whole shares the amount pays for.
            ask = self.ticker(symbol).ask
            qty = round_down(whole_shares_for(request.quantity, ask), rules.amount_step)
            if qty <= 0 or qty < rules.min_amount:
                raise OrderRejected(
                    f"{self.name}: {symbol} is not fractionable and {request.quantity} USD buys {qty} shares"
                    f" at ask {ask} (minimum {rules.min_amount})"
                )
        else:
            qty = round_down(request.quantity, rules.amount_step)
        if qty <= 0 or qty < rules.min_amount:
            raise OrderRejected(f"{self.name}: {symbol} qty {qty} below minimum {rules.min_amount}")
        return MarketOrderRequest(qty=float(qty), **common)

    def submit(self, request: OrderRequest) -> ExecutionReport:
        """Send one market order (DAY) carrying the client order id; the acknowledgment. Never retried here."""
        order = self._order_request(request, self.asset_rules(request.symbol))
        cid = request.client_order_id
        try:
            # alpaca-py's submit_order, minus the model that would drop `commission`
            answer = self._call(lambda: parse_order(self.trading.post("/orders", order.to_request_fields())),
                                placing=True)
        except _DuplicateClientOrderId:
            # The venue already holds this client id: an earlier send landed. Report that order.
            found = self.fetch_order(cid, request.symbol)
            if found is None:
                raise TransientError(f"{self.name}: order {cid} refused as a duplicate but not found") from None
            return found
        except (TransientError, MarketDataError) as exc:
            raise TransientError(f"{self.name}: order {cid} outcome unknown: {exc}") from exc
        try:
            return self._report(cid, answer, None, request.symbol)
        except MarketDataError as exc:
            raise TransientError(f"{self.name}: order {cid} answer unusable: {exc}") from exc

    def place(self, request: OrderRequest) -> ExecutionReport:
        """Submit one market order and read its fill."""
        report = self.submit(request)
        if report.status is OrderStatus.SUBMITTED and report.filled_qty == 0:
            # Alpaca answers a market order as accepted/pending_new; one read usually tells the fill.
            found = self.fetch_order(request.client_order_id, request.symbol)
            if found is not None:
                return found
        return report

    def fetch_order(self, client_order_id: str, symbol: str, recorded: Order | None = None) -> ExecutionReport | None:
        """Find an order by client order id (fills since `recorded`); None when the venue never saw it."""
        params = {"client_order_id": client_order_id}
        try:
            answer = self._read(lambda: parse_order(self.trading.get("/orders:by_client_order_id", params)))
        except _NotFound:
            return None
        return self._report(client_order_id, answer, recorded, symbol)

    def cancel_order(self, order: Order) -> bool:
        """Ask Alpaca to cancel an order it holds open, by its order id (DELETE /v2/orders/{id}).
        False when Alpaca refuses (422: filled or canceled meanwhile; 404: unknown): the lookup
        after it says what became of the order."""
        if not order.exchange_order_id:
            raise OrderRejected(f"{self.name}: order {order.request.client_order_id} has no Alpaca order id to cancel by")
        try:
            self._call(lambda: self.trading.delete(f"/orders/{order.exchange_order_id}"), placing=True)
        except OrderRejected:
            return False
        return True

    def _report(
        self, client_order_id: str, answer: OrderAnswer, recorded: Order | None, symbol: str
    ) -> ExecutionReport:
        # `symbol` is the one the caller asked about: the answer is matched to it by client order id
        raw = answer.order
        if raw.client_order_id != client_order_id:
            raise MarketDataError(f"{self.name}: asked for order {client_order_id}, got {raw.client_order_id}")
        filled = venue_decimal(raw.filled_qty or 0, f"{client_order_id} filled_qty")
        average = venue_decimal(raw.filled_avg_price, f"{client_order_id} avg price") if raw.filled_avg_price else None
        status = _STATUS.get(raw.status)
        if status is None:
            status = OrderStatus.PARTIAL if filled > 0 else OrderStatus.SUBMITTED
        elif status is OrderStatus.SUBMITTED and filled > 0:
            status = OrderStatus.PARTIAL
        report = ExecutionReport(
            client_order_id=client_order_id, status=status, exchange_order_id=str(raw.id), filled_qty=filled,
            avg_price=average, fee=answer.fee(filled),  # regulatory (SEC/TAF) fees post separately, as activities
        )
        side = Side.BUY if str(getattr(raw.side, "value", raw.side)).lower() == "buy" else Side.SELL
        fills = increment_fill(report, recorded, broker=self.name, account=self.account, symbol=symbol, side=side,
                               venue_time=raw.filled_at)
        return report.model_copy(update={"fills": fills}) if fills else report

    def close(self) -> None:
        """Release both HTTP sessions."""
        self.trading._session.close()
        self.data._session.close()
