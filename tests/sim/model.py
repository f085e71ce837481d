"""Venue-neutral state of the simulator: markets, accounts, orders, fills, and the rejections.

Plain mutable dataclasses: they are only touched while the simulator's one lock is held.
Quantities and money are `Decimal`; asset and symbol names are unified (`BTC`, `BTC/USD`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

__all__ = [
    "Account",
    "Candle",
    "Fill",
    "Market",
    "Order",
    "OrderStatus",
    "RateCounter",
    "Reject",
    "Side",
    "VenueError",
    "quantize_down",
]

_ZERO = Decimal("0")


def quantize_down(value: Decimal, decimals: int) -> Decimal:
    """Round `value` down to `decimals` places: the venue never hands out more than asked."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """Simulator order lifecycle; each venue module maps it to its own words."""

    OPEN = "open"  # accepted, not (fully) filled
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"


class Reject(StrEnum):
    """Why the venue refused a request; each venue renders it with its own payload and casing."""

    INVALID_KEY = "invalid_key"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_NONCE = "invalid_nonce"
    RATE_LIMIT = "rate_limit"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BELOW_MIN_AMOUNT = "below_min_amount"
    BELOW_MIN_COST = "below_min_cost"
    UNKNOWN_SYMBOL = "unknown_symbol"
    UNKNOWN_ORDER = "unknown_order"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    BAD_REQUEST = "bad_request"
    UNKNOWN_ROUTE = "unknown_route"
    MARKET_CLOSED = "market_closed"  # the market takes no such order now (detail: its status)


class VenueError(Exception):
    """Raised by the book or a venue handler; the venue turns it into its error response."""

    def __init__(self, kind: Reject, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else str(kind))
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Market:
    """A spot market in unified names; venue modules derive their own ids from it."""

    symbol: str  # "BTC/USD"
    base: str
    quote: str
    price_decimals: int
    amount_decimals: int
    min_amount: Decimal
    min_cost: Decimal
    cost_decimals: int = 8  # quote precision the venue books costs, fees and balances in


@dataclass(frozen=True)
class Candle:
    """One OHLCV bar; `ts_s` is the bar's open time in Unix seconds."""

    ts_s: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass
class RateCounter:
    """A decaying call counter (Kraken's model): each call adds its cost, the count drains per second."""

    max_count: Decimal
    decay_per_s: Decimal
    value: Decimal = _ZERO
    updated_at_s: float = 0.0

    def try_spend(self, cost: Decimal, now_s: float) -> bool:
        """Add `cost` unless that would pass the maximum; return whether the call is allowed."""
        if self.updated_at_s:
            drained = self.decay_per_s * Decimal(str(now_s - self.updated_at_s))
            self.value = max(_ZERO, self.value - drained)
        self.updated_at_s = now_s
        if self.value + cost > self.max_count:
            return False
        self.value += cost
        return True


@dataclass
class Account:
    """One API key at one venue: its secret, balances, holds, nonce and rate-limit state."""

    api_key: str
    secret: str
    balances: dict[str, Decimal]
    passphrase: str | None = None  # OKX keys carry one
    holds: dict[str, Decimal] = field(default_factory=dict)
    last_nonce: int = 0
    invalid_nonces: int = 0
    rate: RateCounter | None = None  # None: no rate limit for this key
    can_trade: bool = True  # key permissions, as the venues' permission endpoints report them
    can_withdraw: bool = False

    def total(self, asset: str) -> Decimal:
        return self.balances.get(asset, _ZERO)

    def held(self, asset: str) -> Decimal:
        return self.holds.get(asset, _ZERO)

    def free(self, asset: str) -> Decimal:
        return self.total(asset) - self.held(asset)


@dataclass
class Fill:
    """One execution of (part of) an order at the price of the moment."""

    fill_id: str
    order_id: str
    api_key: str
    symbol: str
    side: Side
    price: Decimal
    volume: Decimal
    cost: Decimal
    fee: Decimal  # in `fee_asset`: what left the account as the fee
    fee_asset: str
    ts_s: float
    fee_quote: Decimal = _ZERO  # the fee valued in the quote currency (what Kraken reports as `fee`)


@dataclass
class Order:
    """A market order as the venue keeps it; `volume` is always in the base asset."""

    order_id: str
    api_key: str
    symbol: str
    side: Side
    volume: Decimal
    created_at_s: float
    order_type: str = "market"
    quote_volume: Decimal | None = None  # set when the order was sized in the quote currency
    client_order_id: str | None = None
    userref: int | None = None
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = _ZERO
    cost: Decimal = _ZERO
    fee: Decimal = _ZERO  # sum of the fills' fees, in their fee asset
    fee_quote: Decimal = _ZERO  # sum of the fills' fees valued in the quote currency
    fee_in_base: bool = False  # this order pays its fee in the base asset (both sides)
    closed_at_s: float | None = None
    fill_ids: list[str] = field(default_factory=list)
    hold_asset: str | None = None
    hold_amount: Decimal = _ZERO
    extra: dict[str, str] = field(default_factory=dict)  # venue-specific fields echoed back

    @property
    def remaining(self) -> Decimal:
        return self.volume - self.filled

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None
