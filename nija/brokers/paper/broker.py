"""PaperBroker: a simulated venue with real bookkeeping, on replayed or synthetic prices.

Market orders fill at once at the current price ± half the broker's typical spread ± a fixed
slippage, and pay that broker's taker fee. Like a venue it refuses orders below the market
minimums, a buy that would spend cash it lacks, and a sell of more than is held. Its balances and
order records live in a `PaperLedger` (the daemon's store, `paper_*` tables), so they survive a
restart, and an order can be looked up by client order id afterwards, exactly as the live
adapters do.

Fills: every order fills whole at once, as one fill with its own trade id (`paper-<client id>`),
reported by `place`, `submit` and `fetch_order` alike.

All prices in one paper account are counted in its cash currency, whatever quote a replayed
file names: a replay of ADA-BTC candles trades "ADA/BTC" against USD cash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
from typing import Final

from nija.brokers.base import InsufficientFunds, OrderRejected
from nija.brokers.paper.board import PriceBoard
from nija.brokers.paper.ledger import PaperLedger
from nija.brokers.paper.market import MarketSource, paper_market_rules
from nija.holdings import ValuedAsset
from nija.models import (
    BalanceSnapshot,
    BrokerName,
    Candles,
    ExecutionReport,
    FeeSchedule,
    Fill,
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

__all__ = ["PaperBroker", "market_datetime"]

_BPS: Final = Decimal("0.0001")
_PRICE_PLACES: Final = Decimal("1e-12")


def market_datetime(market_ms: int) -> datetime:
    """The time a paper read is taken at market time `market_ms` (epoch ms), in UTC."""
    return datetime.fromtimestamp(market_ms / 1000, tz=UTC)


class PaperBroker:
    """One simulated account; used only by its own broker thread."""

    def __init__(
        self,
        name: BrokerName,
        account: str,
        store: PaperLedger,
        market: MarketSource,
        fees: FeeSchedule,
        *,
        starting_cash: Decimal,
        slippage_bps: Decimal = Decimal("5"),
        cash_currency: str = "USD",
        scan_batch: int | None = None,
        check_feed: bool = True,
        board: PriceBoard | None = None,
        disabled_symbols: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.account = account
        self.cash_currency = cash_currency
        self.settles_in_cash = True  # one cash ledger: a replayed ETH/BTC market settles in it too
        self.scan_batch = scan_batch  # None: an offline market has no rate limit, scan everything
        self._check_feed = check_feed
        self._board = board  # a master publishes its prices here for its copy users
        self._disabled = disabled_symbols  # DISABLED_PAIRS: never in the universe, still priced
        self.market = market
        self._store = store
        self._fees = fees
        self._slippage = slippage_bps * _BPS
        self._time: tuple[int | None, datetime] = (None, datetime.min)  # `_market_time`'s last answer, by market ms
        # The last ticker and rules of each symbol, with the price (and time) objects they were
        # made from: an exit asks for both, then its order again, at one market price. Kept only
        # while the market answers with those very objects (a replay's price of the current candle).
        self._tickers: dict[str, tuple[Decimal, datetime, Ticker]] = {}
        self._rules: dict[str, tuple[Decimal, MarketRules]] = {}
        # A restart finds the account already funded and keeps its balances.
        store.seed_paper_account(name, account, {cash_currency: starting_cash})

    # -- reads -----------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """Move market time one candle forward; a broken price feed makes the venue unavailable.

        A live venue with bad data fails its calls; the simulated one does the same, so a NaN
        or non-positive close fails this broker's cycle instead of being traded on.
        """
        self.market.advance()
        if not self._check_feed:
            return  # a live venue's bad answer already raises on the read itself
        prices = {}
        for symbol in self.market.symbols():
            if len(self.market.ohlcv(symbol, 1)):  # symbols not listed yet in a replay are skipped
                prices[symbol] = self.market.last_price(symbol)
        if self._board is not None:  # a master: its copy users and `nija.trade` use these prices
            self._board.publish(prices, self.market.now_ms())
            self._store.publish_paper_prices(self.name, prices, self.market.now_ms())

    def is_market_open(self) -> bool:
        """Crypto venues never close."""
        return True

    def symbols(self) -> list[str]:
        """Every symbol the market offers, but the disabled ones (DISABLED_PAIRS)."""
        return [symbol for symbol in self.market.symbols() if symbol not in self._disabled]

    def _balances(self) -> dict[str, Decimal]:
        return self._store.paper_balances(self.name, self.account)

    def holdings(self) -> Mapping[str, Decimal]:
        """Base assets held (non-zero), by asset."""
        return self._held(self._balances())

    def _held(self, balances: Mapping[str, Decimal]) -> dict[str, Decimal]:
        return {asset: qty for asset, qty in balances.items() if asset != self.cash_currency and qty > 0}

    def _symbol_of(self, asset: str) -> str:
        for symbol in self.market.symbols():
            if symbol.split("/")[0] == asset:
                return symbol
        raise OrderRejected(f"{self.name}: no market for held asset {asset}")

    def balance_snapshot(self) -> BalanceSnapshot:
        """Equity = cash + every holding at its last price."""
        cash, held, locked = self._priced(self.market.last_price)
        # Market time: a replayed day is the market's day (the kill switch's daily loss uses it).
        return BalanceSnapshot.from_parts(
            available=cash, locked_in_positions=locked, taken_at=self._market_time(),
            assets=((self.cash_currency, cash, Decimal(1)), *held),
        )

    def equity_at(self, last_price: Callable[[str], Decimal]) -> Decimal:
        """The total equity `balance_snapshot` would read with each holding valued at `last_price`
        of its symbol: the backtest asks it of a later candle without moving the market
        (`nija.backtest.quiet`)."""
        cash, _, locked = self._priced(last_price)
        return cash + locked  # as `BalanceSnapshot.from_parts` sums its parts

    def _priced(
        self, last_price: Callable[[str], Decimal]
    ) -> tuple[Decimal, list[ValuedAsset], Decimal]:
        # Cash, every holding with its quantity and price, and the holdings' value.
        balances = self._balances()
        held = [(asset, qty, last_price(self._symbol_of(asset))) for asset, qty in self._held(balances).items()]
        locked = sum((qty * price for _, qty, price in held), Decimal(0))
        return balances.get(self.cash_currency, Decimal(0)), held, locked

    def ticker(self, symbol: str) -> Ticker:
        """Bid and ask at half the broker's typical spread around the last price."""
        last, at = self.market.last_price(symbol), self._market_time()
        kept = self._tickers.get(symbol)
        if kept is not None and kept[0] is last and kept[1] is at:
            return kept[2]
        half = last * self._fees.spread / 2
        ticker = Ticker(
            symbol=symbol,
            bid=(last - half).quantize(_PRICE_PLACES),
            ask=(last + half).quantize(_PRICE_PLACES),
            last=last,
            ts=at,
        )
        self._tickers[symbol] = (last, at, ticker)
        return ticker

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """The last `limit` candles of `symbol`."""
        return self.market.ohlcv(symbol, limit)

    def market_rules(self, symbol: str) -> MarketRules:
        """Simulated minimums and precision for `symbol`."""
        price = self.market.last_price(symbol)
        kept = self._rules.get(symbol)
        if kept is not None and kept[0] is price:
            return kept[1]
        rules = paper_market_rules(symbol, price)
        self._rules[symbol] = (price, rules)
        return rules

    def fetch_order(self, client_order_id: str, symbol: str, recorded: Order | None = None) -> ExecutionReport | None:
        """The simulated venue's record of an order, or None if it never reached the venue."""
        return self._store.paper_order(self.name, self.account, client_order_id)

    def cancel_order(self, order: Order) -> bool:
        """A paper order fills at once: none is ever left open to cancel."""
        return False

    def close(self) -> None:
        """Nothing to release."""

    def _market_time(self) -> datetime:
        now_ms = self.market.now_ms()
        if self._time[0] != now_ms:  # asked several times a cycle at one market time
            self._time = (now_ms, market_datetime(now_ms))
        return self._time[1]

    # -- orders ----------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> ExecutionReport:
        """A paper order fills at once: its acknowledgment is its fill (`place`)."""
        return self.place(request)

    def place(self, request: OrderRequest) -> ExecutionReport:
        """Fill a market order at once, or raise `OrderRejected` / `InsufficientFunds`."""
        known = self.fetch_order(request.client_order_id, request.symbol)
        if known is not None:  # a venue answers a repeated client order id with the original order
            return known
        rules = self.market_rules(request.symbol)
        ticker = self.ticker(request.symbol)
        balances = self._balances()
        cash = balances.get(self.cash_currency, Decimal(0))
        base = rules.base
        held = balances.get(base, Decimal(0))

        if request.side is Side.BUY:
            price = (ticker.ask * (1 + self._slippage)).quantize(_PRICE_PLACES)
            wanted = request.quantity / price if request.unit is QuantityUnit.QUOTE else request.quantity
            qty = round_down(wanted, rules.amount_step)
        else:
            price = (ticker.bid * (1 - self._slippage)).quantize(_PRICE_PLACES)
            qty = round_down(request.quantity, rules.amount_step)
            if qty > held:
                raise InsufficientFunds(f"{self.name}: sell {qty} {base} exceeds held {held}")
        notional = qty * price
        if qty <= 0 or qty < rules.min_amount or notional < rules.min_cost:
            raise OrderRejected(
                f"{self.name}: {request.symbol} order below market minimum"
                f" (amount {qty} < {rules.min_amount} or cost {notional:.8f} < {rules.min_cost})"
            )
        fee = (notional * self._fees.taker).quantize(_PRICE_PLACES, rounding=ROUND_UP)  # never undercharge
        if request.side is Side.BUY:
            if notional + fee > cash:
                raise InsufficientFunds(
                    f"{self.name}: buy costs {notional + fee:.2f} {self.cash_currency}, only {cash:.2f} available"
                )
            changes = {self.cash_currency: -(notional + fee), base: qty}
        else:
            changes = {self.cash_currency: notional - fee, base: -qty}

        fill = Fill(
            broker=self.name,
            account=self.account,
            symbol=request.symbol,
            side=request.side,
            trade_id=f"paper-{request.client_order_id}",
            client_order_id=request.client_order_id,
            qty=qty,
            price=price,
            fee=fee,
            ts_exchange=self._market_time(),
            ts_seen=utc_now(),
        )
        report = ExecutionReport(
            client_order_id=request.client_order_id,
            status=OrderStatus.FILLED,
            exchange_order_id=f"paper-{request.client_order_id}",
            filled_qty=qty,
            avg_price=price,
            fee=fee,
            fills=(fill,),
        )
        if self._store.paper_fill(self.name, self.account, changes, report) is None:
            # Another process (nija.trade next to the daemon) spent the same balance first.
            raise InsufficientFunds(f"{self.name}: {request.side} {qty} {base} refused: the balances changed meanwhile")
        return report
