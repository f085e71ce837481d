"""Order execution for one account: intent stored before send, no blind re-send, reconciliation.

`OrderExecutor.submit` writes the order row, sends it, and records the venue's answer with the
position it produces in one store transaction. A definitive refusal is recorded `rejected`; an
ambiguous answer (timeout, dropped connection) leaves the order `unknown` and it is looked up by
client order id, never sent twice. `reconcile` resolves every pending/unknown order the same way,
at start and at the start of each cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from nija.brokers.base import AuthError, Broker, InsufficientFunds, OrderRejected, TransientError
from nija.models import ExecutionReport, Fill, Order, OrderRequest, OrderStatus, Position, Side, TradeSignal, utc_now
from nija.store import Store

__all__ = ["OrderExecutor", "fills_of", "lookup_outcome", "position_after_fill"]

_TP_FRACTIONS_LEFT: Final = ((Decimal("0.25"), 2), (Decimal("0.5"), 1))  # remaining share -> stage reached
_DUST_SHARE: Final = Decimal("1e-9")  # below this share of the initial size a position is closed
UNKNOWN_GRACE: Final = timedelta(minutes=10)  # an ambiguous order not listed by then was never booked
_OPEN: Final = (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.SUBMITTED, OrderStatus.PARTIAL)


def position_after_fill(
    before: Position | None, order: OrderRequest, fills: Sequence[Fill]
) -> tuple[Position | None, bool]:
    """Return (position after `fills`, closed?) — pure bookkeeping of one order's new fills.

    A buy opens (or adds to) a position with the stop planned in the intent. A sell reduces it;
    the take-profit stage is derived from what is left, so a partial exit recovered by
    reconciliation after a crash moves the ladder exactly as the live path would have.
    """
    traded = sum((fill.qty for fill in fills), Decimal(0))
    if traded <= 0:
        return before, False
    price = sum((fill.qty * fill.price for fill in fills), Decimal(0)) / traded
    # What the account holds moved by the traded quantity less any fee the venue took in base.
    filled = traded - sum((fill.fee_in_base for fill in fills), Decimal(0))
    if order.side is Side.BUY:
        if before is None:
            stop = order.stop_price if order.stop_price is not None and order.stop_price < price else price * Decimal("0.99")
            return (
                Position(
                    broker=order.broker, account=order.account, symbol=order.symbol, qty=filled,
                    initial_qty=filled, entry_price=price, stop_price=stop, risk_per_unit=price - stop,
                    opened_at=fills[0].ts_seen,
                ),
                False,
            )
        qty = before.qty + filled
        entry = (before.entry_price * before.qty + price * filled) / qty
        return before.model_copy(update={"qty": qty, "initial_qty": before.initial_qty + filled, "entry_price": entry}), False
    if before is None:
        return None, False
    remaining = before.qty - filled
    if remaining <= before.initial_qty * _DUST_SHARE:
        return None, True
    share = remaining / before.initial_qty
    stage = before.tp_stage
    for threshold, reached in _TP_FRACTIONS_LEFT:
        if share <= threshold + _DUST_SHARE:
            stage = max(stage, reached)
            break
    stop = max(before.stop_price, before.entry_price) if stage >= 1 else before.stop_price
    return before.model_copy(update={"qty": remaining, "tp_stage": stage, "stop_price": stop}), False


def fills_of(order: Order, report: ExecutionReport, base_fee_recorded: Decimal = Decimal(0)) -> tuple[Fill, ...]:
    """The fills a report carries; for venues that report only cumulative totals, the increment
    since what the store already recorded, as one fill with a deterministic trade id."""
    if report.fills:
        return report.fills
    delta = report.filled_qty - order.filled_qty
    if delta <= 0 or report.avg_price is None:
        return ()
    before_notional = order.filled_qty * (order.avg_price or Decimal(0))
    price = (report.filled_qty * report.avg_price - before_notional) / delta
    now = utc_now()
    return (
        Fill(
            broker=order.request.broker, account=order.request.account, symbol=order.request.symbol,
            side=order.request.side, trade_id=f"{order.request.client_order_id}:{report.filled_qty}",
            client_order_id=order.request.client_order_id, qty=delta, price=price,
            fee=max(report.fee - order.fee, Decimal(0)),
            fee_in_base=max(report.fee_in_base - base_fee_recorded, Decimal(0)),
            ts_exchange=now, ts_seen=now,
        ),
    )


def lookup_outcome(order: Order, found: ExecutionReport | None, now: datetime) -> ExecutionReport | None:
    """What a lookup by client order id means for a stored order: the venue's report to record,
    a CANCELED report when the venue never booked it, or None while the outcome is still unknown.

    Pending and unknown to the venue: the process stopped before sending it. Ambiguous (unknown)
    and still not listed after `UNKNOWN_GRACE`: refused before it was booked (a 504 or 429 in
    front of the matching engine). Either way it is never re-sent from here.
    """
    if found is not None:
        return found
    cid = order.request.client_order_id
    if order.status is OrderStatus.PENDING:
        return ExecutionReport(client_order_id=cid, status=OrderStatus.CANCELED, error="never reached the venue")
    if order.status is OrderStatus.UNKNOWN and now - order.updated_at >= UNKNOWN_GRACE:
        return ExecutionReport(
            client_order_id=cid, status=OrderStatus.CANCELED,
            error=f"not found at the venue {UNKNOWN_GRACE} after an ambiguous answer",
        )
    return None


class OrderExecutor:
    """Sends one account's orders; owned by that account's thread."""

    def __init__(
        self,
        broker: Broker,
        store: Store,
        log: object,
        *,
        master_equity: Callable[[], Decimal] | None = None,
        track_positions: bool = True,
    ) -> None:
        """`master_equity` is given for master accounts: their fills emit copy signals. Copy
        users run no strategy, so their executor tracks no positions (`track_positions`)."""
        self._broker = broker
        self._store = store
        self._log = log
        self._master_equity = master_equity
        self._track_positions = track_positions

    def submit(
        self, request: OrderRequest, position: Position | None, *, send_if_unsent: bool = False
    ) -> ExecutionReport | None:
        """Store the intent, send it, record the outcome. Returns the report when anything filled.

        Returns None for a definitive refusal (recorded, logged) or an intent already handled
        (same deterministic id). Raises `TransientError` when the outcome is still unknown.
        With `send_if_unsent`, an intent stored by a process that died before sending it (the
        venue has never seen its id) is sent now, once — the copy engine's exactly-once path.
        """
        existing = self._store.get_order(request.client_order_id)
        if existing is not None:
            if send_if_unsent and existing.status is OrderStatus.PENDING:
                found = self._broker.fetch_order(request.client_order_id, request.symbol)
                return self._send(request, position) if found is None else self._record(request, found, position)
            if existing.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                return self._resolve(existing, position)
            return None  # this exact intent was already sent and answered
        self._store.insert_order(request)
        return self._send(request, position)

    def _send(self, request: OrderRequest, position: Position | None) -> ExecutionReport | None:
        try:
            report = self._broker.place_order(request)
        except (OrderRejected, InsufficientFunds) as exc:
            self._store.mark_order(request.client_order_id, OrderStatus.REJECTED, error=str(exc))
            self._log.warning(  # type: ignore[attr-defined]
                "order_rejected", symbol=request.symbol, side=request.side,
                client_order_id=request.client_order_id, error=str(exc),
            )
            return None
        except AuthError as exc:
            # Refused before it reached the book: recorded, and the account stops (the caller's job).
            self._store.mark_order(request.client_order_id, OrderStatus.REJECTED, error=str(exc))
            raise
        except TransientError as exc:
            # Ambiguous: the venue may or may not have the order. Never re-send; look it up.
            self._store.mark_order(request.client_order_id, OrderStatus.UNKNOWN, error=str(exc))
            order = self._store.get_order(request.client_order_id)
            assert order is not None
            return self._resolve(order, position)
        return self._record(request, report, position)

    def _record(self, request: OrderRequest, report: ExecutionReport, position: Position | None) -> ExecutionReport | None:
        order = self._store.get_order(request.client_order_id)
        assert order is not None, "the intent is stored before anything is sent"
        recorded = self._store.base_fee_recorded(request.client_order_id)
        fills = tuple(
            f for f in fills_of(order, report, recorded) if not self._store.has_fill(f.broker, f.account, f.trade_id)
        )
        after, closed = position_after_fill(position, request, fills) if self._track_positions else (None, False)
        signals = self._signals(fills, position)
        self._store.apply_execution(report.model_copy(update={"fills": fills}), after, closed, signals)
        if report.filled_qty > 0:
            self._log.info(  # type: ignore[attr-defined]
                "order_filled", symbol=request.symbol, side=request.side, qty=str(report.filled_qty),
                price=str(report.avg_price), fee=str(report.fee), client_order_id=request.client_order_id,
                reason=request.reason,
            )
            return report
        return None

    def _signals(self, fills: Sequence[Fill], position: Position | None) -> list[TradeSignal]:
        """One copy signal per new master fill, with the position before that fill."""
        if self._master_equity is None or not fills:
            return []
        equity = self._master_equity()
        held = position.qty if position is not None else Decimal(0)
        signals = []
        for fill in fills:
            signals.append(TradeSignal.from_fill(fill, equity, held))
            held = held + fill.qty - fill.fee_in_base if fill.side is Side.BUY else max(held - fill.qty, Decimal(0))
        return signals

    def _resolve(self, order: Order, position: Position | None) -> ExecutionReport | None:
        found = self._broker.fetch_order(order.request.client_order_id, order.request.symbol)
        outcome = lookup_outcome(order, found, utc_now())
        if outcome is None:
            raise TransientError(f"order {order.request.client_order_id} outcome unknown; will look it up again")
        if found is None:  # never booked: closed here, never re-sent
            self._store.mark_order(order.request.client_order_id, OrderStatus.CANCELED, error=outcome.error)
            if order.status is not OrderStatus.PENDING:
                self._log.warning("order_presumed_refused", client_order_id=order.request.client_order_id)  # type: ignore[attr-defined]
            return None
        return self._record(order.request, outcome, position)

    def reconcile(self) -> int:
        """Resolve every pending, unknown or still-open order of this account by client order id.

        An order whose outcome is still unknown stays so (it is retried next cycle) and does not
        stop the others, nor the cycle: exits must go on. Returns how many orders were looked at.
        """
        broker, account = self._broker.name, self._broker.account
        orders = self._store.orders_in_status(broker, account, _OPEN)
        for order in orders:
            positions = {p.symbol: p for p in self._store.positions(broker, account)}
            try:
                self._resolve(order, positions.get(order.request.symbol))
            except TransientError as exc:
                self._log.warning(  # type: ignore[attr-defined]
                    "order_unresolved", client_order_id=order.request.client_order_id, error=str(exc)
                )
                continue
            self._log.info("order_reconciled", client_order_id=order.request.client_order_id)  # type: ignore[attr-defined]
        return len(orders)

    def unresolved_symbols(self) -> set[str]:
        """Symbols with an order whose outcome is not final yet: no new entry goes there meanwhile."""
        broker, account = self._broker.name, self._broker.account
        return {order.request.symbol for order in self._store.orders_in_status(broker, account, _OPEN)}
