"""One venue's books: markets, prices, candles, accounts, orders, and market-order matching.

Callers hold the simulator lock; nothing here locks, sleeps or does I/O. Matching is
deliberately simple: a market order fills at the current price (no spread, no depth),
the taker fee is charged in the quote currency (or, where the venue does so, a buy pays it
in the base asset bought), and a partial fill leaves the rest open.

An order can also pay its fee in the base asset on both sides (Kraken's `fcib`): a buy credits
the volume minus the fee, a sell debits the volume plus the fee. Whatever the asset, each fill
also keeps the fee's quote value (`fee_quote`), the figure Kraken reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from tests.sim.model import (
    Account,
    Candle,
    Fill,
    Market,
    Order,
    OrderStatus,
    Reject,
    Side,
    VenueError,
    quantize_down,
)

__all__ = ["VenueBook"]

_ZERO = Decimal("0")
_ONE = Decimal("1")
_SYNTH_CANDLES = 720  # Kraken's OHLC page size; enough for any indicator warm-up
_SYNTH_RANGE = Decimal("0.001")  # synthetic bars span +/-0.1 % so ATR-like indicators are not zero
_BASE_FEE_DECIMALS = 8  # commissions taken in the base asset are booked to 8 places (Binance)


def _default_base_fee_decimals(market: Market) -> int:
    return max(market.amount_decimals, _BASE_FEE_DECIMALS)


class VenueBook:
    """State of one venue; the venue module supplies the fee and its id formats."""

    def __init__(
        self,
        taker_fee: Decimal,
        new_order_id: Callable[[], str],
        new_fill_id: Callable[[], str],
        clock: Callable[[], float] = time.time,
        *,
        buy_fee_in_base: bool = False,
        base_fee_decimals: Callable[[Market], int] = _default_base_fee_decimals,
    ) -> None:
        self.taker_fee = taker_fee
        self.buy_fee_in_base = buy_fee_in_base  # Binance: a buy pays its fee out of the asset bought
        self._base_fee_decimals = base_fee_decimals  # places a fee taken in the base asset is booked to
        self._new_order_id = new_order_id
        self._new_fill_id = new_fill_id
        self._clock = clock
        self.markets: dict[str, Market] = {}
        self.prices: dict[str, Decimal] = {}
        self._candles: dict[tuple[str, int], list[Candle]] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}  # insertion order = creation order
        # Each account's orders, oldest first: a thousand accounts' lookups must not scan them all.
        self._orders_by_key: dict[str, list[Order]] = {}
        self.fills: list[Fill] = []
        # A venue can have a fill's fee paid in a third asset (Binance BNB): (account, market, fee
        # valued in quote) -> (asset, amount), or None for the usual asset.
        self.third_asset_fee: Callable[[Account, Market, Decimal], tuple[str, Decimal] | None] | None = None

    # -- reference data -------------------------------------------------------------------

    def add_market(self, market: Market, price: Decimal) -> None:
        self.markets[market.symbol] = market
        self.prices[market.symbol] = price

    def market(self, symbol: str) -> Market:
        if symbol not in self.markets:
            raise VenueError(Reject.UNKNOWN_SYMBOL, symbol)
        return self.markets[symbol]

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.market(symbol)
        if price <= 0:
            raise ValueError(f"price must be positive, was {price}")
        self.prices[symbol] = price

    def load_candles(self, symbol: str, candles: Sequence[Candle], interval_s: int) -> None:
        self.market(symbol)
        self._candles[(symbol, interval_s)] = sorted(candles, key=lambda c: c.ts_s)

    def candles(self, symbol: str, interval_s: int, since_s: int | None = None) -> list[Candle]:
        """Loaded candles for this interval, else flat ones around the current price (newest last)."""
        self.market(symbol)
        bars = self._candles.get((symbol, interval_s)) or self._synthesize(symbol, interval_s)
        if since_s is not None:
            bars = [c for c in bars if c.ts_s > since_s]  # Kraken's `since` is exclusive
        return bars

    def _synthesize(self, symbol: str, interval_s: int) -> list[Candle]:
        price = self.prices[symbol]
        current = int(self._clock()) // interval_s * interval_s
        first = current - (_SYNTH_CANDLES - 1) * interval_s
        high, low = price * (_ONE + _SYNTH_RANGE), price * (_ONE - _SYNTH_RANGE)
        return [Candle(ts, price, high, low, price, _ONE) for ts in range(first, current + 1, interval_s)]

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        self.accounts[account.api_key] = account

    def account(self, api_key: str | None) -> Account | None:
        return self.accounts.get(api_key) if api_key is not None else None

    # -- orders ---------------------------------------------------------------------------

    def place_market_order(
        self,
        account: Account,
        symbol: str,
        side: Side,
        *,
        volume: Decimal | None = None,
        quote_cost: Decimal | None = None,
        client_order_id: str | None = None,
        userref: int | None = None,
        fill_fraction: Decimal | None = None,
        extra: dict[str, str] | None = None,
        fee_in_base: bool | None = None,
    ) -> Order:
        """Check minimums and funds, create the order, fill `fill_fraction` of it (default all).

        `fee_in_base` makes the order pay its fee in the base asset on either side; None leaves it
        to the venue (a buy pays in base where the venue does so, everything else in quote).
        """
        market = self.market(symbol)
        price = self.prices[symbol]
        if quote_cost is not None:
            volume = quantize_down(quote_cost / price, market.amount_decimals)
        if volume is None or volume <= 0:
            raise VenueError(Reject.BAD_REQUEST, "volume")
        if volume < market.min_amount:
            raise VenueError(Reject.BELOW_MIN_AMOUNT, f"{volume} < {market.min_amount}")
        if volume * price < market.min_cost:
            raise VenueError(Reject.BELOW_MIN_COST, f"{volume * price} < {market.min_cost}")
        if client_order_id is not None and self._open_with_client_id(account, client_order_id):
            raise VenueError(Reject.DUPLICATE_CLIENT_ORDER_ID, client_order_id)
        in_base = (side is Side.BUY and self.buy_fee_in_base) if fee_in_base is None else fee_in_base
        self._check_funds(account, market, side, volume, price, in_base)
        order = Order(
            order_id=self._new_order_id(),
            api_key=account.api_key,
            symbol=symbol,
            side=side,
            volume=volume,
            created_at_s=self._clock(),
            quote_volume=quote_cost,
            client_order_id=client_order_id,
            userref=userref,
            extra=dict(extra or {}),
            fee_in_base=in_base,
        )
        self.orders[order.order_id] = order
        self._orders_by_key.setdefault(order.api_key, []).append(order)
        fraction = _ONE if fill_fraction is None else fill_fraction
        self.fill_order(order, quantize_down(volume * fraction, market.amount_decimals))
        return order

    def _open_with_client_id(self, account: Account, client_order_id: str) -> bool:
        return any(o.client_order_id == client_order_id for o in self.orders_of(account, OrderStatus.OPEN))

    def _check_funds(
        self, account: Account, market: Market, side: Side, volume: Decimal, price: Decimal, fee_in_base: bool
    ) -> None:
        needed, asset = self._needed(market, side, volume, price, fee_in_base)
        if account.free(asset) < needed:
            raise VenueError(Reject.INSUFFICIENT_FUNDS, f"{asset}: free {account.free(asset)} < {needed}")

    def _needed(
        self, market: Market, side: Side, volume: Decimal, price: Decimal, fee_in_base: bool
    ) -> tuple[Decimal, str]:
        """What filling `volume` takes from the account: a buy spends quote (plus the fee unless it is
        withheld from the coins bought), a sell gives up base (plus the fee when paid in base)."""
        if side is Side.BUY:
            return volume * price * (_ONE + (_ZERO if fee_in_base else self.taker_fee)), market.quote
        return volume + (self._base_fee(market, volume) if fee_in_base else _ZERO), market.base

    def _base_fee(self, market: Market, volume: Decimal) -> Decimal:
        step = Decimal(1).scaleb(-self._base_fee_decimals(market))
        return (volume * self.taker_fee).quantize(step, rounding=ROUND_HALF_UP)

    def fill_order(self, order: Order, volume: Decimal | None = None) -> Fill | None:
        """Execute `volume` (default: all that remains) of an open order at the current price."""
        if order.status is not OrderStatus.OPEN:
            raise VenueError(Reject.UNKNOWN_ORDER, f"{order.order_id} is {order.status}")
        market = self.markets[order.symbol]
        volume = order.remaining if volume is None else min(volume, order.remaining)
        fill = None
        if volume > 0:
            fill = self._execute(order, market, volume)
        if order.remaining <= 0:
            order.status, order.closed_at_s = OrderStatus.CLOSED, self._clock()
        self._reserve(order, market)
        return fill

    def _execute(self, order: Order, market: Market, volume: Decimal) -> Fill:
        account = self.accounts[order.api_key]
        price = self.prices[order.symbol]
        cost = (volume * price).quantize(Decimal(1).scaleb(-market.cost_decimals), rounding=ROUND_HALF_EVEN)
        fee_quote = (cost * self.taker_fee).quantize(Decimal(1).scaleb(-market.cost_decimals), rounding=ROUND_HALF_UP)
        fee, fee_asset = fee_quote, market.quote
        balances = account.balances
        third = self.third_asset_fee(account, market, fee_quote) if self.third_asset_fee is not None else None
        if third is not None:  # paid in another asset: the coins and the proceeds move whole
            fee_asset, fee = third
            balances[fee_asset] = account.total(fee_asset) - fee
            sign = _ONE if order.side is Side.BUY else -_ONE
            balances[market.quote] = account.total(market.quote) - sign * cost
            balances[market.base] = account.total(market.base) + sign * volume
        elif order.fee_in_base:
            fee, fee_asset = self._base_fee(market, volume), market.base
            if order.side is Side.BUY:  # the fee never arrives: fewer coins credited
                balances[market.quote] = account.total(market.quote) - cost
                balances[market.base] = account.total(market.base) + volume - fee
            else:  # the fee leaves with the coins sold: the full proceeds are credited
                balances[market.base] = account.total(market.base) - volume - fee
                balances[market.quote] = account.total(market.quote) + cost
        elif order.side is Side.BUY:
            balances[market.quote] = account.total(market.quote) - cost - fee
            balances[market.base] = account.total(market.base) + volume
        else:
            balances[market.base] = account.total(market.base) - volume
            balances[market.quote] = account.total(market.quote) + cost - fee
        fill = Fill(
            fill_id=self._new_fill_id(),
            order_id=order.order_id,
            api_key=order.api_key,
            symbol=order.symbol,
            side=order.side,
            price=price,
            volume=volume,
            cost=cost,
            fee=fee,
            fee_asset=fee_asset,
            ts_s=self._clock(),
            fee_quote=fee_quote,
        )
        order.filled += volume
        order.cost += cost
        order.fee += fee
        order.fee_quote += fee_quote
        order.fill_ids.append(fill.fill_id)
        self.fills.append(fill)
        return fill

    def _reserve(self, order: Order, market: Market) -> None:
        # holds track what the open remainder could still spend, at the current price
        account = self.accounts[order.api_key]
        if order.hold_asset is not None:
            account.holds[order.hold_asset] = account.held(order.hold_asset) - order.hold_amount
        order.hold_asset, order.hold_amount = None, _ZERO
        if order.status is not OrderStatus.OPEN or order.remaining <= 0:
            return
        amount, asset = self._needed(market, order.side, order.remaining, self.prices[order.symbol], order.fee_in_base)
        order.hold_asset, order.hold_amount = asset, amount
        account.holds[order.hold_asset] = account.held(order.hold_asset) + order.hold_amount

    def cancel_order(self, order: Order) -> None:
        if order.status is not OrderStatus.OPEN:
            raise VenueError(Reject.UNKNOWN_ORDER, f"{order.order_id} is {order.status}")
        order.status, order.closed_at_s = OrderStatus.CANCELED, self._clock()
        self._reserve(order, self.markets[order.symbol])

    def orders_of(
        self,
        account: Account,
        status: OrderStatus | Iterable[OrderStatus] | None = None,
        client_order_id: str | None = None,
    ) -> list[Order]:
        """The account's orders, oldest first, optionally filtered by status and client order id."""
        wanted = {status} if isinstance(status, OrderStatus) else set(status) if status is not None else None
        return [
            o
            for o in self._orders_by_key.get(account.api_key, ())
            if (wanted is None or o.status in wanted)
            and (client_order_id is None or o.client_order_id == client_order_id)
        ]

    def order(self, account: Account, order_id: str) -> Order | None:
        found = self.orders.get(order_id)
        return found if found is not None and found.api_key == account.api_key else None

    def fills_of(self, account: Account) -> list[Fill]:
        return [f for f in self.fills if f.api_key == account.api_key]
