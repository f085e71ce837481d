"""The data directory's lock: one writer of a data dir's accounts at a time.

The daemon holds it for its whole life. `python -m nija.trade` takes it to execute a manual
trade itself when no daemon runs; when it cannot (a daemon holds it), it hands the trade to the
daemon's broker loop instead, so an account's books never have two writers.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Final

__all__ = ["LOCK_FILE", "DataDirLock"]

LOCK_FILE: Final = "nija.lock"


class DataDirLock:
    """An exclusive, non-blocking `flock` on `<data dir>/nija.lock`, released when the process ends."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for as long as the lock

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        """Let the lock go (a CLI that is done; the daemon keeps it until it exits)."""
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
