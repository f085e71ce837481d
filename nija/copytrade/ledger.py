"""The copy ledger's vocabulary: which `CopyStatus` an order's state means, and the ledger entry
written with each answer (one row per (signal, follower), moved along its transition table), with
the copy's quality figures (`telemetry`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from nija.copytrade import telemetry
from nija.models import CopyLedgerEntry, CopyStatus, Order, OrderStatus, TradeSignal

__all__ = ["entry_for_order", "ledger_status"]

# Order states in which the venue has not acknowledged the order: no acknowledgment latency.
_UNACKNOWLEDGED: Final = frozenset({OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.REJECTED})


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
    (at the send) and `latency_ms`, the caller's ms from the master's fill to the answer, as the
    acknowledgment's latency when the venue acknowledged the order; `signal` (the master's fill)
    gives the master's price, the fill's latency and its slippage. `latency_ms` keeps its older
    meaning: the acknowledgment's latency, else the fill's."""
    status = ledger_status(order.status, order.filled_qty, fresh)
    filled = order.filled_qty > 0
    ack_latency = latency_ms if asked and order.status not in _UNACKNOWLEDGED else None
    fill_latency = slippage = master_price = None
    if signal is not None:
        master_price = signal.price
        if filled:
            # the store's update time of the order: when NIJA learned of the fill
            fill_latency = telemetry.latency_ms(signal.fill_time, order.updated_at)
            if order.avg_price is not None:
                slippage = telemetry.slippage_bps(order.request.side, signal.price, order.avg_price)
    if latency_ms is None:
        latency_ms = fill_latency
    reason = None if status in (CopyStatus.FILLED, CopyStatus.SENT) else (order.error or "not filled")
    return CopyLedgerEntry(
        signal_id=signal_id, user_id=user_id, status=status, reason=reason,
        size_asked=order.request.quantity if asked else None, unit=order.request.unit if asked else None,
        size_filled=order.filled_qty if filled else None, price=order.avg_price if filled else None,
        fee=order.fee if filled else None, latency_ms=latency_ms, user_equity=user_equity,
        master_price=master_price, ack_latency_ms=ack_latency, fill_latency_ms=fill_latency, slippage_bps=slippage,
    )
