"""Exit copies: sized from each follower's *copied* position, retried until done (invariant 9).

A master exit that sells fraction f of its position makes each follower sell fraction f of the
position its copy fills built (`positions`, account = the follower) — never coins the follower
held before or bought by hand. The venue's holding is read only as a cap, after the venue refused
an attempt for lack of funds (coins sold by hand, or moved to an earn wallet).

An exit never expires while the follower still holds a copied position. Each follower's row of an
exit signal moves like this:

    pending --send--> sent/unknown --fill--> filled
       |                  |
       +--fails-----------+--fails--> waiting --retry_at--> pending (next attempt, new client id)

A failed or partly filled attempt waits (`CopyStatus.WAITING`, reason and `retry_at` in the row)
and the next attempt sells what is left of the row's size, capped by the copied position now; the
row ends `filled`, or `skipped` once nothing copied is left. An exit also waits while an earlier
copy order of the same follower and symbol is in flight, so two sells never count the same coins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from nija.brokers.base import InsufficientFunds
from nija.copytrade.followers import Follower
from nija.copytrade.sizing import CopySize, size_copy_exit
from nija.faults import crash_point
from nija.logs import redact_text
from nija.models import (
    CopyLedgerEntry,
    CopyStatus,
    MarketRules,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    SignalKind,
    TradeSignal,
)
from nija.store import ExitRow, Store, exit_attempt_id

__all__ = ["CONVERGE_REASON", "EXIT_RETRY_FIRST_SECONDS", "EXIT_RETRY_MAX_SECONDS", "ExitPlan", "ExitPlanner", "exit_retry_delay"]

EXIT_RETRY_FIRST_SECONDS: Final = 5.0
EXIT_RETRY_MAX_SECONDS: Final = 120.0  # a venue back from an outage is retried within two minutes
NO_COPIED_POSITION: Final = "no copied position"
CONVERGE_REASON: Final = "converge: master flat"
_FAILED: Final = (CopyStatus.FAILED, CopyStatus.PARTIAL, CopyStatus.EXPIRED)
_NO_FUNDS: Final = InsufficientFunds.__name__
_ZERO: Final = Decimal(0)
_WHY: Final = {  # what an exit order's reason starts with, by the signal's kind
    SignalKind.MASTER: "copy",
    SignalKind.CONVERGE: CONVERGE_REASON,
    SignalKind.FLATTEN: "flatten: drawdown breach",
    SignalKind.CLOSE: "close: follower disabled",
}

Plan = tuple[Follower, OrderRequest, CopySize]


def exit_retry_delay(attempts: int) -> timedelta:
    """How long a failed exit attempt waits: 5 s, doubling per attempt, at most 2 minutes."""
    return timedelta(seconds=min(EXIT_RETRY_FIRST_SECONDS * 2 ** min(attempts, 16), EXIT_RETRY_MAX_SECONDS))


@dataclass
class ExitPlan:
    """One pass over an exit signal's followers: rows decided without sending, orders to send,
    intents to recover, and each open row as the pass found it."""

    statuses: dict[str, CopyStatus]
    rows: dict[str, ExitRow]
    ledger: list[CopyLedgerEntry] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    recover: list[tuple[Follower, Order]] = field(default_factory=list)
    retry_at: dict[tuple[str, str], datetime] = field(default_factory=dict)


class ExitPlanner:
    """Plans each pass of an exit signal and turns attempts' outcomes into ledger entries."""

    def __init__(self, store: Store, read_holdings: Callable[[TradeSignal, Sequence[Follower]], dict[str, object]]) -> None:
        self.store = store
        self._read_holdings = read_holdings  # concurrent holding reads (the fan-out's pool)

    def plan(self, signal: TradeSignal, followers: Sequence[Follower], rules: MarketRules | None, now: datetime) -> ExitPlan:
        """Rows for the followers holding a copied position (or with a row already), sized from
        the copied position; waiting rows whose time has come get their next attempt."""
        ids = [f.user_id for f in followers]
        positions = self.store.positions_of(signal.broker, signal.symbol, ids)
        busy = self.store.busy_copy_users(signal.broker, signal.symbol, signal.signal_id)
        rows = self.store.exit_rows(signal.signal_id)
        new = {u: exit_attempt_id(signal.signal_id, u, 0) for u in ids if u not in rows and (u in positions or u in busy)}
        if new:
            self.store.open_copy_rows(signal.signal_id, signal.broker, new)
            rows = self.store.exit_rows(signal.signal_id)
        plan = ExitPlan({u: r.status for u, r in rows.items()}, rows)
        stored = self.store.orders_by_id(r.client_order_id for r in rows.values() if r.status.is_open)
        to_size: list[tuple[Follower, ExitRow, Decimal | None]] = []  # follower, row, what is left to sell
        for follower in followers:
            row = rows.get(follower.user_id)
            if row is None or not row.status.is_open or follower.user_id in busy:
                continue
            order = stored.get(row.client_order_id)
            if row.status is CopyStatus.WAITING:
                if row.retry_at is not None and row.retry_at > now:
                    continue
                left = self._next_attempt(signal, follower, row, order, positions.get(follower.user_id), plan)
                if left is not None:
                    to_size.append((follower, plan.rows[follower.user_id], left))
            elif row.status is CopyStatus.PENDING:
                if order is not None and order.status is OrderStatus.PENDING:
                    plan.recover.append((follower, order))  # a crash between storing and sending
                elif order is None:  # not sized yet, or a crash between starting an attempt and storing it
                    left = row.size_asked - row.filled_before if row.attempts > 0 and row.size_asked is not None else None
                    to_size.append((follower, row, left))
            # sent / unknown: settled by lookups
        self._size_all(signal, to_size, positions, rules, now, plan)
        return plan

    def _next_attempt(
        self, signal: TradeSignal, follower: Follower, row: ExitRow, order: Order | None, position: Position | None,
        plan: ExitPlan,
    ) -> Decimal | None:
        """Start a waiting row's next attempt; returns what is left to sell, or None when the row
        ends here (all sold, or nothing copied left)."""
        sold = row.filled_before + (order.filled_qty if order is not None else _ZERO)
        held = position.qty if position is not None else _ZERO
        left = (row.size_asked - sold) if row.size_asked is not None else None
        if (left is not None and left <= 0) or held <= 0:
            status = CopyStatus.FILLED if sold > 0 and (left is None or left <= 0) else (
                CopyStatus.PARTIAL if sold > 0 else CopyStatus.SKIPPED)
            why = None if status is CopyStatus.FILLED else f"copied position closed after {sold} sold"
            plan.ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, status, why, size_filled=sold or None))
            plan.statuses[follower.user_id] = status
            return None
        attempt = row.attempts + 1 if order is not None else row.attempts
        cid = self.store.begin_exit_attempt(signal.signal_id, follower.user_id, attempt, sold)
        crash_point("exit_attempt")
        plan.rows[follower.user_id] = dataclasses.replace(
            row, status=CopyStatus.PENDING, client_order_id=cid, attempts=attempt, filled_before=sold, retry_at=None
        )
        plan.statuses[follower.user_id] = CopyStatus.PENDING
        return left

    def _size_all(
        self, signal: TradeSignal, to_size: list[tuple[Follower, ExitRow, Decimal | None]],
        positions: dict[str, Position], rules: MarketRules | None, now: datetime, plan: ExitPlan,
    ) -> None:
        """Size every attempt from the copied position (capped by the holding where the venue
        said funds were short); unavailable accounts wait."""
        capped = [f for f, row, _ in to_size if row.reason is not None and _NO_FUNDS in row.reason]
        holdings = self._read_holdings(signal, capped) if capped else {}
        for follower, row, left in to_size:
            key = (signal.signal_id, follower.user_id)
            if (why := follower.unavailable(now)) is not None:
                self._wait(plan, key, row, why, now)
                continue
            position = positions.get(follower.user_id)
            copied = position.qty if position is not None else _ZERO
            if copied <= 0:
                plan.ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.SKIPPED, NO_COPIED_POSITION,
                                                   size_asked=_ZERO))
                continue
            held = holdings.get(follower.user_id, copied)
            if isinstance(held, Exception):
                self._wait(plan, key, row, redact_text(f"holding read failed: {type(held).__name__}: {held}"), now)
                continue
            available = min(copied, held) if isinstance(held, Decimal) else copied
            try:
                market = rules or follower.broker.market_rules(signal.symbol)
                if left is None:  # the row's first size: the master's fraction of the copied position
                    size = size_copy_exit(master_sold_qty=signal.qty, master_position_before=signal.master_position_before,
                                          user_holding=available, rules=market, price=signal.price)
                else:  # a retry sells what is left, as a fraction of what is available now
                    size = size_copy_exit(master_sold_qty=min(left, available), master_position_before=available,
                                          user_holding=available, rules=market, price=signal.price)
            except Exception as exc:  # a market rules read failing: wait and try again
                self._wait(plan, key, row, redact_text(f"{type(exc).__name__}: {exc}"), now)
                continue
            if size.skipped:
                plan.ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.SKIPPED, size.skip_reason,
                                                   size_asked=_ZERO if row.size_asked is None else None, unit=size.unit))
                continue
            request = OrderRequest(
                broker=signal.broker, account=follower.user_id, symbol=signal.symbol, side=signal.side,
                quantity=size.quantity, unit=size.unit, client_order_id=row.client_order_id,
                reason=f"{_WHY.get(signal.kind, 'copy')} of {signal.signal_id}: {size.detail}"[:500],
            )
            plan.plans.append((follower, request, size))

    @staticmethod
    def _wait(plan: ExitPlan, key: tuple[str, str], row: ExitRow, why: str, now: datetime) -> None:
        plan.ledger.append(CopyLedgerEntry(key[0], key[1], CopyStatus.WAITING, f"waiting: {why}"[:500]))
        plan.retry_at[key] = now + exit_retry_delay(row.attempts)
        plan.statuses[key[1]] = CopyStatus.WAITING

    @staticmethod
    def outcome(entry: CopyLedgerEntry, row: ExitRow | tuple[int, Decimal] | None, now: datetime,
                retry_at: dict[tuple[str, str], datetime]) -> CopyLedgerEntry:
        """An exit attempt's ledger entry: a failure (or a partial fill) waits for the next
        attempt instead of ending the row; fills count what earlier attempts sold. `row` is the
        row as planned, or its (attempts, filled before)."""
        if isinstance(row, ExitRow):
            attempts, before = row.attempts, row.filled_before
        else:
            attempts, before = row if row is not None else (0, _ZERO)
        if entry.status in _FAILED:
            retry_at[(entry.signal_id, entry.user_id)] = now + exit_retry_delay(attempts)
            why = f"attempt {attempts + 1}: {entry.reason or 'not filled'}"
            return dataclasses.replace(entry, status=CopyStatus.WAITING, reason=why[:500],
                                       size_filled=(before + entry.size_filled) if entry.size_filled else None)
        if before > 0 and entry.size_filled is not None:
            return dataclasses.replace(entry, size_filled=before + entry.size_filled)
        return entry
