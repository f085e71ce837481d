"""A follower's risk envelope: the rules that stop or shrink its NEW ENTRIES, and its circuit breaker.

Pure: Decimal in, a number or a one-line reason out; no I/O, no clock, no logging, no state.
Nothing here is ever applied to an exit: a copied position always follows the master out.

- Drawdown: equity more than `max_drawdown_pct` below the follower's own high-water mark halts
  its entries (until an operator resumes it; the caller keeps the halt).
- Position cap: one symbol's copied position never grows above `max_position_pct` of equity.
- Slippage guard: an entry whose price is worse than the master's fill by more than
  `max_entry_slippage_pct` is skipped.
- Circuit breaker: `breaker_failures` failed copies in a row open it (entries paused); a
  successful copy or balance read closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Final

from nija.models import InvalidTransition, Side

__all__ = [
    "NO_POSITION_CAP",
    "Breaker",
    "BreakerEvent",
    "BreakerState",
    "RiskEnvelope",
    "breaker_after",
    "cap_entry_by_position",
    "drawdown_breach",
    "drawdown_pct",
    "entry_slippage_problem",
    "raised_high_water_mark",
]

NO_POSITION_CAP: Final = Decimal(100)  # max_position_pct 100: no cap beyond MAX_USER_RISK per entry
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
_CENT: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RiskEnvelope:
    """One follower's limits, resolved: its file's value, else the `.env` default. Percent: 25 = 25 %."""

    max_drawdown_pct: Decimal = Decimal(25)  # below the follower's own high-water mark
    max_position_pct: Decimal = NO_POSITION_CAP  # of the follower's equity, per symbol
    max_entry_slippage_pct: Decimal = Decimal("1.0")  # worse than the master's fill price
    flatten_on_breach: bool = False  # a drawdown breach also closes the copied positions
    breaker_failures: int = 5  # failed copies in a row that pause entries


# -- drawdown --------------------------------------------------------------------------------

def raised_high_water_mark(high_water_mark: Decimal | None, equity: Decimal) -> Decimal | None:
    """The high-water mark after seeing `equity`: raised to it, never lowered; an empty or
    negative equity never sets a first mark (drawdown from nothing means nothing)."""
    if equity <= 0:
        return high_water_mark
    return equity if high_water_mark is None or equity > high_water_mark else high_water_mark


def drawdown_pct(high_water_mark: Decimal, equity: Decimal) -> Decimal:
    """How far `equity` is below the mark, in percent of the mark (0 at or above it)."""
    if high_water_mark <= 0 or equity >= high_water_mark:
        return _ZERO
    return (high_water_mark - equity) / high_water_mark * _HUNDRED


def drawdown_breach(high_water_mark: Decimal | None, equity: Decimal, max_drawdown_pct: Decimal) -> str | None:
    """Why entries must halt: equity more than `max_drawdown_pct` below the mark (exactly at the
    limit is not a breach); None without a mark or within the limit."""
    if high_water_mark is None or high_water_mark <= 0:
        return None
    drop = drawdown_pct(high_water_mark, equity)
    if drop <= max_drawdown_pct:
        return None
    return (
        f"drawdown {drop.quantize(_CENT)}% below the high-water mark {high_water_mark} (equity {equity}),"
        f" above max_drawdown_pct {max_drawdown_pct}"
    )


# -- entry size and price --------------------------------------------------------------------

def cap_entry_by_position(
    amount_quote: Decimal, user_equity: Decimal, copied_value_quote: Decimal, max_position_pct: Decimal
) -> tuple[Decimal, str | None]:
    """Cap an entry so the symbol's copied position (`copied_value_quote`, at today's price)
    stays within `max_position_pct` of the follower's equity. Returns (amount, reason): the
    amount untouched and None; a smaller amount (cents, rounded down) and why; or 0 and why
    nothing may be added. `max_position_pct` 100 caps nothing."""
    if max_position_pct >= NO_POSITION_CAP:
        return amount_quote, None
    if user_equity <= 0:
        return _ZERO, f"position cap: no equity to size against (equity {user_equity})"
    cap = user_equity * max_position_pct / _HUNDRED
    room = (cap - copied_value_quote).quantize(_CENT, rounding=ROUND_DOWN)
    if room <= 0:
        return _ZERO, (
            f"position cap: copied position worth {copied_value_quote} already at max_position_pct"
            f" {max_position_pct}% of equity {user_equity} ({cap.quantize(_CENT, rounding=ROUND_DOWN)})"
        )
    if amount_quote <= room:
        return amount_quote, None
    return room, (
        f"capped by max_position_pct {max_position_pct}%: {amount_quote} -> {room}"
        f" (copied {copied_value_quote} of {cap.quantize(_CENT, rounding=ROUND_DOWN)} allowed)"
    )


def entry_slippage_problem(side: Side, master_price: Decimal, current_price: Decimal, max_pct: Decimal) -> str | None:
    """Why an entry at `current_price` must be skipped: worse than the master's fill by more than
    `max_pct` percent (higher for a buy, lower for a sell), or no price to compare. Only ever
    asked for entries: an exit goes at any price."""
    if master_price <= 0 or current_price <= 0:
        return f"slippage guard: no price to compare (master fill {master_price}, now {current_price})"
    worse = current_price - master_price if side is Side.BUY else master_price - current_price
    adverse_pct = worse / master_price * _HUNDRED
    if adverse_pct <= max_pct:
        return None
    return (
        f"entry price {current_price} is {adverse_pct.quantize(_CENT)}% worse than the master's fill"
        f" {master_price}, above max_entry_slippage_pct {max_pct}"
    )


# -- circuit breaker -------------------------------------------------------------------------

class BreakerState(StrEnum):
    """Whether a follower's entries flow (closed) or are paused by failures (open)."""

    CLOSED = "closed"
    OPEN = "open"


class BreakerEvent(StrEnum):
    """What the breaker hears about a follower's account."""

    COPY_FAILED = "copy_failed"  # a copy order failed (a skip is not a failure)
    COPY_OK = "copy_ok"  # a copy order was accepted
    READ_OK = "read_ok"  # a balance read succeeded: the account reads healthy
    RESET = "reset"  # an operator resumed the follower


# Each (state, event) row is a legal move; the count of failures in a row decides the one
# guarded edge: COPY_FAILED from CLOSED opens the breaker at the threshold (`breaker_after`).
_BREAKER_NEXT: Final[dict[tuple[BreakerState, BreakerEvent], BreakerState]] = {
    (BreakerState.CLOSED, BreakerEvent.COPY_FAILED): BreakerState.CLOSED,  # OPEN at the threshold
    (BreakerState.CLOSED, BreakerEvent.COPY_OK): BreakerState.CLOSED,  # the run of failures ends
    (BreakerState.CLOSED, BreakerEvent.READ_OK): BreakerState.CLOSED,  # a read is no copy: the run stands
    (BreakerState.CLOSED, BreakerEvent.RESET): BreakerState.CLOSED,
    (BreakerState.OPEN, BreakerEvent.COPY_FAILED): BreakerState.OPEN,  # exits are still tried while open
    (BreakerState.OPEN, BreakerEvent.COPY_OK): BreakerState.CLOSED,
    (BreakerState.OPEN, BreakerEvent.READ_OK): BreakerState.CLOSED,
    (BreakerState.OPEN, BreakerEvent.RESET): BreakerState.CLOSED,
}


@dataclass(frozen=True, slots=True)
class Breaker:
    """A follower's circuit breaker: its state, failed copies in a row, and why it opened."""

    state: BreakerState = BreakerState.CLOSED
    failures_in_row: int = 0
    reason: str | None = None  # set while open: the entry-block reason

    @classmethod
    def restored(cls, failures_in_row: int, paused_reason: str | None) -> Breaker:
        """The breaker as the store kept it: open exactly when it has a paused reason."""
        state = BreakerState.OPEN if paused_reason is not None else BreakerState.CLOSED
        return cls(state, max(failures_in_row, 0), paused_reason)

    @property
    def is_open(self) -> bool:
        """True while entries are paused."""
        return self.state is BreakerState.OPEN


def breaker_after(breaker: Breaker, event: BreakerEvent, threshold: int, error: str | None = None) -> Breaker:
    """The breaker after `event` (`error`: the failed copy's reason). Raises `InvalidTransition`
    for a (state, event) pair the table lacks."""
    target = _BREAKER_NEXT.get((breaker.state, event))
    if target is None:
        raise InvalidTransition(f"breaker {breaker.state} -> {event}")
    if event is BreakerEvent.READ_OK and breaker.state is BreakerState.CLOSED:
        return breaker  # only copies make or break a run of failed copies
    if event is not BreakerEvent.COPY_FAILED:
        return Breaker()  # closed, the run ended
    failures = breaker.failures_in_row + 1
    if target is BreakerState.CLOSED and failures < threshold:
        return Breaker(BreakerState.CLOSED, failures)
    reason = f"circuit breaker open: {failures} copies failed in a row (last: {error or 'no reason given'})"
    return Breaker(BreakerState.OPEN, failures, reason)
