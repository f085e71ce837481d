"""The notifier: a thread that looks at the store every few seconds (`StoreWatcher`), announces
the daemon's start and stop, sends the daily summary at NIJA_NOTIFY_DAILY_AT (UTC), and hands every
note to the delivery thread (`Dispatcher`). Trading code never calls it and never waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any, Final

from nija.config import Settings
from nija.logs import add_secrets, get_logger, redact_text
from nija.models import utc_now
from nija.notify.delivery import BACKOFF_SECONDS, Dispatcher, Sender
from nija.notify.messages import Note, daily_notes
from nija.notify.watch import StoreWatcher
from nija.notify_urls import notify_url_secrets
from nija.store import Store
from nija.users import discover_users

__all__ = ["Notifier", "build_notifier", "next_daily_at"]

POLL_SECONDS: Final = 2.0  # how often the store is looked at; a note waits at most this long to queue
FLUSH_SECONDS: Final = 2.0  # at stop: what is waiting gets one try within this, well inside 5 s


def next_daily_at(now: datetime, hh_mm: str) -> datetime:
    """The first HH:MM (UTC) strictly after `now`."""
    hours, minutes = (int(part) for part in hh_mm.split(":"))
    at = datetime.combine(now.date(), time(hours, minutes), tzinfo=now.tzinfo)
    return at if at > now else at + timedelta(days=1)


class Notifier:
    """Polls the store and feeds the dispatcher on its own thread, until `stop` is set."""

    def __init__(
        self,
        store: Store,
        watcher: StoreWatcher,
        dispatcher: Dispatcher,
        stop: threading.Event,
        *,
        daily_at: str | None,
        started_text: str = "NIJA started",
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = POLL_SECONDS,
        log: Any = None,
    ) -> None:
        self._store = store
        self._watcher = watcher
        self.dispatcher = dispatcher
        self._stop = stop
        self._daily_at = daily_at
        self._started_text = started_text
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._log = log if log is not None else get_logger("nija.notify")
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._handed_over = threading.Event()
        now = clock()
        self.next_daily = next_daily_at(now, daily_at) if daily_at else None
        sent = store.notify_state().get("daily.sent_at")
        self._daily_since = datetime.fromisoformat(sent) if sent else now - timedelta(days=1)

    def start(self) -> None:
        """Announce the start and begin polling (and delivering) on their own threads."""
        self.dispatcher.start()
        self.dispatcher.submit(Note(self._started_text))
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` (after `stop` was set) for the last look at the store and the stop
        message to be handed to delivery; True when they were. Delivery then has FLUSH_SECONDS for
        what waits; a send still hanging at exit is abandoned with its (daemon) thread."""
        self._handed_over.wait(timeout)
        return self._handed_over.is_set()

    def tick(self) -> int:
        """One look at the store (and the daily summary when due); return the notes queued."""
        notes = self._watcher.poll() + self._daily()
        for note in notes:
            self.dispatcher.submit(note)
        return len(notes)

    def _daily(self) -> list[Note]:
        now = self._clock()
        if self.next_daily is None or now < self.next_daily or self._daily_at is None:
            return []
        notes = daily_notes(self._store.daily_figures(self._daily_since), self._daily_since, now)
        self._store.save_notify_state({"daily.sent_at": now.isoformat()})
        self._daily_since, self.next_daily = now, next_daily_at(now, self._daily_at)
        return notes

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self._safe_tick()
        self._safe_tick()  # what happened in the last seconds before the stop
        self.dispatcher.submit(Note("NIJA stopping"))
        self.dispatcher.close(FLUSH_SECONDS)
        self._handed_over.set()  # the store is no longer read: the daemon may close it
        if not self.dispatcher.join(FLUSH_SECONDS):
            self._log.warning(
                "notify_flush_incomplete", detail="a receiver did not answer in time; what waited is dropped"
            )

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception as exc:  # a busy store, a bad row: notes wait for the next look
            self._log.warning("notify_poll_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))


def build_notifier(
    settings: Settings,
    store: Store,
    stop: threading.Event,
    *,
    mode: str,
    brokers: Sequence[str],
    send: Sender | None = None,
    backoff_seconds: float = BACKOFF_SECONDS,
    log: Any = None,
) -> Notifier | None:
    """The daemon's notifier, or None when neither NIJA_NOTIFY nor any follower's `notify` is
    set. Follower files are read for their `notify` only (settings, never keys); their URLs'
    tokens are registered with the log redactor before anything can log them."""
    operator = [url.get_secret_value() for url in settings.notify_urls]
    found = discover_users(settings.users_path, {})
    followers = {user.user_id: [url.get_secret_value() for url in user.notify] for user in found.users if user.notify}
    if not operator and not followers:
        return None
    add_secrets(part for urls in followers.values() for url in urls for part in notify_url_secrets(url))
    log = log if log is not None else get_logger("nija.notify")
    dispatcher = Dispatcher(
        operator, followers, batch_seconds=settings.notify_batch_seconds, send=send, backoff_seconds=backoff_seconds,
        log=log,
    )
    started = f"NIJA started ({mode}; brokers: {', '.join(brokers) or 'none'})"
    log.info(
        "notify_ready", operator_urls=len(operator), followers_with_notify=len(followers),
        daily_at=settings.notify_daily_at, batch_seconds=settings.notify_batch_seconds,
    )
    return Notifier(
        store, StoreWatcher(store, settings.data_dir), dispatcher, stop,
        daily_at=settings.notify_daily_at, started_text=started, log=log,
    )
