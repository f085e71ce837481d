"""The copy ledger's vocabulary: which `CopyStatus` an order's state means, and the ledger entry
written with each answer (one row per (signal, follower), moved along its transition table)."""

from __future__ import annotations

from decimal import Decimal

from nija.models import CopyLedgerEntry, CopyStatus, Order, OrderStatus, TradeSignal

__all__ = ["entry_for_order", "ledger_status"]


def ledger_status(status: OrderStatus, filled_qty: Decimal, fresh: bool = True) -> CopyStatus:
    """The ledger status for an order's state: filled / partial / failed / expired, or sent /
    unknown while the venue's final answer is still to be read."""
    if status is OrderStatus.FILLED:
        return CopyStatus.FILLED
    if status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL):
        return CopyStatus.SENT
    if status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
        return CopyStatus.UNKNOWN
    if filled_qty > 0:
        return CopyStatus.PARTIAL  # canceled or expired after a partial fill
    return CopyStatus.EXPIRED if status is OrderStatus.CANCELED and not fresh else CopyStatus.FAILED


def entry_for_order(
    signal_id: str, user_id: str, order: Order, fresh: bool, *,
    asked: bool = False, signal: TradeSignal | None = None, latency_ms: float | None = None,
    user_equity: Decimal | None = None,
) -> CopyLedgerEntry:
    """The ledger entry of a follower's order after an answer. `asked` writes the size asked
    (at the send); `signal` (the master's fill) gives the latency of a fill read later."""
    status = ledger_status(order.status, order.filled_qty, fresh)
    filled = order.filled_qty > 0
    if latency_ms is None and signal is not None and filled:
        latency_ms = round((order.updated_at - signal.fill_time).total_seconds() * 1000, 1)
    reason = None if status in (CopyStatus.FILLED, CopyStatus.SENT) else (order.error or "not filled")
    return CopyLedgerEntry(
        signal_id=signal_id, user_id=user_id, status=status, reason=reason,
        size_asked=order.request.quantity if asked else None, unit=order.request.unit if asked else None,
        size_filled=order.filled_qty if filled else None, price=order.avg_price if filled else None,
        fee=order.fee if filled else None, latency_ms=latency_ms, user_equity=user_equity,
    )
