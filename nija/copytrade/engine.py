"""CopyEngine: fans every master fill out to the users of that broker, exactly once.

One engine thread wakes on new signals (an in-process event, plus a poll of the outbox so a
signal written by another process is picked up too) and fans each signal out on a bounded
thread pool, one task per eligible user: a slow or failing user never delays another.

The hot path of a signal is one venue round trip per user, and a fixed number of store
transactions per signal, whatever the number of users (`dispatch`):

1. every (signal, user) ledger row, in one transaction, with a deterministic client order id;
2. sizing from each user's cached balance (`accounts.CachedBalance`; exits read the holding fresh);
3. every order intent, in one transaction — nothing is sent before its intent is stored;
4. the orders, concurrently; a venue acknowledgment (an order id) ends a user's hot path;
5. every answer and ledger row, in one transaction.

Fills are read afterwards (`settle`: one lookup per sent order, recorded in one transaction),
which turns "sent" ledger rows into filled/partial. After a crash, a pending intent is looked up
by client order id before it is ever sent; a sent one is only looked up. Signals older than the
age limit are not chased: their unsent copies are marked `expired`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from nija.brokers.base import AuthError, InsufficientFunds, MarketDataError, OrderRejected, TransientError
from nija.brokers.fees import fee_schedule
from nija.copytrade.followers import BOOK_REFRESH_SECONDS, BOOK_STALE_SECONDS, CachedBalance, Follower
from nija.copytrade.sizing import DEFAULT_MAX_USER_RISK, DEFAULT_MIN_POSITION_USD, CopySize, size_copy_entry, size_copy_exit
from nija.logs import redact_text
from nija.models import (
    BrokerName,
    ExecutionReport,
    MarketRules,
    Order,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    TradeSignal,
    advance_order_status,
    client_order_id_for,
    utc_now,
)
from nija.store import Store
from nija.trading.orders import OrderExecutor, fills_of, lookup_outcome

__all__ = ["CopyEngine", "ledger_status"]

T = TypeVar("T")
R = TypeVar("R")

POLL_SECONDS: Final = 1.0  # the outbox poll that picks up signals written by another process
DEFAULT_MAX_AGE_SECONDS: Final = 60.0
REFRESH_CHUNK: Final = 64  # background balance reads per pass, so a new signal never waits long
_OPEN_ROWS: Final = frozenset({"pending", "sent", "unknown"})  # ledger rows a later pass must resolve


def ledger_status(status: OrderStatus, filled_qty: Decimal, fresh: bool = True) -> str:
    """The copy ledger's status for an order's state: filled / partial / failed / expired, or
    sent / unknown while the venue's final answer is still to be read."""
    if status is OrderStatus.FILLED:
        return "filled"
    if status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL):
        return "sent"
    if status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
        return "unknown"
    if filled_qty > 0:
        return "partial"  # canceled or expired after a partial fill
    return "expired" if status is OrderStatus.CANCELED and not fresh else "failed"


def _reservation(request: OrderRequest) -> Decimal:
    """Cash an acknowledged quote buy may spend until its fill is read: the cost and a taker fee."""
    return request.quantity * (1 + fee_schedule(request.broker).taker)


@dataclass(frozen=True, slots=True)
class _Sent:
    """One user's order after its send: the venue's report (or the refusal), and when."""

    user: Follower
    request: OrderRequest
    report: ExecutionReport
    acked_at_ms: float  # latency from the master fill, in ms


class CopyEngine:
    """The copy-trading thread; `run` is the thread target, `process_pending` one pass."""

    def __init__(
        self,
        store: Store,
        users: Sequence[Follower],
        log: Any,
        *,
        copy_mode: str = "MASTER_FOLLOW",
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        max_workers: int = 32,
        max_user_risk: Decimal = DEFAULT_MAX_USER_RISK,
        min_position_usd: Decimal = DEFAULT_MIN_POSITION_USD,
        book_refresh_seconds: float = BOOK_REFRESH_SECONDS,
        unavailable: Sequence[tuple[BrokerName, str, str]] = (),
        stop: threading.Event | None = None,
    ) -> None:
        """`unavailable` lists configured users the daemon could not set up (broker, user id,
        why): they are not copied to, but status lists them with the reason."""
        self.store = store
        self._unavailable = [
            {"broker": str(broker), "user_id": user_id, "state": "failed", "enabled": True, "last_error": why,
             "equity": None, "available": None, "equity_at": None}
            for broker, user_id, why in unavailable
        ]
        self.log = log
        self.copy_mode = copy_mode
        self.max_age_seconds = max_age_seconds
        self.max_user_risk = max_user_risk
        self.min_position_usd = min_position_usd
        self.book_refresh_seconds = book_refresh_seconds
        self.stop = stop or threading.Event()
        self.wake = threading.Event()  # set by the broker loops after a master fill
        self._all = list(users)
        self._by_id = {user.user_id: user for user in users}
        self._users: dict[BrokerName, list[Follower]] = {}
        for user in users:
            self._users.setdefault(user.broker.name, []).append(user)
        self._executors = {
            user.user_id: OrderExecutor(user.broker, store, log.bind(account=user.user_id), track_positions=False)
            for user in users
        }
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="copy")
        self._started = False

    @property
    def user_count(self) -> int:
        """Users this engine copies to (the unavailable ones not counted)."""
        return len(self._all)

    # -- thread ------------------------------------------------------------------------------

    def run(self) -> None:
        """Thread target: register users, then process the outbox whenever woken (or polled)."""
        self.log.info("copy_engine_started", mode=self.copy_mode, users=len(self._all))
        try:
            self.start()
        except Exception as exc:  # reads failing at start are per-user health, this is the store
            self.log.error("copy_start_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))
        while not self.stop.is_set():
            try:
                if not self.process_pending():
                    self.refresh_books(self._stale_books(REFRESH_CHUNK))  # idle: keep balances fresh
            except Exception as exc:  # the engine outlives any one bad signal or store hiccup
                self.log.error("copy_pass_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.log.info("copy_engine_stopped")

    def start(self) -> None:
        """List every user in the store (status shows them at once), then read their balances."""
        self.store.save_copy_users([*self._unavailable, *(user.state_row() for user in self._all)])
        self.refresh_books(self._all)
        self._started = True

    def process_pending(self) -> int:
        """Fan out every pending signal, oldest first, then settle what was sent; returns how
        many signals were pending."""
        pending = self.store.signals("pending")
        for signal, _ in pending:
            if self.stop.is_set():
                break
            self.dispatch(signal)
        if pending:
            self.settle()
        return len(pending)

    # -- balances ----------------------------------------------------------------------------

    def _stale_books(self, limit: int) -> list[Follower]:
        """Users due a background balance read: read (or tried) longer than the refresh period ago."""
        now, clock = utc_now(), time.monotonic()
        stale = [
            u for u in self._all
            if u.unavailable(now) is None and clock - u.read_tried_at >= self.book_refresh_seconds
        ]
        return stale[:limit]

    def refresh_books(self, users: Sequence[Follower]) -> None:
        """Read the users' balances concurrently (sizing cache and status equity); one store write."""
        if not users:
            return
        for user, outcome in zip(users, self._map(self._read_book, users)):
            if isinstance(outcome, Exception):
                self.log.warning("copy_user_read_failed", account=user.user_id, error=str(outcome))
        self.store.save_copy_users([user.state_row() for user in users])

    def _read_book(self, user: Follower) -> None:
        with user.lock:
            user.read_tried_at = time.monotonic()  # a failing account is retried once a period, not every poll
            snapshot = self._guarded(user, user.broker.balance_snapshot)
            reserved = user.balance.reserved if user.balance is not None else Decimal(0)
            user.balance = CachedBalance.of(snapshot)
            user.balance.reserved = reserved
            user.record_ok()

    def _guarded(self, user: Follower, call: Callable[[], T]) -> T:
        """A call to the user's account, its outcome recorded in the user's health."""
        try:
            return call()
        except AuthError as exc:  # credentials refused: the user is failed until restart
            user.record_error(redact_text(str(exc)), auth=True)
            raise
        except (TransientError, MarketDataError) as exc:  # the account is reachable only badly: degraded
            user.record_error(redact_text(f"{type(exc).__name__}: {exc}"))
            raise
        # A refused order (minimum, funds) says nothing about the account's health.

    def _map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R | Exception]:
        """Run `fn` over `items` on the pool; an item's exception is its result, never raised."""

        def safe(item: T) -> R | Exception:
            try:
                return fn(item)
            except Exception as exc:  # isolation: one user's failure is that user's result
                return exc

        return list(self._pool.map(safe, items))

    # -- one signal: the hot path ------------------------------------------------------------

    def dispatch(self, signal: TradeSignal) -> dict[str, str]:
        """Send one signal's copies and record the acknowledgments; returns user id -> ledger status."""
        if self.copy_mode != "MASTER_FOLLOW":
            self.store.finish_signal(signal.signal_id, "skipped", f"COPY_TRADING_MODE={self.copy_mode}")
            return {}
        if signal.side is Side.BUY and signal.master_equity <= 0:
            self.store.finish_signal(signal.signal_id, "rejected", f"master equity {signal.master_equity} <= 0")
            return {}
        started = time.monotonic()
        users = [u for u in self._users.get(signal.broker, []) if u.configured_for(signal)]
        client_ids = {u.user_id: client_order_id_for("copy", signal.signal_id, u.user_id) for u in users}
        statuses = self.store.open_copy_rows(signal.signal_id, signal.broker, client_ids)
        open_users = [u for u in users if statuses.get(u.user_id) in _OPEN_ROWS]
        stored = self.store.orders_by_id(client_ids[u.user_id] for u in open_users) if open_users else {}
        new = [u for u in open_users if client_ids[u.user_id] not in stored]
        # Intents a crashed pass stored: looked up by client id, sent only if the venue never saw them.
        recover = [u for u in open_users if stored.get(client_ids[u.user_id]) is not None
                   and stored[client_ids[u.user_id]].status is OrderStatus.PENDING]
        fresh = (utc_now() - signal.fill_time).total_seconds() <= self.max_age_seconds
        ledger, plans = self._plan(signal, new, client_ids, fresh)
        if plans:
            self.store.insert_orders([request for _, request, _ in plans])
        planned = time.monotonic()
        sent = self._map(lambda plan: self._send_one(signal, plan[0], plan[1]), plans)
        recovered = self._map(lambda user: self._recover_one(signal, user, client_ids[user.user_id], fresh), recover)
        acknowledged = time.monotonic()
        reports = []
        for (user, request, size), outcome in zip(plans, sent):
            assert not isinstance(outcome, Exception), "_send_one never raises"
            reports.append(outcome.report)
            ledger.append(self._ack_row(signal, outcome, size, fresh))
        ledger.extend(row for row in recovered if not isinstance(row, Exception))
        if ledger or reports:
            self.store.record_copy_outcomes(reports, ledger)
        final = {**statuses, **{row["user_id"]: row["status"] for row in ledger}}
        if not any(status in _OPEN_ROWS for status in final.values()):
            self.store.finish_signal(signal.signal_id, "done")
        self._save_changed(plans, recover)
        # Where a fan-out's time went: rows, sizing and intents / the sends / recording the answers.
        phases = {"plan_ms": (planned - started) * 1000, "send_ms": (acknowledged - planned) * 1000,
                  "record_ms": (time.monotonic() - acknowledged) * 1000}
        self._log_summary(signal, final, started, **{k: round(v, 1) for k, v in phases.items()})
        return final

    def _plan(
        self, signal: TradeSignal, users: Sequence[Follower], client_ids: dict[str, str], fresh: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[Follower, OrderRequest, CopySize]]]:
        """Ledger rows decided without sending (expired, skipped, failed reads) and the orders to send."""
        ledger: list[dict[str, Any]] = []
        now = utc_now()
        ready = []
        for user in users:
            if not fresh:
                age = (now - signal.fill_time).total_seconds()
                ledger.append(self._row(signal, user, "expired", f"signal {age:.0f}s old > {self.max_age_seconds:.0f}s"))
            elif (why := user.unavailable(now)) is not None:
                ledger.append(self._row(signal, user, "skipped", why))
            else:
                ready.append(user)
        # Exits read the holding fresh (never sized from a cache); entries only when no usable book.
        reads = [u for u in ready if signal.side is Side.SELL or u.balance is None
                 or u.balance.age_seconds(now) > BOOK_STALE_SECONDS]
        holdings = dict(zip((u.user_id for u in reads), self._map(lambda u: self._read_for(signal, u), reads)))
        rules = self._rules(signal, ready)
        plans = []
        for user in ready:
            held = holdings.get(user.user_id)
            if isinstance(held, Exception):
                if isinstance(held, TransientError):
                    continue  # the row stays pending: the next pass reads again while the signal is fresh
                ledger.append(self._row(signal, user, "failed", redact_text(f"{type(held).__name__}: {held}")))
                continue
            try:
                size, equity = self._size(signal, user, held, rules or user.broker.market_rules(signal.symbol))
            except Exception as exc:  # a bad market or balance answer fails this user only
                ledger.append(self._row(signal, user, "failed", redact_text(f"{type(exc).__name__}: {exc}")))
                continue
            if size.skipped:
                ledger.append(self._row(signal, user, "skipped", size.skip_reason, size_asked=Decimal(0),
                                        unit=size.unit, user_equity=equity))
                continue
            request = OrderRequest(
                broker=signal.broker, account=user.user_id, symbol=signal.symbol, side=signal.side,
                quantity=size.quantity, unit=size.unit, client_order_id=client_ids[user.user_id],
                reason=f"copy of {signal.signal_id}: {size.detail}"[:500],
            )
            plans.append((user, request, size))
        return ledger, plans

    def _rules(self, signal: TradeSignal, users: Sequence[Follower]) -> MarketRules | None:
        """The market's rules, read once per signal: every client of a venue shares its markets."""
        for user in users[:1]:
            try:
                return user.broker.market_rules(signal.symbol)
            except Exception:  # noqa: BLE001 - each user then reads (and fails) on its own
                return None
        return None

    def _read_for(self, signal: TradeSignal, user: Follower) -> Decimal | None:
        """Inline read before sizing: the holding for an exit, else the balance (an entry's book)."""
        with user.lock:
            if signal.side is Side.SELL:
                base = signal.symbol.split("/")[0]
                held = self._guarded(user, user.broker.holdings).get(base, Decimal(0))
                user.record_ok()
                return held
        self._read_book(user)
        return None

    def _size(
        self, signal: TradeSignal, user: Follower, held: Decimal | None, rules: MarketRules
    ) -> tuple[CopySize, Decimal | None]:
        """The user's copy size, and the user's equity it was sized on (entries)."""
        if signal.side is Side.SELL:
            return size_copy_exit(
                master_sold_qty=signal.qty, master_position_before=signal.master_position_before,
                user_holding=held or Decimal(0), rules=rules, price=signal.price,
            ), None
        book = user.balance
        assert book is not None, "an entry is sized after its book was read"
        return size_copy_entry(
            master_quote_value=signal.quote_value, master_equity=signal.master_equity,
            user_equity=book.equity, user_available=book.free_cash(),
            risk_multiplier=user.risk_multiplier, max_user_risk=self.max_user_risk,
            min_position_usd=self.min_position_usd, rules=rules, fee_rate=fee_schedule(signal.broker).taker,
        ), book.equity

    def _send_one(self, signal: TradeSignal, user: Follower, request: OrderRequest) -> _Sent:
        """Send one stored intent; the answer, a refusal or an ambiguity, never an exception."""
        cid = request.client_order_id
        with user.lock:
            try:
                report = self._guarded(user, lambda: user.send(request))
                user.record_ok()
            except (OrderRejected, InsufficientFunds, AuthError) as exc:  # definitive: never reached the book
                report = ExecutionReport(client_order_id=cid, status=OrderStatus.REJECTED,
                                         error=redact_text(f"{type(exc).__name__}: {exc}"))
            except Exception as exc:  # ambiguous (timeout, 5xx, bad answer): looked up, never re-sent
                report = ExecutionReport(client_order_id=cid, status=OrderStatus.UNKNOWN,
                                         error=redact_text(f"{type(exc).__name__}: {exc}"))
            if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE and user.balance is not None:
                if report.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.UNKNOWN):
                    user.balance.reserved += _reservation(request)  # until settled: the cash may be spent
                elif report.status is OrderStatus.FILLED:
                    user.balance.after_fill(request.side, report)
        now = utc_now()
        acked_ms = (now - signal.fill_time).total_seconds() * 1000
        if report.filled_qty > 0 and not report.fills:  # a venue that fills at once (paper): its fill rows
            pending = Order(request=request, status=OrderStatus.PENDING, created_at=now, updated_at=now)
            report = report.model_copy(update={"fills": fills_of(pending, report)})
        return _Sent(user, request, report, acked_ms)

    def _ack_row(self, signal: TradeSignal, sent: _Sent, size: CopySize, fresh: bool) -> dict[str, Any]:
        report = sent.report
        status = ledger_status(report.status, report.filled_qty, fresh)
        equity = sent.user.balance.equity if signal.side is Side.BUY and sent.user.balance is not None else None
        values: dict[str, Any] = {"size_asked": sent.request.quantity, "unit": size.unit, "user_equity": equity}
        if report.status not in (OrderStatus.REJECTED, OrderStatus.UNKNOWN):
            values["latency_ms"] = round(sent.acked_at_ms, 1)
        if report.filled_qty > 0:
            values.update(size_filled=report.filled_qty, price=report.avg_price, fee=report.fee)
        reason = report.error or (None if status in ("filled", "sent") else "not filled")
        return self._row(signal, sent.user, status, reason, **values)

    def _recover_one(self, signal: TradeSignal, user: Follower, client_order_id: str, fresh: bool) -> dict[str, Any]:
        """A stored intent the venue may or may not have (a crash between storing and recording):
        looked up by client order id and sent only if the venue never saw it and it is fresh."""
        executor = self._executors[user.user_id]
        with user.lock:
            try:
                order = self.store.get_order(client_order_id)
                assert order is not None
                executor.submit(order.request, None, send_if_unsent=fresh)
            except TransientError as exc:  # outcome unknown: resolved by client order id next pass
                return self._row(signal, user, "unknown", redact_text(str(exc)))
            except Exception as exc:  # one user's failure is that user's ledger row, nothing more
                error = redact_text(f"{type(exc).__name__}: {exc}")
                if isinstance(exc, AuthError):
                    user.record_error(error, auth=True)
                stored = self.store.get_order(client_order_id)
                open_ = stored is not None and stored.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
                return self._row(signal, user, "unknown" if open_ else "failed", error)
        return self._settled_row(signal, user, self.store.get_order(client_order_id), fresh)  # type: ignore[arg-type]

    # -- settling: fills after the hot path ----------------------------------------------------

    def settle(self) -> int:
        """Look up every sent (or ambiguous) copy order by client id, record fills and ledger rows
        in one transaction, and close the signals left with no open row; returns rows settled."""
        work = self.store.copies_to_settle()
        if not work:
            return 0
        signals = {s.signal_id: s for s, _ in self.store.signals("pending")}
        by_user: dict[str, list[Order]] = {}
        for _, user_id, order in work:
            if user_id in self._by_id:
                by_user.setdefault(user_id, []).append(order)
        looked = self._map(self._lookup_user, [(self._by_id[u], orders) for u, orders in by_user.items()])
        found: dict[str, ExecutionReport | None] = {}
        for outcome in looked:
            if not isinstance(outcome, Exception):
                found.update(outcome)
        now = utc_now()
        reports, ledger, touched = [], [], set()
        for signal_id, user_id, order in work:
            user = self._by_id.get(user_id)
            if user is None or order.request.client_order_id not in found:
                continue
            settled = self._settle_one(order, found[order.request.client_order_id], now)
            if settled is None:
                continue
            report, after = settled
            if report is not None:
                reports.append(report)
                self._book_after_settle(user, order, after, report)
            signal = signals.get(signal_id)
            fresh = signal is None or (now - signal.fill_time).total_seconds() <= self.max_age_seconds
            ledger.append(self._settled_fields(signal_id, user_id, after, fresh))
            touched.add(signal_id)
        if reports or ledger:
            self.store.record_copy_outcomes(reports, ledger)
            counts: dict[str, int] = {}
            for row in ledger:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
            self.log.info("copy_settled", signals=len(touched), **counts)
        for signal_id in touched:
            if not any(row["status"] in _OPEN_ROWS for row in self.store.copy_rows(signal_id)):
                self.store.finish_signal(signal_id, "done")
        self.store.save_copy_users([self._by_id[u].state_row() for u in by_user])
        return len(ledger)

    def _lookup_user(self, item: tuple[Follower, list[Order]]) -> dict[str, ExecutionReport | None]:
        """Look up one user's open copy orders (final ones need no lookup); unreadable ones are left out."""
        user, orders = item
        found: dict[str, ExecutionReport | None] = {}
        with user.lock:
            for order in orders:
                cid = order.request.client_order_id
                if order.status in (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELED):
                    found[cid] = None
                    continue
                try:
                    found[cid] = self._guarded(user, lambda: user.broker.fetch_order(cid, order.request.symbol))
                    user.record_ok()
                except Exception as exc:  # still unknown: looked up again on the next pass
                    self.log.warning("copy_lookup_failed", account=user.user_id, client_order_id=cid, error=str(exc))
        return found

    def _settle_one(
        self, order: Order, found: ExecutionReport | None, now: datetime
    ) -> tuple[ExecutionReport | None, Order] | None:
        """(report to record or None, the order after it), or None while the outcome is unknown."""
        if order.status in (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELED):
            return None, order  # already final: only the ledger row was behind
        outcome = lookup_outcome(order, found, now)
        if outcome is None:
            return None
        try:
            status = advance_order_status(order.status, outcome.status)
        except ValueError:  # a stale read (the venue's answer went backwards): look again later
            return None
        recorded = self.store.base_fee_recorded(order.request.client_order_id) if outcome.fee_in_base > 0 else Decimal(0)
        report = outcome.model_copy(update={"fills": fills_of(order, outcome, recorded)})
        after = order.model_copy(update={
            "status": status, "filled_qty": report.filled_qty, "avg_price": report.avg_price, "fee": report.fee,
            "error": report.error or order.error,
        })
        return report, after

    def _book_after_settle(self, user: Follower, before: Order, after: Order, report: ExecutionReport) -> None:
        """Move the user's cached balance by what settled; release the quote the buy reserved."""
        book = user.balance
        if book is None:
            return
        request = before.request
        if after.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.UNKNOWN):
            return  # still working: the reservation stays
        if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE:
            book.reserved = max(book.reserved - _reservation(request), Decimal(0))
        book.after_fill(request.side, report)

    def _settled_fields(self, signal_id: str, user_id: str, order: Order, fresh: bool) -> dict[str, Any]:
        status = ledger_status(order.status, order.filled_qty, fresh)
        row: dict[str, Any] = {"signal_id": signal_id, "user_id": user_id, "status": status}
        if order.filled_qty > 0:
            row.update(size_filled=order.filled_qty, price=order.avg_price, fee=order.fee)
        if status not in ("filled", "sent"):
            row["reason"] = order.error or "not filled"
        return row

    def _settled_row(self, signal: TradeSignal, user: Follower, order: Order, fresh: bool) -> dict[str, Any]:
        fields = self._settled_fields(signal.signal_id, user.user_id, order, fresh)
        fields.update(size_asked=order.request.quantity, unit=order.request.unit)
        if order.filled_qty > 0:
            fields["latency_ms"] = round((order.updated_at - signal.fill_time).total_seconds() * 1000, 1)
        return fields

    # -- bookkeeping -------------------------------------------------------------------------

    def _row(self, signal: TradeSignal, user: Follower, status: str, reason: str | None = None, **values: Any) -> dict[str, Any]:
        return {"signal_id": signal.signal_id, "user_id": user.user_id, "status": status, "reason": reason, **values}

    def _save_changed(self, plans: Sequence[tuple[Follower, OrderRequest, CopySize]], recover: Sequence[Follower]) -> None:
        """Persist the state of users whose health moved off healthy during this signal (rare)."""
        changed = [u for u in [p[0] for p in plans] + list(recover) if u.health.current.consecutive_errors]
        if changed:
            self.store.save_copy_users([u.state_row() for u in changed])

    def _log_summary(self, signal: TradeSignal, final: dict[str, str], started: float, **phases: float) -> None:
        counts: dict[str, int] = {}
        for status in final.values():
            counts[status] = counts.get(status, 0) + 1
        self.log.info(
            "copy_summary", signal_id=signal.signal_id, broker=str(signal.broker), symbol=signal.symbol,
            side=str(signal.side), users_total=len(final),
            succeeded=counts.get("filled", 0) + counts.get("partial", 0) + counts.get("sent", 0),
            skipped=counts.get("skipped", 0), failed=counts.get("failed", 0), expired=counts.get("expired", 0),
            unknown=counts.get("unknown", 0), fanout_ms=round((time.monotonic() - started) * 1000, 1), **phases,
        )
