"""Turn venue answers into one store write: order moves, new fills, positions, copy signals.

Pure bookkeeping over what the store already holds (read by the caller): a fill whose trade id
is known counts once; a position is its previous state plus the new fills; each new fill of a
master emits one copy signal carrying the master's position before that fill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from nija.execution.positions import apply_fills, held_change
from nija.models import (
    ExecutionReport,
    Fill,
    InvalidTransition,
    Order,
    Position,
    Side,
    TradeSignal,
    advance_order_status,
)
from nija.store import PositionChange, Recording

__all__ = ["Answer", "Booking", "Outcome", "PositionKey", "book"]

PositionKey = tuple[str, str, str]  # broker, account, symbol


@dataclass(frozen=True, slots=True)
class Answer:
    """What a send or a lookup learned of one stored order: a report of its state and fills."""

    order: Order  # as stored before this answer
    report: ExecutionReport


@dataclass(frozen=True, slots=True)
class Outcome:
    """One order after its answer was recorded."""

    order: Order
    fills: tuple[Fill, ...]  # new fills recorded with this answer

    @property
    def filled_qty(self) -> Decimal:
        """Base filled by this order so far."""
        return self.order.filled_qty


@dataclass(frozen=True, slots=True)
class Booking:
    """What answers mean: the one store write, each order's outcome by client order id, and the
    answers left out as stale (a read that would move an order backwards: looked up again)."""

    recording: Recording
    outcomes: dict[str, Outcome]
    stale: list[Answer]


def position_key(order: Order) -> PositionKey:
    """Which position an order moves."""
    return (str(order.request.broker), order.request.account, order.request.symbol)


def book(
    answers: Sequence[Answer],
    known_trade_ids: Mapping[tuple[str, str], set[str]],
    positions: Mapping[PositionKey, Position | None],
    master_equity: Decimal | None = None,
) -> Booking:
    """Book `answers` (oldest first).

    `known_trade_ids` maps (broker, account) to the trade ids already stored among the answers'
    fills; `positions` holds the position of every key the answers touch. An answer that would
    move an order backwards (a stale read) is left out: it is looked up again later.
    """
    reports: list[ExecutionReport] = []
    fills: list[Fill] = []
    outcomes: dict[str, Outcome] = {}
    stale: list[Answer] = []
    signals: list[TradeSignal] = []
    after: dict[PositionKey, Position | None] = {}
    seen: set[tuple[str, str, str]] = set()
    for answer in answers:
        order, report = answer.order, answer.report
        try:
            status = advance_order_status(order.status, report.status)
        except InvalidTransition:
            stale.append(answer)
            continue
        account = (str(order.request.broker), order.request.account)
        known = known_trade_ids.get(account, set())
        new = []
        for fill in report.fills:
            key = (*account, fill.trade_id)
            if fill.trade_id not in known and key not in seen:
                seen.add(key)
                new.append(fill)
        reports.append(report)  # the store moves the order to report.status, checked again there
        updated = order.model_copy(update={
            "status": status, "filled_qty": report.filled_qty, "avg_price": report.avg_price, "fee": report.fee,
            "fee_in_base": report.fee_in_base, "error": report.error or order.error,
            "exchange_order_id": report.exchange_order_id or order.exchange_order_id,
        })
        outcomes[order.request.client_order_id] = Outcome(updated, tuple(new))
        if not new:
            continue
        fills.extend(new)
        key = position_key(order)
        before = after[key] if key in after else positions.get(key)
        if master_equity is not None:
            held = before.qty if before is not None else Decimal(0)
            for fill in new:
                # A sell of coins NIJA never opened (a manual sell of the master's own holding) is
                # not copied: its exit fraction would be "everything" of each follower's position.
                if fill.side is Side.BUY or held > 0:
                    signals.append(TradeSignal.from_fill(fill, master_equity, held))
                held = max(held + held_change(fill), Decimal(0))
        after[key] = apply_fills(before, new)
    changes = [PositionChange(broker, account, symbol, position) for (broker, account, symbol), position in after.items()]
    return Booking(Recording(reports=reports, fills=fills, positions=changes, signals=signals), outcomes, stale)
