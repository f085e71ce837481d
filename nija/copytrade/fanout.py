"""One signal fanned out to its followers, and the fills of sent copies settled afterwards.

The hot path of a signal is one venue round trip per follower and a fixed number of store
transactions, whatever the number of followers (`FanOut.dispatch`):

1. every (signal, follower) ledger row, in one transaction, with a deterministic client order id;
2. sizing from each follower's cached balance (`followers.CachedBalance`; exits read the holding);
3. every order intent, in one transaction (`Execution.store_intents`): nothing is sent before
   its intent is stored;
4. the orders, concurrently (`execution.sending.send`, acknowledgment only);
5. every answer with its ledger row, in one transaction (`Execution.record`).

`settle` then looks every sent copy up by client order id (`execution.lookup`) and books the
fills, positions and ledger rows in one transaction. After a crash, a pending intent is looked
up before it is ever sent; a sent one is only looked up. Signals older than the age limit are
not chased: their unsent copies are marked `expired`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from nija.brokers.base import TransientError
from nija.brokers.fees import fee_schedule
from nija.copytrade.followers import BOOK_STALE_SECONDS, Follower
from nija.copytrade.ledger import entry_for_order
from nija.copytrade.sizing import CopySize, size_copy_entry, size_copy_exit
from nija.execution.booking import Answer
from nija.execution.executor import Execution
from nija.execution.lookup import look_up, lookup_outcome
from nija.execution.sending import send
from nija.faults import crash_point
from nija.logs import redact_text
from nija.models import (
    CopyLedgerEntry,
    CopyStatus,
    MarketRules,
    Order,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    SignalStatus,
    TradeSignal,
    client_order_id_for,
    utc_now,
)

__all__ = ["FanOut", "FanOutLimits"]

T = TypeVar("T")
R = TypeVar("R")
_FINAL_ORDER: Final = (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class FanOutLimits:
    """Copy settings: how old a signal may be and the entry caps (`sizing`)."""

    max_age_seconds: float
    max_user_risk: Decimal
    min_position_usd: Decimal


def _reservation(request: OrderRequest) -> Decimal:
    """Cash an acknowledged quote buy may spend until its fill is read: the cost and a taker fee."""
    return request.quantity * (1 + fee_schedule(request.broker).taker)


class FanOut:
    """Copies signals to followers through the one execution layer; used by the engine's thread."""

    def __init__(self, execution: Execution, pool: ThreadPoolExecutor, limits: FanOutLimits, log: Any) -> None:
        self.execution = execution
        self.store = execution.store
        self.pool = pool
        self.limits = limits
        self.log = log

    def run_all(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R | Exception]:
        """Run `fn` over `items` on the pool; an item's exception is its result, never raised."""

        def safe(item: T) -> R | Exception:
            try:
                return fn(item)
            except Exception as exc:  # isolation: one follower's failure is that follower's result
                return exc

        return list(self.pool.map(safe, items))

    def _fresh(self, signal: TradeSignal, now: datetime) -> bool:
        return (now - signal.fill_time).total_seconds() <= self.limits.max_age_seconds

    # -- one signal: the hot path ------------------------------------------------------------

    def dispatch(self, signal: TradeSignal, followers: Sequence[Follower]) -> dict[str, CopyStatus]:
        """Send one signal's copies and record the acknowledgments; returns user id -> ledger status."""
        started = time.monotonic()
        client_ids = {f.user_id: client_order_id_for("copy", signal.signal_id, f.user_id) for f in followers}
        statuses = self.store.open_copy_rows(signal.signal_id, signal.broker, client_ids)
        open_followers = [f for f in followers if statuses.get(f.user_id, CopyStatus.PENDING).is_open]
        stored = self.store.orders_by_id(client_ids[f.user_id] for f in open_followers) if open_followers else {}
        new = [f for f in open_followers if client_ids[f.user_id] not in stored]
        # Intents a crashed pass stored: looked up by client id, sent only if the venue never saw them.
        recover = [(f, stored[client_ids[f.user_id]]) for f in open_followers
                   if client_ids[f.user_id] in stored and stored[client_ids[f.user_id]].status is OrderStatus.PENDING]
        fresh = self._fresh(signal, utc_now())
        ledger, plans = self._plan(signal, new, client_ids, fresh)
        orders = self.execution.store_intents([request for _, request, _ in plans]) if plans else []
        crash_point("copy_intents")
        planned = time.monotonic()
        sent = self.run_all(lambda item: self._send_one(signal, item[0], item[1]), list(zip([p[0] for p in plans], orders)))
        recovered = self.run_all(lambda item: self._recover_one(item[0], item[1], fresh), recover)
        acknowledged = time.monotonic()
        answers: list[Answer] = []
        acks: dict[str, tuple[Follower, float, Decimal | None]] = {}
        for (follower, _request, _size), order, result in zip(plans, orders, sent):
            assert not isinstance(result, Exception), "_send_one never raises"
            answer, latency_ms = result
            answers.append(answer)
            equity = follower.balance.equity if signal.side is Side.BUY and follower.balance is not None else None
            acks[order.request.client_order_id] = (follower, latency_ms, equity)
        for (follower, _order), result in zip(recover, recovered):
            if isinstance(result, Exception):  # looked up or re-sent on the next pass
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.UNKNOWN,
                                              redact_text(f"{type(result).__name__}: {result}")))
            elif result is not None:
                answers.append(result)
                acks[result.order.request.client_order_id] = (follower, None, None)  # type: ignore[assignment]
        booking = self.execution.book(answers)
        for answer in answers:
            cid = answer.order.request.client_order_id
            follower, latency_ms, equity = acks[cid]
            if cid not in booking.outcomes:
                continue  # a stale answer: settled later
            after = booking.outcomes[cid].order
            ack_latency = latency_ms if after.status not in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) else None
            ledger.append(entry_for_order(
                signal.signal_id, follower.user_id, after, fresh, asked=True, signal=signal,
                latency_ms=ack_latency, user_equity=equity,
            ))
            self._balance_after_ack(follower, after)
        self.execution.write(booking, ledger)
        crash_point("copy_recorded")
        final = {**statuses, **{entry.user_id: entry.status for entry in ledger}}
        if not any(status.is_open for status in final.values()):
            self.store.finish_signal(signal.signal_id, SignalStatus.DONE)
        # Where a fan-out's time went: rows, sizing and intents / the sends / recording the answers.
        phases = {"plan_ms": (planned - started) * 1000, "send_ms": (acknowledged - planned) * 1000,
                  "record_ms": (time.monotonic() - acknowledged) * 1000}
        self._log_summary(signal, final, started, **{k: round(v, 1) for k, v in phases.items()})
        return final

    def _plan(
        self, signal: TradeSignal, followers: Sequence[Follower], client_ids: dict[str, str], fresh: bool
    ) -> tuple[list[CopyLedgerEntry], list[tuple[Follower, OrderRequest, CopySize]]]:
        """Ledger entries decided without sending (expired, skipped, failed reads) and the orders to send."""
        ledger: list[CopyLedgerEntry] = []
        now = utc_now()
        ready = []
        for follower in followers:
            if not fresh:
                age = (now - signal.fill_time).total_seconds()
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.EXPIRED,
                                              f"signal {age:.0f}s old > {self.limits.max_age_seconds:.0f}s"))
            elif (why := follower.unavailable(now)) is not None:
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.SKIPPED, why))
            else:
                ready.append(follower)
        # Exits read the holding fresh (never sized from a cache); entries only when no usable balance.
        reads = [f for f in ready if signal.side is Side.SELL or f.balance is None
                 or f.balance.age_seconds(now) > BOOK_STALE_SECONDS]
        holdings = dict(zip((f.user_id for f in reads), self.run_all(lambda f: self._read_for(signal, f), reads)))
        rules = self._rules(signal, ready)
        plans = []
        for follower in ready:
            held = holdings.get(follower.user_id)
            failed: str | None = None
            if isinstance(held, Exception):
                if isinstance(held, TransientError):
                    continue  # the row stays pending: the next pass reads again while the signal is fresh
                failed = redact_text(f"{type(held).__name__}: {held}")
            else:
                try:
                    size, equity = self._size(signal, follower, held, rules or follower.broker.market_rules(signal.symbol))
                except Exception as exc:  # a bad market or balance answer fails this follower only
                    failed = redact_text(f"{type(exc).__name__}: {exc}")
            if failed is not None:
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.FAILED, failed))
                continue
            if size.skipped:
                ledger.append(CopyLedgerEntry(
                    signal.signal_id, follower.user_id, CopyStatus.SKIPPED, size.skip_reason,
                    size_asked=Decimal(0), unit=size.unit, user_equity=equity,
                ))
                continue
            request = OrderRequest(
                broker=signal.broker, account=follower.user_id, symbol=signal.symbol, side=signal.side,
                quantity=size.quantity, unit=size.unit, client_order_id=client_ids[follower.user_id],
                reason=f"copy of {signal.signal_id}: {size.detail}"[:500],
            )
            plans.append((follower, request, size))
        return ledger, plans

    def _rules(self, signal: TradeSignal, followers: Sequence[Follower]) -> MarketRules | None:
        """The market's rules, read once per signal: every client of a venue shares its markets."""
        for follower in followers[:1]:
            try:
                return follower.broker.market_rules(signal.symbol)
            except Exception:  # noqa: BLE001 - each follower then reads (and fails) on its own
                return None
        return None

    def _read_for(self, signal: TradeSignal, follower: Follower) -> Decimal | None:
        """Inline read before sizing: the holding for an exit, else the balance (an entry's cache)."""
        if signal.side is Side.SELL:
            base = signal.symbol.split("/")[0]
            with follower.lock:
                return follower.call(follower.broker.holdings).get(base, Decimal(0))
        follower.read_balance()
        return None

    def _size(
        self, signal: TradeSignal, follower: Follower, held: Decimal | None, rules: MarketRules
    ) -> tuple[CopySize, Decimal | None]:
        """The follower's copy size, and the follower's equity it was sized on (entries)."""
        if signal.side is Side.SELL:
            return size_copy_exit(
                master_sold_qty=signal.qty, master_position_before=signal.master_position_before,
                user_holding=held or Decimal(0), rules=rules, price=signal.price,
            ), None
        balance = follower.balance
        assert balance is not None, "an entry is sized after its balance was read"
        return size_copy_entry(
            master_quote_value=signal.quote_value, master_equity=signal.master_equity,
            user_equity=balance.equity, user_available=balance.free_cash(),
            risk_multiplier=follower.risk_multiplier, max_user_risk=self.limits.max_user_risk,
            min_position_usd=self.limits.min_position_usd, rules=rules, fee_rate=fee_schedule(signal.broker).taker,
        ), balance.equity

    def _send_one(self, signal: TradeSignal, follower: Follower, order: Order) -> tuple[Answer, float]:
        """Send one stored intent (acknowledgment only); the answer and its latency from the
        master's fill in ms. A refusal or an ambiguity is an answer too, never an exception."""
        request = order.request
        with follower.lock:
            sent = send(follower.broker, request, wait_for_fill=False)
            crash_point("copy_sent")
            follower.record_result(sent.error)
            if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE and follower.balance is not None:
                if sent.report.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.UNKNOWN):
                    follower.balance.reserved += _reservation(request)  # until settled: the cash may be spent
        latency_ms = round((utc_now() - signal.fill_time).total_seconds() * 1000, 1)
        return Answer(order, sent.report), latency_ms

    @staticmethod
    def _balance_after_ack(follower: Follower, after: Order) -> None:
        """A copy filled in its acknowledgment moves the follower's cached balance at once."""
        if after.status is OrderStatus.FILLED and follower.balance is not None:
            follower.balance.after_fill(after)

    def _recover_one(self, follower: Follower, order: Order, fresh: bool) -> Answer | None:
        """A stored intent the venue may or may not have (a crash between storing and recording):
        looked up by client order id, and sent (once) only if the venue never saw it and the
        signal is still fresh. None while its outcome is still unknown."""
        with follower.lock:
            found = follower.call(lambda: look_up(follower.broker, order))
            if found is None and fresh:
                sent = send(follower.broker, order.request, wait_for_fill=False)
                follower.record_result(sent.error)
                return Answer(order, sent.report)
        report = lookup_outcome(order, found, utc_now())
        return Answer(order, report) if report is not None else None

    # -- settling: fills after the hot path ----------------------------------------------------

    def settle(self, followers: dict[str, Follower]) -> tuple[int, list[Follower]]:
        """Look up every sent (or ambiguous) copy order by client id; book fills, positions and
        ledger rows in one transaction and close the signals left with no open row; returns
        (rows settled, the followers looked up)."""
        work = self.store.copies_to_settle()
        if not work:
            return 0, []
        signals = {s.signal_id: s for s, _ in self.store.signals(SignalStatus.PENDING)}
        by_follower: dict[str, list[Order]] = {}
        for _, user_id, order in work:
            if user_id in followers:
                by_follower.setdefault(user_id, []).append(order)
        looked = self.run_all(self._lookup_follower, [(followers[u], orders) for u, orders in by_follower.items()])
        found: dict[str, Answer | None] = {}
        for result in looked:
            if not isinstance(result, Exception):
                found.update(result)
        now = utc_now()
        rows = [(signal_id, user_id, order) for signal_id, user_id, order in work if order.request.client_order_id in found]
        booking = self.execution.book([a for a in found.values() if a is not None])
        ledger, touched = [], set()
        for signal_id, user_id, order in rows:
            cid = order.request.client_order_id
            if found[cid] is None:
                after = order  # already final: only the ledger row was behind
            elif cid in booking.outcomes:
                after = booking.outcomes[cid].order
            else:
                continue  # a stale answer: looked up again on the next pass
            signal = signals.get(signal_id)
            fresh = signal is None or self._fresh(signal, now)
            ledger.append(entry_for_order(signal_id, user_id, after, fresh, signal=signal))
            self._balance_after_settle(followers[user_id], order, after)
            touched.add(signal_id)
        if ledger:
            self.execution.write(booking, ledger)
            counts: dict[str, int] = {}
            for entry in ledger:
                counts[entry.status] = counts.get(entry.status, 0) + 1
            self.log.info("copy_settled", signals=len(touched), **counts)
        for signal_id in touched:
            if not any(CopyStatus(row["status"]).is_open for row in self.store.copy_rows(signal_id)):
                self.store.finish_signal(signal_id, SignalStatus.DONE)
        return len(ledger), [followers[u] for u in by_follower]

    def _lookup_follower(self, item: tuple[Follower, list[Order]]) -> dict[str, Answer | None]:
        """Look up one follower's open copy orders: an answer to record, None for a row whose
        order is already final (only the ledger was behind); unreadable ones are left out."""
        follower, orders = item
        found: dict[str, Answer | None] = {}
        with follower.lock:
            for order in orders:
                cid = order.request.client_order_id
                if order.status in _FINAL_ORDER:
                    found[cid] = None
                    continue
                try:
                    report = lookup_outcome(order, follower.call(lambda o=order: look_up(follower.broker, o)), utc_now())
                except Exception as exc:  # still unknown: looked up again on the next pass
                    self.log.warning("copy_lookup_failed", account=follower.user_id, client_order_id=cid, error=str(exc))
                    continue
                if report is not None:
                    found[cid] = Answer(order, report)
        return found

    @staticmethod
    def _balance_after_settle(follower: Follower, before: Order, after: Order) -> None:
        """Move the follower's cached balance by what settled; release the quote the buy reserved."""
        balance = follower.balance
        if balance is None or before.status in _FINAL_ORDER:
            return
        if after.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.UNKNOWN):
            return  # still working: the reservation stays
        request = before.request
        if request.side is Side.BUY and request.unit is QuantityUnit.QUOTE:
            balance.reserved = max(balance.reserved - _reservation(request), Decimal(0))
        balance.after_fill(after)

    def _log_summary(self, signal: TradeSignal, final: dict[str, CopyStatus], started: float, **phases: float) -> None:
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
