"""Helpers for end-to-end tests that watch a daemon subprocess through its store."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nija.status import collect
from nija.store import Store


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy (and return it), or fail after `timeout`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def reading(data_dir: Path) -> Iterator[Store | None]:
    """The daemon's store, read-only; None while it does not exist or is being created."""
    try:
        store = Store(data_dir / "nija.db", readonly=True)
    except Exception:
        yield None
        return
    try:
        yield store
    finally:
        store.close()


def brokers(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Status rows by broker name; empty while the store is not readable yet."""
    with reading(data_dir) as store:
        if store is None:
            return {}
        try:
            return {b["broker"]: b for b in collect(store)["brokers"]}
        except Exception:  # a write in progress: try again on the next poll
            return {}


def daemon_pid(data_dir: Path) -> int | None:
    """The pid the running (or last) daemon recorded in its store; None while there is none."""
    with reading(data_dir) as store:
        if store is None:
            return None
        try:
            record = store.daemon()
        except Exception:  # a write in progress: try again on the next poll
            return None
        return record.pid if record is not None else None


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the daemon and wait for it (killed after 15 s, so a test never hangs)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
