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
from decimal import Decimal
from typing import Any, Final

from nija.copytrade.fanout import FanOut, FanOutLimits
from nija.copytrade.followers import BOOK_REFRESH_SECONDS, Follower
from nija.copytrade.sizing import DEFAULT_MAX_USER_RISK, DEFAULT_MIN_POSITION_USD
from nija.execution.executor import Execution
from nija.logs import redact_text
from nija.models import BrokerName, CopyStatus, Side, SignalStatus, TradeSignal, utc_now
from nija.store import Store

__all__ = ["CopyEngine"]

POLL_SECONDS: Final = 1.0  # the outbox poll that picks up signals written by another process
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
        # More threads than followers never run at once; all of them start with the engine.
        self._workers = max(1, min(max_workers, len(users)))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="copy")
        self.fanout = FanOut(
            Execution(store, log), self._pool, FanOutLimits(max_age_seconds, max_user_risk, min_position_usd), log
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
        for user, outcome in zip(users, self.fanout.run_all(Follower.read_balance, users)):
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
        followers = [u for u in self._users.get(signal.broker, []) if u.configured_for(signal)]
        final = self.fanout.dispatch(signal, followers)
        self._save_changed(followers)
        return final

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
