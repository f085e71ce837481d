"""The dashboard's figures, computed in the background so a page never waits for them.

Every account's P&L comes from `nija.report.collect` (one pass over every fill: seconds at a
million fills) and its health from `nija.status.collect`. Both run on the snapshot thread; a
request only renders the latest `Snapshot`. The P&L fold runs again only when the store has
something new (`StoreSignature`), and never takes more than a fifth of the thread's time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from nija import status
from nija.logs import redact_text
from nija.models import utc_now
from nija.report.collect import AccountReport, Report, Window, collect
from nija.store.dashboard import DashboardStore, StoreSignature

__all__ = ["Snapshot", "SnapshotCache", "age_text", "today_window"]

# The fold may use at most 1/5 of the snapshot thread's time: at 1,000 followers it takes
# seconds, and with NIJA_WEB=true it shares the daemon's interpreter with the broker loops.
_FOLD_DUTY: Final = 5


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the pages show of every account: health as of `status_at`, P&L as of `report_at`."""

    status: dict[str, Any]  # `nija.status.collect`'s document
    status_at: datetime
    report: Report
    report_at: datetime
    fold_seconds: float  # how long the last P&L fold took
    positions: dict[tuple[str, str], int]  # open positions per (broker, account)
    equity: dict[tuple[str, str], Any]  # masters' newest (equity, taken_at)

    def account(self, broker: str, account: str) -> AccountReport | None:
        """The report of one account (today's window), None when the store knows nothing of it."""
        for report in self.report.accounts:
            if report.broker == broker and report.account == account:
                return report
        return None


def today_window(now: datetime) -> Window:
    """The report window the dashboard computes: since 00:00 UTC today. Its figures give both
    today's P&L (`net`) and the total since the first fill (`cumulative_end`)."""
    return Window(since=now.replace(hour=0, minute=0, second=0, microsecond=0))


class SnapshotCache:
    """Holds the latest `Snapshot` and refreshes it every `refresh_seconds` on `run`'s thread."""

    def __init__(self, store: DashboardStore, refresh_seconds: float, log: Any) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._log = log
        self._latest: Snapshot | None = None
        self._signature: StoreSignature | None = None
        self._day: datetime | None = None
        self._next_fold = 0.0  # monotonic time before which the fold is not run again

    @property
    def latest(self) -> Snapshot | None:
        """The newest snapshot (None before the first `refresh`); swapped whole, never mutated."""
        return self._latest

    def refresh(self) -> Snapshot:
        """Read health now, and P&L when the store changed (or the UTC day turned) and the
        fold's duty cycle allows; publish and return the new snapshot."""
        now = utc_now()
        doc = status.collect(self._store)
        positions = self._store.open_position_counts()
        equity = self._store.latest_equities()
        previous = self._latest
        report, report_at, fold_seconds = self._fold(now, previous)
        snapshot = Snapshot(
            status=doc, status_at=now, report=report, report_at=report_at, fold_seconds=fold_seconds,
            positions=positions, equity=equity,
        )
        self._latest = snapshot
        return snapshot

    def _fold(self, now: datetime, previous: Snapshot | None) -> tuple[Report, datetime, float]:
        signature = self._store.signature()
        window = today_window(now)
        stale = signature != self._signature or window.since != self._day
        if previous is not None and (not stale or time.monotonic() < self._next_fold):
            return previous.report, previous.report_at, previous.fold_seconds
        started = time.monotonic()
        report = collect(self._store, window)
        seconds = time.monotonic() - started
        self._signature, self._day = signature, window.since
        self._next_fold = time.monotonic() + seconds * (_FOLD_DUTY - 1)
        if seconds > self._refresh_seconds:
            self._log.warning("web_figures_slow", fold_seconds=round(seconds, 2), refresh_seconds=self._refresh_seconds)
        return report, now, seconds

    def run(self, stop: threading.Event) -> None:
        """Refresh every `refresh_seconds` until `stop` is set (at once when there is no snapshot
        yet); a failed refresh (a store hiccup) keeps the last snapshot."""
        wait = 0.0 if self._latest is None else self._refresh_seconds
        while not stop.wait(wait):
            wait = self._refresh_seconds
            try:
                self.refresh()
            except Exception as exc:  # the dashboard stays up on the snapshot it has
                self._log.error("web_refresh_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))


def age_text(at: datetime, now: datetime) -> str:
    """How long ago `at` was, in words a page shows ("12 s ago", "3 min ago")."""
    seconds = max((now - at) / timedelta(seconds=1), 0.0)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"
