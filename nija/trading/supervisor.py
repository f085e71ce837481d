"""Supervisor: starts one thread per funded master broker and keeps watch over them.

At start every broker is snapshotted; those with equity ≥ MINIMUM_FUNDED_BALANCE get their own
thread (`broker-<name>`), the others are re-checked every NIJA_FUNDING_RECHECK_SECONDS. A broker
whose venue cannot be reached (TransientError, MarketDataError) starts its thread at once as
`degraded`: its cycles are retried like any failed cycle and run the exits of its stored
positions as soon as the venue answers. With MULTI_BROKER_INDEPENDENT=false a single thread
(`broker-all`) runs the loops in turn, each cycle still isolated.

A loop that dies of an unexpected exception (one that escaped a cycle's isolation) is recorded in
its health (`last_error`), logged, and run again after a backoff that doubles per death without a
completed cycle in between (capped at 10 minutes); a loop that ended because its credentials were
refused stays stopped. A broker that could not even be set up (its adapter failed to build) is
set up again with the same backoff, so a daemon whose every broker failed stays up and recovers.
The supervisor shares nothing mutable with the loops: it reads their health records, sets their
stop flags and restarts their threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from nija.brokers.base import AuthError, MarketDataError, TransientError
from nija.logs import redact_text
from nija.models import BrokerHealth, BrokerName, HealthStatus, utc_now
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop
from nija.trading.health import MAX_BACKOFF_SECONDS

__all__ = ["Supervisor"]


class Supervisor:
    """Owns the broker threads; driven by the main thread through `start`, `tick` and `stop`."""

    def __init__(
        self,
        loops: Sequence[BrokerLoop],
        store: Store,
        log: Any,
        *,
        independent: bool = True,
        funding_recheck_seconds: float = 600.0,
        summary_seconds: float = 1500.0,
        failed_at_start: Sequence[BrokerHealth] = (),
        setup: Callable[[BrokerName], BrokerLoop] | None = None,
        setup_retry_seconds: float = 60.0,
    ) -> None:
        self.loops = list(loops)
        self.store = store
        self.log = log
        self.independent = independent
        self.funding_recheck_seconds = funding_recheck_seconds
        self.summary_seconds = summary_seconds
        self.threads: dict[str, threading.Thread] = {}
        self._waiting: list[BrokerLoop] = []  # not (yet) funded
        self._running: list[BrokerLoop] = []
        self._failed_at_start = list(failed_at_start)
        self._stop_all = threading.Event()  # the sequential thread's own stop flag
        self._next_recheck = 0.0
        self._next_summary = 0.0
        # Loops whose thread died, by name: (loop, when to restart it); written by the dying thread.
        self._dead: dict[str, tuple[BrokerLoop, float]] = {}
        self._ended: set[str] = set()  # loops whose run returned (stopped, or credentials refused)
        self._deaths: dict[str, tuple[int, int]] = {}  # name: (deaths in a row, cycles_ok at the last start)
        self._lock = threading.Lock()
        # Brokers that failed to set up, retried through `setup`: name -> (attempts, when next).
        self._setup = setup
        self._setup_retry_seconds = setup_retry_seconds
        self._setup_due: dict[BrokerName, tuple[int, float]] = {}

    # -- start -------------------------------------------------------------------------------

    def start(self) -> None:
        """Snapshot every broker and start the funded ones."""
        for loop in self.loops:
            if self._funded(loop):
                self._launch(loop)
            else:
                self._waiting.append(loop)
        now = time.monotonic()
        self._next_recheck = now + self.funding_recheck_seconds
        self._next_summary = now + self.summary_seconds
        self._setup_due = {h.broker: (0, now + self._setup_retry_seconds) for h in self._failed_at_start}
        self.log.info(
            "supervisor_started",
            brokers=len(self.loops),
            funded=len(self._running),
            waiting=[loop.broker.name for loop in self._waiting],
            mode="independent" if self.independent else "sequential",
        )

    def _funded(self, loop: BrokerLoop) -> bool:
        """Whether to run this loop now: funded, or its venue is unreachable (its stored positions
        need their exits as soon as it answers); an unfunded or unreadable one waits for the re-check."""
        minimum = loop.config.minimum_funded_balance
        try:
            snapshot = loop.broker.balance_snapshot()
        except (TransientError, MarketDataError) as exc:  # unreachable: retried like any failed cycle
            loop.store.save_health(loop.health.cycle_failed(utc_now(), redact_text(f"{type(exc).__name__}: {exc}")))
            loop.log.warning("funding_check_unreachable", error_class=type(exc).__name__, error=str(exc),
                             note="the loop starts degraded and retries every cycle")
            return True
        except Exception as exc:  # a broker that cannot even be read waits like an unfunded one
            error = redact_text(f"{type(exc).__name__}: {exc}")
            health = loop.health.cycle_failed(utc_now(), error, auth=isinstance(exc, AuthError))
            loop.store.save_health(health)
            loop.log.error("funding_check_failed", error_class=type(exc).__name__, error=str(exc))
            return False
        loop.store.record_equity(loop.broker.name, loop.broker.account, snapshot)
        if snapshot.total_equity >= minimum:
            return True
        loop.store.save_health(loop.health.unfunded(snapshot.note))
        loop.log.warning("broker_unfunded", equity=str(snapshot.total_equity), minimum=str(minimum), note=snapshot.note)
        return False

    def _launch(self, loop: BrokerLoop) -> None:
        self._running.append(loop)
        if self.independent:
            self._start_thread(loop)
        elif "broker-all" not in self.threads:
            thread = threading.Thread(target=self._run_in_turn, name="broker-all", daemon=True)
            self.threads["broker-all"] = thread
            thread.start()

    def _start_thread(self, loop: BrokerLoop) -> None:
        deaths, _ = self._deaths.get(loop.name, (0, 0))
        self._deaths[loop.name] = (deaths, loop.health.current.cycles_ok)
        thread = threading.Thread(target=self._run_guarded, args=(loop,), name=loop.name, daemon=True)
        self.threads[loop.name] = thread
        thread.start()

    def _run_guarded(self, loop: BrokerLoop) -> None:
        """Thread target: the loop, and a record of its death if an exception escapes it."""
        try:
            loop.run()
        except Exception as exc:
            self._died(loop, exc)
        else:
            with self._lock:
                self._ended.add(loop.name)

    def _died(self, loop: BrokerLoop, exc: BaseException | None) -> None:
        """Record why a loop died, in its health and the log, and when the main thread restarts it."""
        with self._lock:
            deaths, cycles_ok = self._deaths.get(loop.name, (0, 0))
            if loop.health.current.cycles_ok > cycles_ok:
                deaths = 0  # it completed a cycle since its last start: not a death loop
            delay = min(loop.config.cycle_seconds * 2.0 ** min(deaths, 20), MAX_BACKOFF_SECONDS)
            self._deaths[loop.name] = (deaths + 1, cycles_ok)
            self._dead[loop.name] = (loop, time.monotonic() + delay)
        cause = f"{type(exc).__name__}: {exc}" if exc is not None else "thread ended without a reason"
        error = redact_text(f"broker loop died: {cause}")
        try:
            loop.store.save_health(loop.health.cycle_failed(utc_now(), error))
        except Exception as store_exc:  # the store may be what broke; the log still says it
            loop.log.error("health_not_recorded", error=redact_text(f"{type(store_exc).__name__}: {store_exc}"))
        loop.log.error("broker_loop_died", error=error, deaths_in_a_row=deaths + 1, restart_in_s=round(delay, 2),
                       exc_info=exc)

    def _run_in_turn(self) -> None:
        """MULTI_BROKER_INDEPENDENT=false: one thread, every loop in turn, each cycle isolated."""
        due: dict[str, float] = {}
        while not self._stop_all.is_set():
            now = time.monotonic()
            for loop in list(self._running):
                if self._stop_all.is_set():
                    break
                if not loop.health.can_trade or due.get(loop.name, 0.0) > now:
                    continue
                try:
                    loop.run_cycle()  # isolation is inside the cycle; only its store or log can fail
                except Exception as exc:
                    self._failed_in_turn(loop, exc)
                due[loop.name] = time.monotonic() + loop.health.next_wait()
            for loop in list(self._running):
                if loop.health.can_trade:
                    loop.record_alive()
                loop.run_manual_intents()  # never raises
            upcoming = [due[loop.name] for loop in self._running if loop.health.can_trade and loop.name in due]
            self._stop_all.wait(max(0.05, min(upcoming, default=now + 1.0) - time.monotonic()))
        for loop in self._running:
            loop.finish()

    def _failed_in_turn(self, loop: BrokerLoop, exc: Exception) -> None:
        """Sequential mode: an exception that escaped one loop's cycle is recorded; the thread goes on."""
        error = redact_text(f"broker loop failed: {type(exc).__name__}: {exc}")
        try:
            loop.store.save_health(loop.health.cycle_failed(utc_now(), error))
        except Exception as store_exc:  # the store may be what broke; the log still says why
            loop.log.error("health_not_recorded", error=redact_text(f"{type(store_exc).__name__}: {store_exc}"))
        loop.log.error("broker_loop_failed", error=error, exc_info=exc)

    # -- while running -------------------------------------------------------------------------

    def tick(self) -> None:
        """Called by the main thread between heartbeats: restarts of dead loops, funding re-checks
        and the summary."""
        now = time.monotonic()
        self._restart_dead(now)
        self._retry_setup(now)
        if self._waiting and now >= self._next_recheck:
            self._next_recheck = now + self.funding_recheck_seconds
            for loop in list(self._waiting):
                if self._funded(loop):
                    self._waiting.remove(loop)
                    self._launch(loop)
                    loop.log.info("broker_funded_started")
        if now >= self._next_summary:
            self._next_summary = now + self.summary_seconds
            self.log_summary()

    def _restart_dead(self, now: float) -> None:
        """Run again every loop whose thread died and whose backoff is over."""
        if not self.independent or self._stop_all.is_set() or any(loop.stop.is_set() for loop in self._running):
            return
        with self._lock:
            for loop in self._running:  # a thread gone without a record (it was not an Exception)
                thread = self.threads.get(loop.name)
                if thread is not None and not thread.is_alive() and loop.name not in self._ended | set(self._dead):
                    self._dead[loop.name] = (loop, now)
            due = [loop for loop, at in self._dead.values() if at <= now]
            for loop in due:
                del self._dead[loop.name]
        for loop in due:
            loop.log.warning("broker_loop_restarting", deaths_in_a_row=self._deaths.get(loop.name, (0, 0))[0])
            self._start_thread(loop)

    def _retry_setup(self, now: float) -> None:
        """Set up again each broker that failed to, once its backoff is over; started like at start."""
        if self._setup is None:
            return
        for health in list(self._failed_at_start):
            attempts, due = self._setup_due.get(health.broker, (0, now))
            if due > now:
                continue
            try:
                loop = self._setup(health.broker)
            except Exception as exc:  # still failing: the reason is recorded, the next try waits longer
                delay = min(self._setup_retry_seconds * 2.0 ** min(attempts + 1, 20), MAX_BACKOFF_SECONDS)
                self._setup_due[health.broker] = (attempts + 1, now + delay)
                updated = health.model_copy(update={
                    "last_error": redact_text(f"{type(exc).__name__}: {exc}")[:300],
                    "consecutive_errors": health.consecutive_errors + 1,
                })
                self._failed_at_start[self._failed_at_start.index(health)] = updated
                self.store.save_health(updated)
                self.log.error("broker_setup_failed", broker=str(health.broker), error_class=type(exc).__name__,
                               error=str(exc), attempts=attempts + 1, retry_in_s=round(delay, 2))
                continue
            self._failed_at_start.remove(health)
            del self._setup_due[health.broker]
            self.loops.append(loop)
            loop.log.info("broker_setup_recovered", attempts=attempts + 1)
            if self._funded(loop):
                self._launch(loop)
            else:
                self._waiting.append(loop)

    def summary(self) -> dict[str, Any]:
        """The multi-broker summary: counts, then one entry per broker."""
        records = [loop.health.current for loop in self.loops] + self._failed_at_start
        alive = sum(thread.is_alive() for thread in self.threads.values())
        return {
            "brokers_total": len(records),
            "brokers_connected": sum(h.status not in (HealthStatus.FAILED, HealthStatus.STARTING) for h in records),
            "brokers_funded": len(self._running),
            "threads_alive": alive,
            "brokers": {
                f"{h.broker}/{h.account}": {
                    "status": str(h.status),
                    "cycles": h.cycles_total,
                    "success_rate": round(h.success_rate, 1),
                    "consecutive_errors": h.consecutive_errors,
                    "last_error": h.last_error,
                }
                for h in records
            },
        }

    def log_summary(self) -> None:
        """Log the summary as one event."""
        self.log.info("status_summary", **self.summary())

    # -- stop --------------------------------------------------------------------------------

    def stop(self, deadline_seconds: float = 5.0) -> list[str]:
        """Set every stop flag and join the threads by the deadline; returns the ones still alive."""
        self._stop_all.set()
        for loop in self.loops:
            loop.stop.set()
        end = time.monotonic() + deadline_seconds
        for thread in self.threads.values():
            thread.join(max(0.0, end - time.monotonic()))
        stuck = [name for name, thread in self.threads.items() if thread.is_alive()]
        for loop in self._waiting:
            loop.store.save_health(loop.health.stopped())
        with self._lock:
            dead, self._dead = list(self._dead.values()), {}
        for loop, _ in dead:  # died, waiting for its restart: it stops here
            try:
                loop.finish()
            except Exception as exc:
                loop.log.error("broker_loop_not_finished", error=redact_text(f"{type(exc).__name__}: {exc}"))
        if stuck:
            self.log.error("threads_not_stopped", threads=stuck)
        return stuck
