"""Delivery of notes on its own thread: a bounded queue in, one channel per (recipient, URL) out.

`submit` never blocks: a full queue drops the note and counts it. Each channel sends at most one
message per batch window (`batch_seconds`), holding every note that arrived meanwhile; a failed
send is retried with backoff, then the message is dropped with one warning, and a channel that
keeps failing waits longer and longer before its next try, so one dead receiver costs the others
little. Every message is redacted (`logs.redact_text`) before it leaves: secrets never do.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from nija.logs import get_logger, redact_text
from nija.notify.messages import Note
from nija.notify_urls import notify_plugin

__all__ = ["Dispatcher", "Sender", "apprise_sender"]

# (url, title, body, alert) -> delivered; must not raise (apprise_sender turns errors into False).
Sender = Callable[[str, str, str, bool], bool]

QUEUE_SIZE: Final = 1000  # notes waiting for the delivery thread; more are dropped and counted
MAX_ATTEMPTS: Final = 3  # per message, then it is dropped with one warning
BACKOFF_SECONDS: Final = 2.0  # before the 2nd attempt; doubled before each next one
MAX_COOLDOWN_SECONDS: Final = 1800.0  # a channel failing message after message waits at most this
MAX_LINES: Final = 50  # per message; the rest are counted in its last line
_IDLE_WAIT: Final = 1.0  # longest wait for a note, so a close is seen promptly


def apprise_sender(timeout_seconds: float = 4.0) -> Sender:
    """A `Sender` over apprise: one plugin per URL, built once, with bounded socket timeouts."""
    import apprise  # lazily, as nija.notify_urls: only a daemon with notifications pays for it

    plugins: dict[str, Any] = {}

    def send(url: str, title: str, body: str, alert: bool) -> bool:
        plugin = plugins.get(url)
        if plugin is None:
            plugin = plugins[url] = notify_plugin(url)
            if plugin is None:
                return False
            plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout_seconds
        try:
            return bool(plugin.notify(body=body, title=title, notify_type=apprise.NotifyType.FAILURE if alert else apprise.NotifyType.INFO))
        except Exception:  # a plugin bug or an odd network error must not end the delivery thread
            return False

    return send


@dataclass(slots=True)
class _Channel:
    """One recipient's one URL: what waits to go, and when it may go next."""

    recipient: str  # "operator" or a follower's user id
    url: str
    shown: str  # the URL as logs may show it (apprise's privacy form, redacted)
    pending: list[Note] = field(default_factory=list)
    overflow: int = 0  # notes beyond MAX_LINES waiting, counted only
    inflight: tuple[str, str, bool, int] | None = None  # title, body, alert, notes: the message being tried
    attempts: int = 0
    drops_in_row: int = 0
    next_at: float = 0.0  # monotonic seconds; 0: now

    def due(self, now: float) -> bool:
        return (self.inflight is not None or bool(self.pending) or self.overflow > 0) and now >= self.next_at


class Dispatcher:
    """The delivery thread and its queue. `submit` from any thread; `start`, then `close` once."""

    def __init__(
        self,
        operator_urls: Sequence[str],
        follower_urls: Mapping[str, Sequence[str]],
        *,
        batch_seconds: float,
        send: Sender | None = None,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = QUEUE_SIZE,
        backoff_seconds: float = BACKOFF_SECONDS,
        log: Any = None,
    ) -> None:
        self._operator = [_channel("operator", url) for url in operator_urls]
        self._followers = {user: [_channel(user, url) for url in urls] for user, urls in follower_urls.items() if urls}
        self._channels = self._operator + [c for channels in self._followers.values() for c in channels]
        self._batch = batch_seconds
        self._send = send if send is not None else apprise_sender()
        self._clock = clock
        self._backoff = backoff_seconds
        self._queue: queue.Queue[Note] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._deadline = 0.0
        self._log = log if log is not None else get_logger("nija.notify")
        self._thread = threading.Thread(target=self._run, name="notify-delivery", daemon=True)
        self.queue_dropped = 0  # notes refused because the queue was full
        self.messages_sent = 0
        self.messages_dropped = 0  # messages given up after MAX_ATTEMPTS
        self._overflowing = False

    def submit(self, note: Note) -> bool:
        """Queue `note` for delivery without ever waiting; False (and counted) when the queue is
        full, with one warning per overflow."""
        try:
            self._queue.put_nowait(note)
        except queue.Full:
            self.queue_dropped += 1
            if not self._overflowing:
                self._overflowing = True
                self._log.warning("notify_queue_full", size=self._queue.maxsize, detail="notes dropped until it drains")
            return False
        self._overflowing = False
        return True

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread.start()

    def close(self, deadline_seconds: float) -> None:
        """Send what is waiting (one attempt each, batch windows ignored) for at most
        `deadline_seconds`, then stop; join with `join`."""
        self._deadline = self._clock() + deadline_seconds
        self._closing.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; True when it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the delivery thread -------------------------------------------------------------------

    def step(self, wait_seconds: float = 0.0) -> None:
        """One turn of the delivery thread: take queued notes (waiting up to `wait_seconds` for
        the first), then send every channel that is due. Tests drive it with their own clock."""
        self._take(wait_seconds)
        now = self._clock()
        for channel in sorted((c for c in self._channels if c.due(now)), key=lambda c: c.next_at):
            if self._closing.is_set():
                break
            self._deliver(channel, self._clock())

    def _run(self) -> None:
        while not self._closing.is_set():
            self.step(self._wait_seconds())
        self._drain()

    def _wait_seconds(self) -> float:
        now = self._clock()
        waiting = [c.next_at - now for c in self._channels if c.inflight or c.pending or c.overflow]
        return max(0.0, min([_IDLE_WAIT, *waiting]))

    def _take(self, timeout: float) -> None:
        """Move queued notes to their channels: block up to `timeout` for the first, then take
        whatever else is there."""
        try:
            note = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return
        while True:
            self._route(note)
            try:
                note = self._queue.get_nowait()
            except queue.Empty:
                return

    def _route(self, note: Note) -> None:
        targets = list(self._operator) if note.operator else []
        if note.follower is not None:
            targets += self._followers.get(note.follower, [])
        for channel in targets:
            if len(channel.pending) < MAX_LINES:
                channel.pending.append(note)
            else:
                channel.overflow += 1

    def _deliver(self, channel: _Channel, now: float, *, last_try: bool = False) -> None:
        """Send the channel's message (composing it from its pending notes first); on failure
        retry later with backoff, or drop it with one warning after MAX_ATTEMPTS (or `last_try`)."""
        if channel.inflight is None:
            channel.inflight = _compose(channel.pending, channel.overflow)
            channel.pending, channel.overflow = [], 0
        title, body, alert, _count = channel.inflight
        if self._send(channel.url, title, body, alert):
            self.messages_sent += 1
            channel.inflight, channel.attempts, channel.drops_in_row = None, 0, 0
            channel.next_at = now + self._batch
            return
        channel.attempts += 1
        if channel.attempts < MAX_ATTEMPTS and not last_try:
            channel.next_at = now + self._backoff * 2 ** (channel.attempts - 1)
            return
        self._drop(channel, now)

    def _drop(self, channel: _Channel, now: float) -> None:
        assert channel.inflight is not None
        self.messages_dropped += 1
        self._log.warning(
            "notify_dropped", recipient=channel.recipient, url=channel.shown, notes=channel.inflight[3],
            attempts=channel.attempts,
        )
        channel.inflight, channel.attempts = None, 0
        channel.drops_in_row += 1
        # A receiver that keeps failing is tried less and less often (its notes keep gathering,
        # bounded by MAX_LINES), so it cannot hold the delivery thread from the working ones.
        cooldown = max(self._batch, self._backoff) * 2 ** min(channel.drops_in_row, 10)
        channel.next_at = now + min(cooldown, MAX_COOLDOWN_SECONDS)

    def _drain(self) -> None:
        """Closing: route what is queued, then give each waiting channel one try before the deadline."""
        self._take(0)
        for channel in self._channels:
            if self._clock() >= self._deadline:
                break
            if channel.inflight or channel.pending or channel.overflow:
                self._deliver(channel, self._clock(), last_try=True)


def _channel(recipient: str, url: str) -> _Channel:
    plugin = notify_plugin(url)
    shown = redact_text(plugin.url(privacy=True)) if plugin is not None else "(unusable URL)"
    return _Channel(recipient=recipient, url=url, shown=shown)


def _compose(notes: Sequence[Note], overflow: int) -> tuple[str, str, bool, int]:
    """One message from a batch of notes: its title, redacted body, alert flag and note count."""
    count = len(notes) + overflow
    alert = any(note.alert for note in notes)
    title = "NIJA" if count == 1 else f"NIJA: {count} events"
    if alert:
        title += " (attention)"
    lines = [note.text for note in notes]
    if overflow:
        lines.append(f"… and {overflow} more (see python -m nija.status)")
    return title, redact_text("\n".join(lines)), alert, count
