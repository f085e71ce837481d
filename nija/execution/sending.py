"""Send one stored intent to its venue and say what happened, without raising.

A definitive refusal (below a minimum, no funds, keys refused) never reached the book: the order
is recorded `rejected`. Anything else that goes wrong (timeout, dropped connection, 5xx, a
garbled answer) is ambiguous: the venue may hold the order, so it is recorded `unknown` and
looked up by client order id, never sent again.
"""

from __future__ import annotations

from dataclasses import dataclass

from nija.brokers.base import AuthError, Broker, InsufficientFunds, OrderRejected
from nija.logs import redact_text
from nija.models import ExecutionReport, OrderRequest, OrderStatus

__all__ = ["Sent", "send"]

_DEFINITIVE = (OrderRejected, InsufficientFunds, AuthError)


@dataclass(frozen=True, slots=True)
class Sent:
    """One send: the venue's report, or our record of a refusal or an ambiguity, and its cause."""

    request: OrderRequest
    report: ExecutionReport
    error: Exception | None = None

    @property
    def ambiguous(self) -> bool:
        """The venue may or may not hold the order: only a lookup can tell."""
        return self.report.status is OrderStatus.UNKNOWN


def send(broker: Broker, request: OrderRequest, *, wait_for_fill: bool) -> Sent:
    """Send `request` (its intent already stored): `place` waits for a market order's fill,
    `submit` returns at the venue's acknowledgment."""
    cid = request.client_order_id
    try:
        report = broker.place(request) if wait_for_fill else broker.submit(request)
    except _DEFINITIVE as exc:
        error = redact_text(f"{type(exc).__name__}: {exc}")
        return Sent(request, ExecutionReport(client_order_id=cid, status=OrderStatus.REJECTED, error=error), exc)
    except Exception as exc:  # ambiguous: any failure after the request may have left us
        error = redact_text(f"{type(exc).__name__}: {exc}")
        return Sent(request, ExecutionReport(client_order_id=cid, status=OrderStatus.UNKNOWN, error=error), exc)
    return Sent(request, report)
