"""Fills for venues that report an order only as cumulative totals.

Where a venue answers with its trades (trade id, quantity, price, fee), an adapter reports those.
Where it gives only the order's running totals (filled quantity, average price, fee so far), the
adapter reports the increment since what the caller has recorded as one fill whose trade id is
derived from the order and the cumulative quantity: the same venue state always yields the same
fill, so reading an order twice never counts its fill twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

from nija.models import BrokerName, ExecutionReport, Fill, Order, Side, utc_now

__all__ = ["increment_fill"]

_ZERO: Final = Decimal(0)


def increment_fill(
    report: ExecutionReport, recorded: Order | None, *, broker: BrokerName, account: str, symbol: str, side: Side,
    venue_time: datetime | None,
) -> tuple[Fill, ...]:
    """The fill that takes `recorded` (what the caller holds of this order; None: nothing) to the
    totals of `report`, or () when nothing new filled. `venue_time` is when the venue says the
    order last traded (now when it does not say)."""
    before_qty = recorded.filled_qty if recorded is not None else _ZERO
    delta = report.filled_qty - before_qty
    if delta <= 0 or report.avg_price is None:
        return ()
    before_notional = before_qty * (recorded.avg_price or _ZERO) if recorded is not None else _ZERO
    price = (report.filled_qty * report.avg_price - before_notional) / delta
    if price <= 0:
        price = report.avg_price  # a venue's rounded average can make the increment's price absurd
    fee = max(report.fee - (recorded.fee if recorded is not None else _ZERO), _ZERO)
    fee_in_base = max(report.fee_in_base - (recorded.fee_in_base if recorded is not None else _ZERO), _ZERO)
    seen = utc_now()
    return (
        Fill(
            broker=broker, account=account, symbol=symbol, side=side,
            trade_id=f"{report.client_order_id}:{report.filled_qty}",
            client_order_id=report.client_order_id, qty=delta, price=price, fee=fee, fee_in_base=fee_in_base,
            ts_exchange=venue_time or seen, ts_seen=seen,
        ),
    )
