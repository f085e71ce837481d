"""The order lifecycle's steps over the store, in batches, and one account's orders on top of them.

`Execution` is shared by every caller: `store_intents` writes many intents in one transaction
before any is sent; `book` works out what many answers mean (orders, fills, positions, signals)
and `write` stores that, with a copy ledger, in one transaction. `OrderExecutor` runs one account's orders with them: submit one
order (stored → sent → recorded; an ambiguous answer looked up at once, never re-sent) and
reconcile every open order by client order id at the start of each cycle, canceling one the venue
has kept open too long (`lookup.OPEN_ORDER_TIMEOUT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from nija.brokers.base import AuthError, Broker, BrokerError, TransientError
from nija.execution.booking import Answer, Booking, Outcome, PositionKey, book
from nija.execution.lookup import OPEN_ORDER_TIMEOUT, look_up, lookup_outcome, open_too_long
from nija.execution.sending import Sent, send
from nija.faults import crash_point
from nija.models import (
    OPEN_ORDER_STATUSES,
    BrokerName,
    CopyLedgerEntry,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    utc_now,
)
from nija.store import Store

__all__ = ["Execution", "OrderExecutor"]


class Execution:
    """Batch steps of the one order lifecycle; thread-safe (each thread gets its own connection)."""

    def __init__(self, store: Store, log: Any) -> None:
        self.store = store
        self.log = log

    def store_intents(self, requests: Sequence[OrderRequest]) -> list[Order]:
        """Write intents in one transaction, before any of them is sent; returns them as pending orders."""
        at = self.store.insert_orders(requests)
        if not requests:
            return []
        # One validated order, copied per request: a fan-out stores a thousand intents at once.
        pending = Order(request=requests[0], status=OrderStatus.PENDING, created_at=at, updated_at=at)
        return [pending.model_copy(update={"request": r}) for r in requests]

    def book(self, answers: Sequence[Answer], *, master_equity: Decimal | None = None) -> Booking:
        """What recording `answers` would write, from what the store holds now (known trade ids,
        positions); `master_equity` is given for a master account, whose new fills emit signals."""
        trade_ids: list[str] = []
        symbols: dict[tuple[str, str], set[str]] = {}
        for answer in answers:
            if answer.report.fills:  # an acknowledgment without fills moves no position
                request = answer.order.request
                trade_ids.extend(f.trade_id for f in answer.report.fills)
                symbols.setdefault((str(request.broker), request.symbol), set()).add(request.account)
        known: dict[tuple[str, str], set[str]] = {}
        for broker, account, trade_id in self.store.known_fills(trade_ids) if trade_ids else ():
            known.setdefault((broker, account), set()).add(trade_id)
        positions: dict[PositionKey, Position | None] = {}
        for (broker, symbol), accounts in symbols.items():
            found = self.store.positions_of(BrokerName(broker), symbol, accounts)
            positions.update({(broker, account, symbol): found.get(account) for account in accounts})
        booking = book(answers, known, positions, master_equity)
        for answer in booking.stale:
            self.log.warning("order_answer_stale", client_order_id=answer.order.request.client_order_id,
                             stored=str(answer.order.status), venue=str(answer.report.status))
        return booking

    def write(self, booking: Booking, ledger: Sequence[CopyLedgerEntry] = ()) -> None:
        """Write a booking (and copy ledger entries) in one transaction."""
        if booking.recording.reports or ledger:
            self.store.record(replace(booking.recording, ledger=ledger))

    def record(self, answers: Sequence[Answer], *, master_equity: Decimal | None = None) -> Booking:
        """Book and write `answers` in one transaction."""
        booking = self.book(answers, master_equity=master_equity)
        self.write(booking)
        return booking


class OrderExecutor:
    """One account's orders, driven by the thread that owns the account (DESIGN invariant 7)."""

    def __init__(self, broker: Broker, store: Store, log: Any, *, open_order_timeout: timedelta = OPEN_ORDER_TIMEOUT) -> None:
        self._broker = broker
        self._store = store
        self._log = log
        self._execution = Execution(store, log)
        self._open_order_timeout = open_order_timeout

    def submit(self, request: OrderRequest, *, master_equity: Decimal | None = None) -> Outcome | None:
        """Store the intent, send it, record the answer; returns the order's outcome.

        None for an intent already handled (same deterministic id, final). A definitive refusal
        is recorded and returned (nothing filled); `AuthError` is recorded then raised (the
        account stops). Raises `TransientError` while an ambiguous answer stays unresolved.
        `master_equity` is given for master accounts, whose fills emit copy signals.
        """
        existing = self._store.get_order(request.client_order_id)
        if existing is not None:
            if existing.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                return self._resolve(existing, master_equity)
            return None  # this exact intent was already sent and answered
        crash_point("before_intent")
        [order] = self._execution.store_intents([request])
        crash_point("after_intent")
        sent = send(self._broker, request, wait_for_fill=True)
        crash_point("after_send")
        [outcome] = self._execution.record([Answer(order, sent.report)], master_equity=master_equity).outcomes.values()
        crash_point("after_record")
        self._log_sent(sent, outcome)
        if isinstance(sent.error, AuthError):
            raise sent.error
        if sent.ambiguous:
            return self._resolve(outcome.order, master_equity)
        return outcome

    def _log_sent(self, sent: Sent, outcome: Outcome) -> None:
        request = sent.request
        if sent.report.status is OrderStatus.REJECTED:
            self._log.warning("order_rejected", symbol=request.symbol, side=request.side,
                              client_order_id=request.client_order_id, error=sent.report.error)
        elif sent.ambiguous:
            self._log.warning("order_answer_lost", symbol=request.symbol, client_order_id=request.client_order_id,
                              error=sent.report.error)
        elif outcome.order.filled_qty > 0:
            self._log.info("order_filled", symbol=request.symbol, side=request.side, qty=str(outcome.order.filled_qty),
                           price=str(outcome.order.avg_price), fee=str(outcome.order.fee),
                           client_order_id=request.client_order_id, reason=request.reason)

    def _resolve(self, order: Order, master_equity: Decimal | None) -> Outcome | None:
        """Look an open order up by client order id and record what the venue says."""
        found = look_up(self._broker, order)
        report = lookup_outcome(order, found, utc_now())
        if report is None:
            raise TransientError(f"order {order.request.client_order_id} outcome unknown; will look it up again")
        booking = self._execution.record([Answer(order, report)], master_equity=master_equity)
        if booking.stale:
            raise TransientError(f"order {order.request.client_order_id}: the venue's answer went backwards; looking again")
        [outcome] = booking.outcomes.values()
        if found is None and order.status is not OrderStatus.PENDING:
            self._log.warning("order_presumed_refused", client_order_id=order.request.client_order_id)
        elif outcome.fills:
            self._log.info("order_filled", symbol=order.request.symbol, side=order.request.side,
                           qty=str(outcome.order.filled_qty), price=str(outcome.order.avg_price),
                           client_order_id=order.request.client_order_id, reason=order.request.reason)
        return outcome

    def reconcile(self, *, master_equity: Decimal | None = None) -> int:
        """Resolve every pending, unknown or still-open order of this account by client order id.

        An order whose outcome is still unknown stays so (it is retried next cycle) and does not
        stop the others, nor the cycle: exits must go on. Returns how many orders were looked at.
        """
        orders = self._store.orders_in_status(self._broker.name, self._broker.account, OPEN_ORDER_STATUSES)
        for order in orders:
            try:
                outcome = self._resolve(order, master_equity)
                if outcome is not None and open_too_long(order, outcome.order.status, utc_now(), self._open_order_timeout):
                    outcome = self._cancel(outcome.order, master_equity)
            except TransientError as exc:
                self._log.warning("order_unresolved", client_order_id=order.request.client_order_id, error=str(exc))
                continue
            self._log.info("order_reconciled", client_order_id=order.request.client_order_id,
                           status=str(outcome.order.status) if outcome is not None else None)
        return len(orders)

    def _cancel(self, order: Order, master_equity: Decimal | None) -> Outcome | None:
        """Cancel an order the venue has kept open past the timeout, then record what the venue
        says of it (canceled with what filled, or filled after all). A cancel that fails is tried
        again at the next cycle; it never fails this one (exits must go on)."""
        cid = order.request.client_order_id
        age_s = round((utc_now() - order.created_at).total_seconds())
        self._log.warning("order_open_too_long", client_order_id=cid, symbol=order.request.symbol,
                          status=str(order.status), filled_qty=str(order.filled_qty), age_s=age_s,
                          note="canceling it: its funds or coins are held and its position's exits wait")
        try:
            if not self._broker.cancel_order(order):
                self._log.info("order_cancel_refused", client_order_id=cid, note="closed meanwhile: looked up")
        except AuthError:
            raise
        except BrokerError as exc:
            self._log.warning("order_cancel_failed", client_order_id=cid, error=f"{type(exc).__name__}: {exc}")
            return None
        return self._resolve(order, master_equity)

    def unresolved_symbols(self) -> set[str]:
        """Symbols with an order whose outcome is not final yet: no new order goes there meanwhile."""
        orders = self._store.orders_in_status(self._broker.name, self._broker.account, OPEN_ORDER_STATUSES)
        return {order.request.symbol for order in orders}
