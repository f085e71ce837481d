"""Notifications: what happened (read from the store) told to the operator (NIJA_NOTIFY) and to
each follower (`notify` in its file) through apprise, on threads of their own that never block or
slow trading. `build_notifier` makes the daemon's one `Notifier`.
"""

from __future__ import annotations

from nija.notify.delivery import Dispatcher, Sender, apprise_sender
from nija.notify.messages import Note
from nija.notify.notifier import Notifier, build_notifier, next_daily_at
from nija.notify.watch import StoreWatcher

__all__ = [
    "Dispatcher",
    "Note",
    "Notifier",
    "Sender",
    "StoreWatcher",
    "apprise_sender",
    "build_notifier",
    "next_daily_at",
]
