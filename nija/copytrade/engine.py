"""CopyEngine: the copy-trading thread. It fans every master fill out to the followers of that
broker, exactly once (`fanout`), and keeps their cached balances fresh in between.

One engine thread wakes on new signals (an in-process event, plus a poll of the outbox so a
signal written by another process is picked up too) and fans each signal out on a bounded
thread pool, one task per follower: a slow or failing follower never delays another.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from nija.copytrade.exits import CONVERGE_REASON
from nija.copytrade.fanout import FanOut, FanOutLimits
from nija.copytrade.lifecycle import close_signals, join_signals
from nija.copytrade.telemetry import drift
from nija.copytrade.followers import BOOK_REFRESH_SECONDS, EnabledChange, Follower
from nija.copytrade.sizing import DEFAULT_MAX_USER_RISK, DEFAULT_MIN_POSITION_USD
from nija.execution.executor import Execution
from nija.execution.lookup import OPEN_ORDER_TIMEOUT
from nija.execution.transfers import TransferWatch
from nija.logs import redact_text
from nija.models import (
    MASTER_ACCOUNT,
    BrokerName,
    CopyStatus,
    Position,
    Side,
    SignalKind,
    SignalStatus,
    TradeSignal,
    utc_now,
)
from nija.store import DriftRow, Store
from nija.users import CopyExisting, OnDisable

__all__ = ["CopyEngine"]

POLL_SECONDS: Final = 1.0  # the outbox poll that picks up signals written by another process
DEFAULT_DRIFT_TOLERANCE_PCT: Final = Decimal(10)  # COPY_DRIFT_TOLERANCE_PCT
CONTROL_SECONDS: Final = 5.0  # how often operator commands and follower files are picked up
CONVERGE_SECONDS: Final = 30.0  # how often copied positions are compared with the master's
DEFAULT_MAX_AGE_SECONDS: Final = 60.0
REFRESH_CHUNK: Final = 64  # background balance reads per pass, so a new signal never waits long


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
        unknown_grace_seconds: float | None = None,
        open_order_timeout_seconds: float = OPEN_ORDER_TIMEOUT.total_seconds(),
        max_workers: int = 32,
        max_user_risk: Decimal = DEFAULT_MAX_USER_RISK,
        min_position_usd: Decimal = DEFAULT_MIN_POSITION_USD,
        book_refresh_seconds: float = BOOK_REFRESH_SECONDS,
        unavailable: Sequence[tuple[BrokerName, str, str]] = (),
        stop: threading.Event | None = None,
        drift_tolerance_pct: Decimal = DEFAULT_DRIFT_TOLERANCE_PCT,
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
        self.drift_tolerance_pct = drift_tolerance_pct
        self.wake = threading.Event()  # set by the broker loops after a master fill
        self._all = list(users)
        for user in self._all:
            if user.transfers is None:
                user.transfers = TransferWatch(store, user.broker, user.user_id)
        self._by_id = {user.user_id: user for user in users}
        self._users: dict[BrokerName, list[Follower]] = {}
        for user in users:
            self._users.setdefault(user.broker.name, []).append(user)
        # More threads than followers never run at once; all of them start with the engine.
        self._workers = max(1, min(max_workers, len(users)))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="copy")
        self.fanout = FanOut(
            Execution(store, log), self._pool, FanOutLimits(
                max_age_seconds, max_user_risk, min_position_usd,
                timedelta(seconds=unknown_grace_seconds) if unknown_grace_seconds is not None else None,
                timedelta(seconds=open_order_timeout_seconds),
            ), log
        )

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
        converged_at = controlled_at = float("-inf")
        while not self.stop.is_set():
            try:
                sent_before = self.fanout.orders_sent
                if time.monotonic() - controlled_at >= CONTROL_SECONDS:
                    controlled_at = time.monotonic()
                    self.control()
                self.process_pending()
                if self.copy_mode == "MASTER_FOLLOW" and time.monotonic() - converged_at >= CONVERGE_SECONDS:
                    converged_at = time.monotonic()
                    self.converge()
                if self.fanout.orders_sent == sent_before:
                    self.refresh_books(self._stale_books(REFRESH_CHUNK))  # idle: keep balances fresh
            except Exception as exc:  # the engine outlives any one bad signal or store hiccup
                self.log.error("copy_pass_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.log.info("copy_engine_stopped")

    def start(self) -> None:
        """List every user in the store (status shows them at once), then read their balances."""
        risks = self.store.follower_risks()
        for user in self._all:
            user.restore(risks.get((user.broker.name, user.user_id)))
        self.store.save_copy_users([*self._unavailable, *(user.state_row() for user in self._all)])
        self._start_workers()
        self.refresh_books(self._all)
        # A thousand followers' clients and market rules now live for the whole run: moved out of
        # the collector's scans, a fan-out's short-lived objects no longer pay for walking them.
        gc.freeze()

    def process_pending(self) -> int:
        """Fan out every pending signal, oldest first, then settle what was sent; returns how
        many signals were pending."""
        pending = self.store.signals(SignalStatus.PENDING)
        for signal, _ in pending:
            if self.stop.is_set():
                break
            self.dispatch(signal)
        if pending:
            self.settle()
        return len(pending)

    def _start_workers(self) -> None:
        """Start every pool thread now (the pool otherwise adds them one by one under load): a
        fan-out never waits for a thread to start, and the thread count stays flat all run."""
        barrier = threading.Barrier(self._workers)
        for future in [self._pool.submit(barrier.wait, timeout=5) for _ in range(self._workers)]:
            with suppress(threading.BrokenBarrierError):
                future.result()

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
        for user, outcome in zip(users, self.fanout.read_balances(users)):
            if isinstance(outcome, Exception):
                self.log.warning("copy_user_read_failed", account=user.user_id, error=str(outcome))
        self.store.save_copy_users([user.state_row() for user in users])

    # -- signals --------------------------------------------------------------------------------

    def dispatch(self, signal: TradeSignal) -> dict[str, CopyStatus]:
        """Send one signal's copies and record the acknowledgments; returns user id -> ledger status."""
        if self.copy_mode != "MASTER_FOLLOW":
            self.store.finish_signal(signal.signal_id, SignalStatus.SKIPPED, f"COPY_TRADING_MODE={self.copy_mode}")
            return {}
        if signal.side is Side.BUY and signal.master_equity <= 0:
            self.store.finish_signal(signal.signal_id, SignalStatus.REJECTED, f"master equity {signal.master_equity} <= 0")
            return {}
        users = self._users.get(signal.broker, [])
        if signal.target_user is not None:
            users = [u for u in users if u.user_id == signal.target_user]
        # Opting out (disabled, not copying, symbol excluded) stops entries only: a follower's
        # copied positions follow the master's exits until the follower closes them.
        followers = users if signal.side is Side.SELL else [u for u in users if u.configured_for(signal)]
        final = self.fanout.dispatch(signal, followers)
        self._save_changed(followers)
        return final

    def control(self) -> int:
        """The followers' lifecycle, every few seconds: operator commands from the store (enable,
        disable, resume), edited follower files, the join and leave rules of a follower enabled or
        disabled since the last pass, and `flatten_on_breach` for a follower halted on its
        drawdown. Changed risk state is saved. Returns the signals raised."""
        now = utc_now()
        risks = self.store.follower_risks()
        raised: list[TradeSignal] = []
        for user in self._all:
            user.apply_control(risks.get((user.broker.name, user.user_id)))
            reload = user.reload_if_changed()
            if reload is not None and reload.problem is not None:
                self.log.warning("follower_file_problem", account=user.user_id, problem=reload.problem)
            elif reload is not None and reload.applied:
                self.log.info("follower_file_reloaded", account=user.user_id)
            raised += self._lifecycle_signals(user, user.take_enabled_change(), now)
        records = [(user, record) for user in self._all if (record := user.take_risk_record()) is not None]
        if records:
            try:
                self.store.save_follower_risks([record for _, record in records])
            except Exception:
                for user, record in records:
                    user.risk_unsaved(record)
                raise
            self.store.save_copy_users([user.state_row() for user, _ in records])
        new = self.store.raise_signals(raised) if raised else []
        for signal in new:
            self.log.info("copy_lifecycle", account=signal.target_user, kind=str(signal.kind), symbol=signal.symbol)
        return len(new)

    def _lifecycle_signals(self, user: Follower, change: EnabledChange | None, now: datetime) -> list[TradeSignal]:
        """Join the master's positions (enabled, `copy_existing: enter`), close the copied ones
        (disabled with `on_disable: close`, or halted with `flatten_on_breach`)."""
        broker = user.broker.name
        if change is EnabledChange.ENABLED and user.copy_existing is CopyExisting.ENTER:
            master = self.store.positions(broker, MASTER_ACCOUNT)
            if not master:
                return []
            snapshot = self.store.latest_equity(broker, MASTER_ACCOUNT)
            if snapshot is None or snapshot.total_equity <= 0:
                self.log.warning("copy_join_skipped", account=user.user_id, reason="no master equity recorded yet")
                return []
            held = [p.symbol for p in self.store.copied_positions(broker, [user.user_id])]
            return join_signals(broker, user.user_id, master, held, snapshot.total_equity, now)
        closing = (change is EnabledChange.DISABLED and user.on_disable is OnDisable.CLOSE) or (
            user.halted_reason is not None and user.envelope.flatten_on_breach)
        if not closing:
            return []
        kind = SignalKind.CLOSE if change is EnabledChange.DISABLED else SignalKind.FLATTEN
        return close_signals(self.store.copied_positions(broker, [user.user_id]), kind, now)

    def converge(self) -> int:
        """Compare each follower's copied positions with the master's: where the master is flat
        and a follower still holds a copied position (its exit skipped or lost, or a copy from a
        fill the master has since sold), raise a `converge` signal that closes it through the
        usual exit path. Symbols with a copy in motion are left to it. Returns signals raised."""
        raised: list[TradeSignal] = []
        drift: list[DriftRow] = []
        now = utc_now()
        for broker, users in self._users.items():
            held = self.store.copied_positions(broker, [u.user_id for u in users])
            master_positions = {p.symbol: p.qty for p in self.store.positions(broker, MASTER_ACCOUNT)}
            drift += self._drift(broker, users, held, master_positions, now)
            if not held:
                continue
            master = set(master_positions)
            open_rows, pending = self.store.copies_in_motion(broker)
            raised += close_signals(
                [p for p in held if p.symbol not in master and p.symbol not in pending and (p.account, p.symbol) not in open_rows],
                SignalKind.CONVERGE, now,
            )
        self.store.save_drift(drift)
        new = self.store.raise_signals(raised) if raised else []
        for signal in new:
            self.log.warning("copy_converge", account=signal.target_user, symbol=signal.symbol, qty=str(signal.qty),
                             reason=CONVERGE_REASON)
        return len(new)

    def _drift(
        self, broker: BrokerName, users: Sequence[Follower], held: Sequence[Position], master: dict[str, Decimal],
        now: datetime,
    ) -> list[DriftRow]:
        """Each follower's copied position per symbol against the master's scaled to it (status
        shows it; a drift is reported, never repaired by a late buy)."""
        snapshot = self.store.latest_equity(broker, MASTER_ACCOUNT)
        if snapshot is None or snapshot.total_equity <= 0:
            return []
        copied = {(p.account, p.symbol): p.qty for p in held}
        rows = []
        for user in users:
            equity = user.balance.equity if user.balance is not None else Decimal(0)
            copying = user.is_enabled and user.copy_from_master
            symbols = {s for (u, s) in copied if u == user.user_id} | {
                s for s in master if copying and s not in user.disabled_symbols}
            for symbol in sorted(symbols):
                check = drift(copied.get((user.user_id, symbol), Decimal(0)), master.get(symbol, Decimal(0)), equity,
                              snapshot.total_equity, user.risk_multiplier, self.drift_tolerance_pct)
                rows.append(DriftRow(broker, user.user_id, symbol, check.copied_qty, check.expected_qty, check.drift_pct,
                                     check.beyond, now))
                if check.beyond and not check.master_flat:
                    self.log.info("copy_drift", account=user.user_id, symbol=symbol, copied=str(check.copied_qty),
                                  expected=str(check.expected_qty), drift_pct=str(check.drift_pct))
        return rows

    def settle(self) -> int:
        """Read the fills of every sent copy (see `FanOut.settle`); returns rows settled."""
        settled, looked_up = self.fanout.settle(self._by_id)
        if looked_up:
            self.store.save_copy_users([user.state_row() for user in looked_up])
        return settled

    def _save_changed(self, followers: Sequence[Follower]) -> None:
        """Persist the state of followers whose health moved off healthy during this signal (rare)."""
        changed = [u for u in followers if u.health.current.consecutive_errors]
        if changed:
            self.store.save_copy_users([u.state_row() for u in changed])
