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
fills, positions and ledger rows in one transaction; a copy the venue keeps open past the
open-order timeout is canceled first, keeping what filled. After a crash, a pending intent is looked
up before it is ever sent; a sent one is only looked up. Signals older than the age limit are
not chased: their unsent copies are marked `expired`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

from nija.brokers.base import TransientError
from nija.brokers.fees import fee_schedule
from nija.copytrade.followers import BOOK_STALE_SECONDS, Follower
from nija.copytrade.ledger import entry_for_order
from nija.copytrade.envelope import NO_POSITION_CAP, cap_entry_by_position, entry_slippage_problem
from nija.copytrade.exits import ExitPlanner
from nija.copytrade.sizing import CopySize, size_copy_entry
from nija.execution.booking import Answer
from nija.execution.executor import Execution
from nija.execution.lookup import OPEN_ORDER_TIMEOUT, look_up, lookup_outcome, open_too_long
from nija.execution.sending import send
from nija.faults import crash_point
from nija.logs import redact_text
from nija.models import (
    CopyLedgerEntry,
    CopyStatus,
    ExecutionReport,
    MarketRules,
    Order,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    SignalKind,
    SignalStatus,
    TradeSignal,
    client_order_id_for,
    utc_now,
)

__all__ = ["FanOut", "FanOutLimits"]

T = TypeVar("T")
R = TypeVar("R")
_FINAL_ORDER: Final = (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELED)
FRESH_PRICE_SECONDS: Final = 3.0  # a younger master fill's price is the copy's price: nothing to read


@dataclass(frozen=True, slots=True)
class FanOutLimits:
    """Copy settings: how old an entry signal may be, the entry caps (`sizing`), how long an
    ambiguous copy order must stay unlisted before it counts as never booked, and how long the
    venue may keep a copy order open before it is canceled."""

    max_age_seconds: float
    max_user_risk: Decimal
    min_position_usd: Decimal
    unknown_grace: timedelta | None = None  # None: `execution.lookup.UNKNOWN_GRACE`
    open_order_timeout: timedelta = OPEN_ORDER_TIMEOUT


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
        self.exits = ExitPlanner(self.store, self._read_holdings)
        self.orders_sent = 0  # orders sent (or recovered) so far: the engine refreshes books when idle

    def run_all(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R | Exception]:
        """Run `fn` over `items` on the pool; an item's exception is its result, never raised."""

        def safe(item: T) -> R | Exception:
            try:
                return fn(item)
            except Exception as exc:  # isolation: one follower's failure is that follower's result
                return exc

        return list(self.pool.map(safe, items))

    def read_balances(self, followers: Sequence[Follower]) -> list[None | Exception]:
        """Read the followers' balances on the pool (the venues only), then feed each good read to
        its drawdown check on the calling thread (`Follower.measure_read` reads the store: pool
        threads never do). An account's exception is its result."""
        outcomes = self.run_all(Follower.read_balance, followers)
        for follower, outcome in zip(followers, outcomes, strict=True):
            if not isinstance(outcome, Exception):
                follower.measure_read()
        return outcomes

    def _fresh(self, signal: TradeSignal, now: datetime) -> bool:
        return (now - signal.fill_time).total_seconds() <= self.limits.max_age_seconds

    # -- one signal: the hot path ------------------------------------------------------------

    def dispatch(self, signal: TradeSignal, followers: Sequence[Follower]) -> dict[str, CopyStatus]:
        """Send one signal's copies and record the acknowledgments; returns user id -> ledger status.
        Entries go to the followers given; exits to those of them holding a copied position."""
        started = time.monotonic()
        now = utc_now()
        if signal.side is Side.SELL:
            exit_plan = self.exits.plan(signal, followers, self._rules(signal, followers), now)
            statuses, ledger, plans, recover = exit_plan.statuses, exit_plan.ledger, exit_plan.plans, exit_plan.recover
            fresh = True  # an exit is never too old while a copied position remains
            if not (ledger or plans or recover):  # rows waiting for their retry or for a lookup
                if not any(status.is_open for status in statuses.values()):
                    self.store.finish_signal(signal.signal_id, SignalStatus.DONE)
                return statuses
        else:
            exit_plan = None
            client_ids = {f.user_id: client_order_id_for("copy", signal.signal_id, f.user_id) for f in followers}
            statuses = self.store.open_copy_rows(signal.signal_id, signal.broker, client_ids)
            open_followers = [f for f in followers if statuses.get(f.user_id, CopyStatus.PENDING).is_open]
            stored = self.store.orders_by_id(client_ids[f.user_id] for f in open_followers) if open_followers else {}
            new = [f for f in open_followers if client_ids[f.user_id] not in stored]
            # Intents a crashed pass stored: looked up by client id, sent only if the venue never saw them.
            recover = [(f, stored[client_ids[f.user_id]]) for f in open_followers
                       if client_ids[f.user_id] in stored and stored[client_ids[f.user_id]].status is OrderStatus.PENDING]
            fresh = self._fresh(signal, now)
            ledger, plans = self._plan(signal, new, client_ids, fresh)
        orders = self.execution.store_intents([request for _, request, _ in plans]) if plans else []
        self.orders_sent += len(plans) + len(recover)
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
        retry_at = exit_plan.retry_at if exit_plan is not None else {}
        for answer in answers:
            cid = answer.order.request.client_order_id
            follower, latency_ms, equity = acks[cid]
            if cid not in booking.outcomes:
                continue  # a stale answer: settled later
            after = booking.outcomes[cid].order
            ack_latency = latency_ms if after.status not in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) else None
            row = exit_plan.rows.get(follower.user_id) if exit_plan is not None else None
            entry = entry_for_order(
                signal.signal_id, follower.user_id, after, fresh, asked=row is None or row.size_asked is None,
                signal=signal, latency_ms=ack_latency, user_equity=equity,
            )
            entry = ExitPlanner.outcome(entry, row, now, retry_at) if exit_plan is not None else entry
            ledger.append(entry)
            self._count_outcome(follower, entry)
            self._balance_after_ack(follower, after)
        self.execution.write(booking, ledger)
        if retry_at:
            self.store.schedule_retries(retry_at)
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
        """An entry's ledger entries decided without sending (expired, skipped, failed reads) and
        the orders to send."""
        ledger: list[CopyLedgerEntry] = []
        now = utc_now()
        ready = []
        for follower in followers:
            if not fresh:
                age = (now - signal.fill_time).total_seconds()
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.EXPIRED,
                                              f"signal {age:.0f}s old > {self.limits.max_age_seconds:.0f}s"))
            elif (why := follower.unavailable(now) or follower.entry_blocked(now)) is not None:
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.SKIPPED, why))
            else:
                ready.append(follower)
        price_now = self._entry_price_now(signal, ready, now)
        # The balance is read inline only when there is no usable cache.
        reads = [f for f in ready if f.balance is None or f.balance.age_seconds(now) > BOOK_STALE_SECONDS]
        holdings = dict(zip((f.user_id for f in reads), self.read_balances(reads)))
        rules = self._rules(signal, ready)
        copied = self._copied_values(signal, ready)
        plans = []
        for follower in ready:
            held = holdings.get(follower.user_id)
            failed: str | None = None
            if isinstance(price_now, str):
                continue  # no price for the slippage guard: the row stays pending, read again next pass
            if isinstance(price_now, Decimal) and (slipped := entry_slippage_problem(
                    signal.side, signal.price, price_now, follower.envelope.max_entry_slippage_pct)) is not None:
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.SKIPPED, slipped))
                continue
            if isinstance(held, Exception):
                if isinstance(held, TransientError):
                    continue  # the row stays pending: the next pass reads again while the signal is fresh
                failed = redact_text(f"{type(held).__name__}: {held}")
            else:
                try:
                    size, equity = self._size(signal, follower, rules or follower.broker.market_rules(signal.symbol))
                    size = self._cap_by_position(size, follower, equity, copied.get(follower.user_id, Decimal(0)))
                except Exception as exc:  # a bad market or balance answer fails this follower only
                    failed = redact_text(f"{type(exc).__name__}: {exc}")
            if failed is not None:
                ledger.append(CopyLedgerEntry(signal.signal_id, follower.user_id, CopyStatus.FAILED, failed))
                self._count_outcome(follower, ledger[-1])
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

    def _entry_price_now(self, signal: TradeSignal, followers: Sequence[Follower], now: datetime) -> Decimal | str | None:
        """The price an entry would pay now, for the slippage guard; read (once per pass, from one
        follower's client: a venue's followers share its prices) only when it can differ from the
        master's fill: a join into an open position, or a signal older than a few seconds. None:
        the master's fill is the price; a string: why the price could not be read."""
        if not followers or (signal.kind is not SignalKind.JOIN
                             and (now - signal.fill_time).total_seconds() <= FRESH_PRICE_SECONDS):
            return None
        try:
            ticker = followers[0].broker.ticker(signal.symbol)
        except Exception as exc:  # noqa: BLE001 - no price, no guard: the entry waits for the next pass
            return redact_text(f"{type(exc).__name__}: {exc}")
        return ticker.ask if signal.side is Side.BUY else ticker.bid

    def _copied_values(self, signal: TradeSignal, followers: Sequence[Follower]) -> dict[str, Decimal]:
        """What each follower's copied position in the symbol is worth at the signal's price, for
        followers with a position cap (one query for all of them)."""
        capped = [f.user_id for f in followers if f.envelope.max_position_pct < NO_POSITION_CAP]
        if not capped:
            return {}
        return {user: p.qty * signal.price for user, p in self.store.positions_of(signal.broker, signal.symbol, capped).items()}

    def _cap_by_position(self, size: CopySize, follower: Follower, equity: Decimal | None, copied: Decimal) -> CopySize:
        """The entry capped by the follower's `max_position_pct` of equity in this symbol."""
        if size.skipped or equity is None:
            return size
        amount, why = cap_entry_by_position(size.quantity, equity, copied, follower.envelope.max_position_pct)
        if why is None:
            return size
        if amount < max(self.limits.min_position_usd, Decimal("0.01")):
            return CopySize(Decimal(0), size.unit, why, f"{size.detail}; {why}")
        return CopySize(amount, size.unit, None, f"{size.detail}; {why}")

    def _rules(self, signal: TradeSignal, followers: Sequence[Follower]) -> MarketRules | None:
        """The market's rules, read once per signal: every client of a venue shares its markets."""
        for follower in followers[:1]:
            try:
                return follower.broker.market_rules(signal.symbol)
            except Exception:  # noqa: BLE001 - each follower then reads (and fails) on its own
                return None
        return None

    def _read_holdings(self, signal: TradeSignal, followers: Sequence[Follower]) -> dict[str, Decimal | Exception]:
        """The followers' holdings of the signal's base asset, read concurrently (an exit's cap)."""
        base = signal.symbol.split("/")[0]

        def read(follower: Follower) -> Decimal:
            with follower.lock:
                return follower.call(follower.broker.holdings).get(base, Decimal(0))

        return dict(zip((f.user_id for f in followers), self.run_all(read, followers)))

    def _size(self, signal: TradeSignal, follower: Follower, rules: MarketRules) -> tuple[CopySize, Decimal | None]:
        """An entry's size, and the follower's equity it was sized on."""
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

    def _count_outcome(self, follower: Follower, entry: CopyLedgerEntry) -> None:
        """A copy's outcome in the follower's circuit breaker: accepted closes the count, failed
        (an exit attempt waiting again included) adds to it; skips and unknowns say nothing."""
        if entry.status in (CopyStatus.FILLED, CopyStatus.SENT, CopyStatus.PARTIAL):
            follower.copy_finished(True)
        elif entry.status in (CopyStatus.FAILED, CopyStatus.WAITING):
            opened = follower.copy_finished(False, entry.reason)
            if opened is not None:
                self.log.warning("copy_breaker_open", account=follower.user_id, reason=opened)

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
        report = lookup_outcome(order, found, utc_now(), self.limits.unknown_grace)
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
        exits = [(signal_id, user_id) for signal_id, user_id, order in rows if order.request.side is Side.SELL]
        exit_rows = self.store.attempts_of(exits) if exits else {}
        retry_at: dict[tuple[str, str], datetime] = {}
        for signal_id, user_id, order in rows:
            cid = order.request.client_order_id
            if found[cid] is None:
                after = order  # already final: only the ledger row was behind
            elif cid in booking.outcomes:
                after = booking.outcomes[cid].order
            else:
                continue  # a stale answer: looked up again on the next pass
            signal = signals.get(signal_id)
            if order.request.side is Side.SELL:  # an exit never expires: a failed attempt waits for the next
                entry = entry_for_order(signal_id, user_id, after, True, signal=signal)
                entry = ExitPlanner.outcome(entry, exit_rows.get((signal_id, user_id)), now, retry_at)
            else:
                entry = entry_for_order(signal_id, user_id, after, signal is None or self._fresh(signal, now), signal=signal)
            ledger.append(entry)
            self._count_outcome(followers[user_id], entry)
            self._balance_after_settle(followers[user_id], order, after)
            touched.add(signal_id)
        if ledger:
            self.execution.write(booking, ledger)
            if retry_at:
                self.store.schedule_retries(retry_at)
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
                    report = lookup_outcome(order, follower.call(lambda o=order: look_up(follower.broker, o)), utc_now(),
                                            self.limits.unknown_grace)
                except Exception as exc:  # still unknown: looked up again on the next pass
                    self.log.warning("copy_lookup_failed", account=follower.user_id, client_order_id=cid, error=str(exc))
                    continue
                if report is not None and open_too_long(order, report.status, utc_now(), self.limits.open_order_timeout):
                    report = self._cancel_open(follower, order, report)
                if report is not None:
                    found[cid] = Answer(order, report)
        return found

    def _cancel_open(self, follower: Follower, order: Order, report: ExecutionReport) -> ExecutionReport:
        """Cancel a copy order the venue has kept open past the timeout (it holds the follower's
        cash or coins) and return what the venue says of it after; `report` (still open) when the
        cancel or that lookup fails: tried again on the next pass. Caller holds the follower's lock."""
        cid = order.request.client_order_id
        self.log.warning("copy_order_open_too_long", account=follower.user_id, client_order_id=cid,
                         status=str(report.status), filled_qty=str(report.filled_qty),
                         note="canceling it: what filled is kept")
        # The stored row may lack the venue's id (an ambiguous send the lookup found): the report has it.
        target = order.model_copy(update={"exchange_order_id": report.exchange_order_id or order.exchange_order_id})
        try:
            follower.call(lambda: follower.broker.cancel_order(target))
            after = follower.call(lambda: look_up(follower.broker, order))
        except Exception as exc:  # the venue still has it open: canceled on the next pass
            self.log.warning("copy_cancel_failed", account=follower.user_id, client_order_id=cid, error=str(exc))
            return report
        return after if after is not None else report

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
