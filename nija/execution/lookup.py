"""What a lookup by client order id means for a stored order, and the lookup itself.

An order whose answer was lost is never sent again: it is looked up by its client order id until
the venue's report settles it, or until it is clear the venue never booked it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from nija.brokers.base import Broker
from nija.models import OPEN_ORDER_STATUSES, ExecutionReport, Order, OrderStatus

__all__ = ["OPEN_ORDER_STATUSES", "OPEN_ORDER_TIMEOUT", "UNKNOWN_GRACE", "look_up", "lookup_outcome", "open_too_long"]

UNKNOWN_GRACE: Final = timedelta(minutes=10)  # an ambiguous order not listed by then was never booked
# A market order still open this long after its intent is stuck (the rest of a partial fill the
# venue keeps open, an order queued through a halt): it holds the account's funds or coins, and
# no exit of its position is decided while it is open. It is canceled, then looked up.
OPEN_ORDER_TIMEOUT: Final = timedelta(minutes=5)


def open_too_long(order: Order, status: OrderStatus, now: datetime, timeout: timedelta) -> bool:
    """Whether the venue, whose last word on `order` is `status`, has kept it open (acknowledged,
    not all filled) for `timeout` since its intent was stored: an order whose outcome is unknown
    is never canceled blind."""
    return status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL) and now - order.created_at >= timeout


def look_up(broker: Broker, order: Order) -> ExecutionReport | None:
    """The venue's report of a stored order (fills since what is recorded), None if it never saw it."""
    return broker.fetch_order(order.request.client_order_id, order.request.symbol, order)


def lookup_outcome(
    order: Order, found: ExecutionReport | None, now: datetime, grace: timedelta | None = None
) -> ExecutionReport | None:
    """The report to record for a stored order after a lookup: the venue's, a CANCELED one when
    the venue never booked it, or None while the outcome is still unknown.

    Pending and unknown to the venue: the process stopped before sending it. Ambiguous (unknown)
    and still not listed after `grace` (`UNKNOWN_GRACE` unless set): refused before it was booked (a 504 or 429 in
    front of the matching engine). An order the venue acknowledged (submitted, partial) but no
    longer lists is looked up again: presuming it refused could lose a real fill. Either way it
    is never re-sent from here.
    """
    if found is not None:
        return found
    grace = UNKNOWN_GRACE if grace is None else grace
    cid = order.request.client_order_id
    if order.status is OrderStatus.PENDING:
        return ExecutionReport(client_order_id=cid, status=OrderStatus.CANCELED, error="never reached the venue")
    if order.status is OrderStatus.UNKNOWN and now - order.updated_at >= grace:
        return ExecutionReport(
            client_order_id=cid, status=OrderStatus.CANCELED,
            error=f"not found at the venue {grace} after an ambiguous answer",
        )
    return None
