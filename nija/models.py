"""Domain types shared by every layer: frozen, validated, Decimal for money and quantities.

Nothing here does I/O. Enums for sides, units and statuses live here and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Final, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BalanceSnapshot",
    "BrokerHealth",
    "BrokerName",
    "EquityMarks",
    "Candles",
    "CopyLedgerEntry",
    "CopyStatus",
    "ExecutionReport",
    "FeeSchedule",
    "Fill",
    "HealthStatus",
    "IntentStatus",
    "InvalidTransition",
    "MASTER_ACCOUNT",
    "OPEN_ORDER_STATUSES",
    "MarketRules",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "Position",
    "QuantityUnit",
    "Side",
    "SignalKind",
    "SignalStatus",
    "Ticker",
    "TradeSignal",
    "advance_copy_status",
    "advance_intent_status",
    "advance_order_status",
    "advance_signal_status",
    "client_order_id_for",
    "round_down",
    "utc_now",
]

S = TypeVar("S", bound=StrEnum)

# The account name of every broker's master (followers are named by their user id).
MASTER_ACCOUNT: Final = "master"

# Equity identity tolerance: venues report cash and valuations with their own rounding.
EQUITY_TOLERANCE: Final = Decimal("0.01")


CLIENT_ORDER_ID_HEX: Final = 14  # hex digits after "nj": 16 characters, 2 under Kraken's 18


def client_order_id_for(*intent: object) -> str:
    """Deterministic client order id for an intent: the same intent always gets the same id.

    16 characters of [a-z0-9]: "nj" + 56 bits of SHA-256, so a re-run after a crash re-uses the
    id instead of sending a twin. Every venue accepts it with room to spare: Kraken's free-text
    `cl_ord_id` takes at most 18, OKX 32 alphanumerics, Binance 36, Coinbase and Alpaca more
    (README, "Client order ids", has the scheme per venue).
    """
    digest = hashlib.sha256("|".join(str(part) for part in intent).encode()).hexdigest()
    return "nj" + digest[:CLIENT_ORDER_ID_HEX]


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Round `value` down to a multiple of `step`: never spend or sell more than asked."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def utc_now() -> datetime:
    """Return the current time, UTC-aware (the only clock helper the daemon uses)."""
    return datetime.now(UTC)


class BrokerName(StrEnum):
    """The venues NIJA trades on."""

    COINBASE = "coinbase"
    KRAKEN = "kraken"
    OKX = "okx"
    BINANCE = "binance"
    ALPACA = "alpaca"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class QuantityUnit(StrEnum):
    """What an order quantity counts: the base asset (BTC) or the quote currency (USD)."""

    BASE = "base"
    QUOTE = "quote"


class OrderStatus(StrEnum):
    """Lifecycle of one order; moves only along `_ORDER_NEXT`."""

    PENDING = "pending"  # intent stored, not yet sent
    SUBMITTED = "submitted"  # venue accepted, not (fully) filled
    PARTIAL = "partial"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELED = "canceled"
    UNKNOWN = "unknown"  # sent, answer ambiguous: must be reconciled by client order id


class InvalidTransition(ValueError):
    """An order or health state was asked to move along an edge that does not exist."""


_ORDER_NEXT: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    OrderStatus.PENDING: frozenset(
        {
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIAL,
            OrderStatus.FILLED,
            OrderStatus.REJECTED,
            OrderStatus.UNKNOWN,
            OrderStatus.CANCELED,
        }
    ),
    OrderStatus.UNKNOWN: frozenset(
        {
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIAL,
            OrderStatus.FILLED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELED,
        }
    ),
    OrderStatus.SUBMITTED: frozenset({OrderStatus.PARTIAL, OrderStatus.FILLED, OrderStatus.CANCELED}),
    OrderStatus.PARTIAL: frozenset({OrderStatus.PARTIAL, OrderStatus.FILLED, OrderStatus.CANCELED}),
    # a venue fill can land after our cancel was sent
    OrderStatus.CANCELED: frozenset({OrderStatus.FILLED, OrderStatus.PARTIAL}),
}  # FILLED and REJECTED have no row: nothing follows them

# Whose outcome is not settled yet: not sent, answer lost, or acknowledged and not all filled.
OPEN_ORDER_STATUSES: Final = (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.SUBMITTED, OrderStatus.PARTIAL)


def advance_order_status(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """Return `new` if the move from `current` is legal, else raise `InvalidTransition`."""
    if new == current and current in (OrderStatus.FILLED, OrderStatus.REJECTED):
        return current  # re-reading a final answer is not a move
    if new not in _ORDER_NEXT.get(current, frozenset()):
        raise InvalidTransition(f"order status {current} -> {new}")
    return new


class CopyStatus(StrEnum):
    """One (signal, follower) row of the copy ledger; moves only along `_COPY_NEXT`."""

    PENDING = "pending"  # row written, the follower's order not sent yet
    SENT = "sent"  # the venue acknowledged the order; its fill is still to be read
    UNKNOWN = "unknown"  # the send's answer was ambiguous: looked up by client order id, never re-sent
    FILLED = "filled"
    PARTIAL = "partial"  # final with part of the size filled
    FAILED = "failed"
    EXPIRED = "expired"  # the signal was too old to chase
    SKIPPED = "skipped"  # sizing decided not to copy (below minimum, nothing held)
    WAITING = "waiting"  # an exit copy not done yet: tried again at the row's retry_at (reason: why)

    @property
    def is_open(self) -> bool:
        """A later pass must still resolve this row."""
        return self in (CopyStatus.PENDING, CopyStatus.SENT, CopyStatus.UNKNOWN, CopyStatus.WAITING)


_COPY_NEXT: Final[dict[CopyStatus, frozenset[CopyStatus]]] = {
    CopyStatus.PENDING: frozenset(CopyStatus) - {CopyStatus.PENDING},
    CopyStatus.SENT: frozenset(
        {CopyStatus.UNKNOWN, CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.FAILED, CopyStatus.WAITING}
    ),
    CopyStatus.UNKNOWN: frozenset(
        {CopyStatus.SENT, CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.FAILED, CopyStatus.EXPIRED, CopyStatus.WAITING}
    ),
    # An exit's next attempt starts pending again; it ends filled, or skipped once nothing copied is left.
    CopyStatus.WAITING: frozenset({CopyStatus.PENDING, CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.SKIPPED}),
}  # FILLED, PARTIAL, FAILED, EXPIRED and SKIPPED are final: nothing follows them


def _checked_move(table: Mapping[S, frozenset[S]], what: str, current: S, new: S) -> S:
    """Return `new` if `table` has the move from `current` (recording the same status again is
    not a move), else raise `InvalidTransition` naming it."""
    if new != current and new not in table.get(current, frozenset()):
        raise InvalidTransition(f"{what} status {current} -> {new}")
    return new


def advance_copy_status(current: CopyStatus, new: CopyStatus) -> CopyStatus:
    """Return `new` if the ledger row may move there from `current`, else raise `InvalidTransition`."""
    return _checked_move(_COPY_NEXT, "copy", current, new)


class SignalStatus(StrEnum):
    """A master fill in the copy outbox; moves only along `_SIGNAL_NEXT`."""

    PENDING = "pending"  # its copies are not all resolved yet
    DONE = "done"  # every follower's ledger row is final
    SKIPPED = "skipped"  # copy trading is off (COPY_TRADING_MODE=INDEPENDENT)
    REJECTED = "rejected"  # the signal cannot be copied (master equity <= 0)


_SIGNAL_NEXT: Final[dict[SignalStatus, frozenset[SignalStatus]]] = {
    SignalStatus.PENDING: frozenset({SignalStatus.DONE, SignalStatus.SKIPPED, SignalStatus.REJECTED}),
}  # DONE, SKIPPED and REJECTED are final


def advance_signal_status(current: SignalStatus, new: SignalStatus) -> SignalStatus:
    """Return `new` if the signal may move there from `current`, else raise `InvalidTransition`."""
    return _checked_move(_SIGNAL_NEXT, "signal", current, new)


class IntentStatus(StrEnum):
    """A manual trade handed to the broker loop that owns the account; moves along `_INTENT_NEXT`."""

    PENDING = "pending"  # written by `nija.trade`, not taken yet
    TAKEN = "taken"  # the owning loop is executing it
    DONE = "done"  # executed: the order's status and fill are recorded with it
    REFUSED = "refused"  # a guard refused it (halt, entry block) or the venue did
    CANCELED = "canceled"  # `nija.trade` gave up waiting before any loop took it


_INTENT_NEXT: Final[dict[IntentStatus, frozenset[IntentStatus]]] = {
    IntentStatus.PENDING: frozenset({IntentStatus.TAKEN, IntentStatus.CANCELED}),
    IntentStatus.TAKEN: frozenset({IntentStatus.DONE, IntentStatus.REFUSED}),
}  # DONE, REFUSED and CANCELED are final


def advance_intent_status(current: IntentStatus, new: IntentStatus) -> IntentStatus:
    """Return `new` if a manual intent may move there from `current`, else raise `InvalidTransition`
    (taking or finishing an intent twice is refused)."""
    if new == current:
        raise InvalidTransition(f"manual intent status {current} -> {new}")
    return _checked_move(_INTENT_NEXT, "manual intent", current, new)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderRequest(_Frozen):
    """What the strategy wants sent. The unit is explicit: the original mixed USD and base."""

    broker: BrokerName
    account: str
    symbol: str
    side: Side
    quantity: Decimal = Field(gt=0)
    unit: QuantityUnit
    client_order_id: str = Field(min_length=1, max_length=36)
    reason: str = ""
    # The protective stop planned with an entry: NIJA-side state, never sent to the venue. It is
    # stored with the intent so a fill found by reconciliation after a crash opens the same position.
    stop_price: Decimal | None = None

    @model_validator(mode="after")
    def _sells_are_base(self) -> OrderRequest:
        # A sell is always sized from the base asset held (DESIGN invariant 3).
        if self.side is Side.SELL and self.unit is not QuantityUnit.BASE:
            raise ValueError("a sell must be sized in base units, was quote")
        return self


class Order(_Frozen):
    """An order as the store knows it: the request plus what the venue said."""

    request: OrderRequest
    status: OrderStatus
    exchange_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fee: Decimal = Decimal(0)  # whole fee valued in quote
    fee_in_base: Decimal = Decimal(0)  # part of it the venue took in the base asset
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class Fill(_Frozen):
    """An immutable fact: base quantity traded at a price; (broker, account, trade_id) is unique."""

    broker: BrokerName
    account: str
    symbol: str
    side: Side
    trade_id: str
    client_order_id: str
    qty: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)
    fee: Decimal = Field(ge=0)  # whole fee valued in quote currency
    # Part of the fee the venue took in the base asset: a buy receives qty - this, a sell gives qty + this.
    fee_in_base: Decimal = Field(default=Decimal(0), ge=0)
    fee_currency: str | None = None  # what the venue charged the fee in, when it says
    ts_exchange: datetime  # venue (or market-replay) time
    ts_seen: datetime  # when NIJA learned of it

    @property
    def quote_value(self) -> Decimal:
        """Notional of the fill in quote currency, fees excluded."""
        return self.qty * self.price


class ExecutionReport(_Frozen):
    """What a venue says about one order: its state and the fills so far."""

    client_order_id: str
    status: OrderStatus
    exchange_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)  # base
    avg_price: Decimal | None = None
    fee: Decimal = Decimal(0)  # whole fee valued in quote
    fee_in_base: Decimal = Decimal(0)  # part of it withheld in the base asset (see Fill)
    fills: tuple[Fill, ...] = ()
    error: str | None = None


class SignalKind(StrEnum):
    """Where a signal comes from: a master fill, or the copy engine acting for followers."""

    MASTER = "master"  # a master fill (the only kind a master account emits)
    CONVERGE = "converge"  # the master is flat: close what followers still hold of the symbol
    FLATTEN = "flatten"  # a follower's drawdown breach with flatten_on_breach: close its copies
    CLOSE = "close"  # a follower disabled with on_disable=close: close its copies
    JOIN = "join"  # a follower joined while the master holds a position (copy_existing=enter)


class TradeSignal(_Frozen):
    """A master fill, as copy trading replicates it: written with the fill, in one transaction.

    Only fills emit (never an intent, a rejection or an unfilled order). The exit fraction a
    user mirrors is `qty / master_position_before`; an entry is scaled by equity. The copy engine
    raises signals of its own kinds (`SignalKind`) through the same fan-out, for one follower
    (`target_user`) or every follower holding the symbol.
    """

    signal_id: str  # deterministic from (broker, master account, trade id)
    broker: BrokerName
    master_account: str
    symbol: str
    side: Side
    qty: Decimal = Field(gt=0)  # base filled by this fill
    price: Decimal = Field(gt=0)  # average price of this fill
    quote_value: Decimal = Field(gt=0)
    master_equity: Decimal  # master total equity when the fill happened (may be ≤ 0: rejected)
    master_position_before: Decimal = Field(ge=0)  # master base position before this fill
    fill_time: datetime
    trade_id: str
    kind: SignalKind = SignalKind.MASTER
    target_user: str | None = None  # only this follower (engine-raised signals), else all

    @classmethod
    def from_fill(cls, fill: Fill, master_equity: Decimal, position_before: Decimal) -> TradeSignal:
        """The signal of one master fill."""
        return cls(
            signal_id=client_order_id_for("signal", fill.broker, fill.account, fill.trade_id),
            broker=fill.broker, master_account=fill.account, symbol=fill.symbol, side=fill.side,
            qty=fill.qty, price=fill.price, quote_value=fill.qty * fill.price, master_equity=master_equity,
            master_position_before=position_before, fill_time=fill.ts_seen, trade_id=fill.trade_id,
        )


@dataclass(frozen=True, slots=True)
class CopyLedgerEntry:
    """An update of one (signal, follower) row of the copy ledger; a field left None keeps what
    the row had (the size asked is written when sent, the fill when it settles)."""

    signal_id: str
    user_id: str
    status: CopyStatus
    reason: str | None = None
    size_asked: Decimal | None = None
    unit: QuantityUnit | None = None
    size_filled: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal | None = None
    latency_ms: float | None = None
    user_equity: Decimal | None = None
    # Copy quality (`copytrade.telemetry`): the master's fill price, ms from the master's fill to
    # the venue's acknowledgment and to the copy's fill, and the fill's adverse-positive slippage.
    master_price: Decimal | None = None
    ack_latency_ms: float | None = None
    fill_latency_ms: float | None = None
    slippage_bps: Decimal | None = None


class Position(_Frozen):
    """What one account holds of one symbol because of NIJA's own fills: accounting only.

    Built from fills by `execution.positions`; a strategy keeps its own state (stops, stages)
    beside it. Holdings NIJA did not open are never Positions: they are reported, never sold.
    """

    broker: BrokerName
    account: str
    symbol: str
    qty: Decimal = Field(gt=0)  # base held now
    entry_price: Decimal = Field(gt=0)  # cost basis per unit held (quote paid / base received)
    opened_at: datetime
    realised_pnl: Decimal = Decimal(0)  # quote, after fees, over this position's sells so far
    fees: Decimal = Field(default=Decimal(0), ge=0)  # every fee paid on it, valued in quote


class BalanceSnapshot(_Frozen):
    """Equity, not cash: total_equity = available + locked_in_positions (DESIGN invariant 2)."""

    total_equity: Decimal
    available: Decimal = Field(ge=0)
    locked_in_positions: Decimal = Field(ge=0)
    taken_at: datetime
    # What the venue holds for this user outside the tradable account (OKX funding): never equity,
    # shown by health and the doctor so a funded user is not left reading "unfunded".
    note: str | None = None
    # Every asset counted in the equity, as (asset, quantity, price; cash at 1): what tells a
    # deposit or withdrawal from a price move (`execution.transfers`, `holdings`). Empty from a venue that does
    # not break its equity down: transfers there go unseen.
    assets: tuple[tuple[str, Decimal, Decimal], ...] = ()

    @model_validator(mode="after")
    def _identity(self) -> BalanceSnapshot:
        gap = abs(self.total_equity - self.available - self.locked_in_positions)
        if gap > EQUITY_TOLERANCE:
            raise ValueError(
                f"total_equity {self.total_equity} != available {self.available}"
                f" + locked_in_positions {self.locked_in_positions}"
            )
        return self

    @classmethod
    def from_parts(
        cls, available: Decimal, locked_in_positions: Decimal, taken_at: datetime, note: str | None = None,
        assets: tuple[tuple[str, Decimal, Decimal], ...] = (),
    ) -> BalanceSnapshot:
        """Build a snapshot whose equity is the sum of its parts."""
        return cls(
            total_equity=available + locked_in_positions,
            available=available,
            locked_in_positions=locked_in_positions,
            taken_at=taken_at,
            note=note,
            assets=assets,
        )


class MarketRules(_Frozen):
    """A market's trading rules: minimums and the steps amounts and prices are rounded to."""

    symbol: str
    base: str
    quote: str
    min_amount: Decimal = Decimal(0)  # base units
    min_cost: Decimal = Decimal(0)  # quote units
    amount_step: Decimal = Field(gt=0)
    price_step: Decimal = Field(gt=0)


class Ticker(_Frozen):
    """Best bid/ask and last trade for one symbol."""

    symbol: str
    bid: Decimal = Field(gt=0)
    ask: Decimal = Field(gt=0)
    last: Decimal = Field(gt=0)
    ts: datetime

    @field_validator("ask")
    @classmethod
    def _not_crossed(cls, ask: Decimal, info) -> Decimal:  # type: ignore[no-untyped-def]
        bid = info.data.get("bid")
        if bid is not None and ask < bid:
            raise ValueError(f"ask {ask} below bid {bid}")
        return ask


class HealthStatus(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"
    UNFUNDED = "unfunded"
    HALTED = "halted"  # the kill switch tripped: reduce-only until an operator resumes it
    STOPPED = "stopped"


class BrokerHealth(_Frozen):
    """One account's health record, persisted every cycle and read by `nija.status`."""

    broker: BrokerName
    account: str
    status: HealthStatus
    funded: bool = False
    cycles_total: int = 0
    cycles_ok: int = 0
    consecutive_errors: int = 0
    last_error: str | None = None
    last_cycle_at: datetime | None = None
    retry_at: datetime | None = None
    auth_failed: bool = False
    # Why this account is halted or makes no entries (kill switch, ENTRY_BLOCKING, low balance).
    note: str | None = None

    @property
    def success_rate(self) -> float:
        """Percentage of cycles that completed, 0 when none ran."""
        return 100.0 * self.cycles_ok / self.cycles_total if self.cycles_total else 0.0


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fees of one broker as fractions of notional (a tenth of a percent is 0.001); the table is `brokers.fees`."""

    taker: Decimal
    maker: Decimal
    spread: Decimal  # typical bid/ask spread, paid once per round trip

    @property
    def round_trip(self) -> Decimal:
        """Cost of a market buy then a market sell: 2 × taker + spread."""
        return 2 * self.taker + self.spread


@dataclass(frozen=True, slots=True)
class EquityMarks:
    """What a broker's kill switch measures against: the equity high-water mark and the day's start."""

    high_water_mark: Decimal
    day: date  # UTC
    day_start_equity: Decimal


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLCV candles for one symbol, oldest first, as float64 arrays (indicator input).

    `ts` is the candle open time in epoch milliseconds. Floats are right here: indicators are
    statistics over prices, not money; amounts become Decimal before any order is built.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def tail(self, n: int) -> Candles:
        """Return the last `n` candles."""
        return Candles(
            self.ts[-n:], self.open[-n:], self.high[-n:], self.low[-n:], self.close[-n:], self.volume[-n:]
        )

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> Candles:
        """Build from an (n, 6) array of timestamp, open, high, low, close, volume."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        return cls(*(np.ascontiguousarray(rows[:, i]) for i in range(6)))
