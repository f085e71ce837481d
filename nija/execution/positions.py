"""Position accounting from fills: quantity, average entry, realised P&L and fees. Nothing else.

Pure functions of a position and fills; no strategy rule lives here (stops, take-profit stages
and trailing stops are the strategy's state, kept beside the position by the broker loop).
What the account holds moves by what the venue actually moved:
  - a buy adds `qty − fee_in_base` (a fee the venue withheld in the base asset never arrived);
  - a sell removes `qty + fee_in_base` (a fee charged in the base asset left the account too).
A sell of more than the position (coins NIJA did not open) closes it; the rest is not ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from nija.models import Fill, Position, Side

__all__ = ["DUST_SHARE", "apply_fills", "held_change", "quote_fee"]

# Below this share of what it held before a sell, a position is closed: a remainder this small
# is a rounding residue no venue would let us sell.
DUST_SHARE: Final = Decimal("1e-9")
_ZERO: Final = Decimal(0)


def held_change(fill: Fill) -> Decimal:
    """How much base the account holds more (buy) or less (sell, negative) after `fill`."""
    if fill.side is Side.BUY:
        return fill.qty - fill.fee_in_base
    return -(fill.qty + fill.fee_in_base)


def apply_fills(before: Position | None, fills: Sequence[Fill]) -> Position | None:
    """The position after `fills` (one account, one symbol, oldest first); None when flat.

    Average entry is the cost basis per unit held: quote paid / base received, so a fee withheld
    in base raises it. A sell realises proceeds − cost basis of what left the account (sold and
    base fee). Fees paid in quote are taken from realised P&L as they are paid; `fees` sums
    every fee, valued in quote.
    """
    position = before
    for fill in fills:
        position = _apply(position, fill)
    return position


def quote_fee(fill: Fill) -> Decimal:
    """The part of a fill's fee not taken in the base asset (that part is in the cost basis)."""
    return max(fill.fee - fill.fee_in_base * fill.price, _ZERO)


def _apply(position: Position | None, fill: Fill) -> Position | None:
    if fill.side is Side.BUY:
        received = fill.qty - fill.fee_in_base
        if received <= 0:
            return position
        cost = fill.qty * fill.price
        if position is None:
            return Position(
                broker=fill.broker, account=fill.account, symbol=fill.symbol, qty=received,
                entry_price=cost / received, opened_at=fill.ts_exchange,
                realised_pnl=-quote_fee(fill), fees=fill.fee,
            )
        qty = position.qty + received
        return position.model_copy(update={
            "qty": qty, "entry_price": (position.entry_price * position.qty + cost) / qty,
            "fees": position.fees + fill.fee, "realised_pnl": position.realised_pnl - quote_fee(fill),
        })
    if position is None:
        return None  # a sell of coins NIJA never opened: nothing of ours moves
    removed = min(fill.qty + fill.fee_in_base, position.qty)
    sold = min(fill.qty, removed)
    pnl = sold * fill.price - removed * position.entry_price - quote_fee(fill)
    remaining = position.qty - removed
    if remaining <= position.qty * DUST_SHARE:
        return None
    return position.model_copy(update={
        "qty": remaining, "realised_pnl": position.realised_pnl + pnl, "fees": position.fees + fill.fee,
    })
