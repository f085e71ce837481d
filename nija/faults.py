"""Fault points for the crash matrix (`scripts/crash_matrix.py`): kill the process at one step
of the order lifecycle, as `kill -9` would, to prove a restart loses and doubles nothing.

`NIJA_CRASH_AT=NAME` (or `NAME:N`, the N-th time that point is reached) makes `crash_point(NAME)`
end the process at once with `os._exit(137)`: no cleanup, no flush, no `finally`. Unset (always,
outside the crash matrix) a call costs one dict lookup. The variable is read once per process.
"""

from __future__ import annotations

import os
import threading

__all__ = ["crash_point"]

_lock = threading.Lock()
_armed: dict[str, int] = {}
_seen: dict[str, int] = {}


def _arm() -> None:
    spec = os.environ.get("NIJA_CRASH_AT", "").strip()
    if spec:
        name, _, nth = spec.partition(":")
        _armed[name.strip()] = int(nth) if nth.strip() else 1


_arm()


def crash_point(name: str) -> None:
    """End the process here if `NIJA_CRASH_AT` names this point (and its count is reached)."""
    if name not in _armed:
        return
    with _lock:
        _seen[name] = _seen.get(name, 0) + 1
        if _seen[name] >= _armed[name]:
            os._exit(137)
