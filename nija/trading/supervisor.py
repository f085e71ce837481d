"""Supervisor: starts one thread per funded master broker and keeps watch over them.

At start every broker is snapshotted; those with equity ≥ MINIMUM_FUNDED_BALANCE get their own
thread (`broker-<name>`), the others are re-checked every NIJA_FUNDING_RECHECK_SECONDS. With
MULTI_BROKER_INDEPENDENT=false a single thread (`broker-all`) runs the loops in turn, each cycle
still isolated. The supervisor shares nothing mutable with the loops: it only reads their
immutable health records and sets their stop flags.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from nija.brokers.base import AuthError
from nija.logs import redact_text
from nija.models import BrokerHealth, HealthStatus, utc_now
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop

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
        self.log.info(
            "supervisor_started",
            brokers=len(self.loops),
            funded=len(self._running),
            waiting=[loop.broker.name for loop in self._waiting],
            mode="independent" if self.independent else "sequential",
        )

    def _funded(self, loop: BrokerLoop) -> bool:
        minimum = loop.config.minimum_funded_balance
        try:
            snapshot = loop.broker.balance_snapshot()
        except Exception as exc:  # a broker that cannot even be read waits like an unfunded one
            error = redact_text(f"{type(exc).__name__}: {exc}")
            health = loop.health.cycle_failed(utc_now(), error, auth=isinstance(exc, AuthError))
            loop.store.save_health(health)
            loop.log.error("funding_check_failed", error_class=type(exc).__name__, error=str(exc))
            return False
        loop.store.record_equity(loop.broker.name, loop.broker.account, snapshot)
        if snapshot.total_equity >= minimum:
            return True
        loop.store.save_health(loop.health.unfunded())
        loop.log.warning("broker_unfunded", equity=str(snapshot.total_equity), minimum=str(minimum))
        return False

    def _launch(self, loop: BrokerLoop) -> None:
        self._running.append(loop)
        if self.independent:
            thread = threading.Thread(target=loop.run, name=loop.name, daemon=True)
            self.threads[loop.name] = thread
            thread.start()
        elif "broker-all" not in self.threads:
            thread = threading.Thread(target=self._run_in_turn, name="broker-all", daemon=True)
            self.threads["broker-all"] = thread
            thread.start()

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
                loop.run_cycle()  # never raises: isolation is inside the cycle
                due[loop.name] = time.monotonic() + loop.health.next_wait()
            for loop in list(self._running):
                loop.run_manual_intents()  # never raises
            upcoming = [due[loop.name] for loop in self._running if loop.health.can_trade and loop.name in due]
            self._stop_all.wait(max(0.05, min(upcoming, default=now + 1.0) - time.monotonic()))
        for loop in self._running:
            loop.finish()

    # -- while running -------------------------------------------------------------------------

    def tick(self) -> None:
        """Called by the main thread between heartbeats: funding re-checks and the summary."""
        now = time.monotonic()
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
        if stuck:
            self.log.error("threads_not_stopped", threads=stuck)
        return stuck
