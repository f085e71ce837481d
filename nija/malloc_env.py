"""The C allocator settings the daemon runs with, and the re-exec that gives them to `python -m nija`.

glibc reads its malloc settings from the environment when a process starts, so they cannot be set
from Python once running; `nija/__main__.py` re-executes itself once with them (same PID, same
arguments) before importing anything else, so start.sh, the systemd unit, a bare
`python -m nija` and the soak all run the daemon with the same allocator.

Why these two:
  * `glibc.malloc.tcache_count=0`: glibc keeps up to 7 freed chunks per size class in a cache per
    thread. The copy engine runs a writer thread per follower (about 100 in the soak); each cache
    fills slowly as its thread meets new sizes, memory that is free to Python but held by glibc.
    In a 10-minute soak (scripts/soak.py, 100 followers) RSS grew 2.83 % with it and 0.85 %
    without, glibc's in-use bytes growing 3 MB in 6 minutes with it and flat without. Python's
    own allocator serves every object up to 512 bytes, so the cache saves little here.
  * `MALLOC_ARENA_MAX=2`: glibc otherwise creates up to 8 arenas per core for a hundred threads
    that mostly wait on the network; a 60-minute soak grew 6.91 % with the default, 5.83 % with 2.

A value the user set wins: an existing `MALLOC_ARENA_MAX` is kept, and so is a `GLIBC_TUNABLES`
that already sets the tcache count (otherwise the tunable is appended to theirs). Pure but for
`reexec_with_daemon_malloc`, which replaces the process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Final

__all__ = ["TCACHE_TUNABLE", "daemon_malloc_env", "reexec_with_daemon_malloc"]

TCACHE_TUNABLE: Final = "glibc.malloc.tcache_count=0"
_ARENA_MAX: Final = "2"


def daemon_malloc_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to `env` for the daemon's allocator (empty: it has them already)."""
    changes: dict[str, str] = {}
    if not env.get("MALLOC_ARENA_MAX"):
        changes["MALLOC_ARENA_MAX"] = _ARENA_MAX
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.tcache_count=" not in tunables:
        changes["GLIBC_TUNABLES"] = f"{tunables}:{TCACHE_TUNABLE}" if tunables else TCACHE_TUNABLE
    return changes


def reexec_with_daemon_malloc() -> None:
    """On Linux, replace this process with itself under the daemon's allocator settings, once;
    elsewhere, or when it has them (or the exec fails), return and run as is."""
    if not sys.platform.startswith("linux"):
        return  # the variables are glibc's
    changes = daemon_malloc_env(os.environ)
    if not changes:
        return
    os.environ.update(changes)
    try:
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    except OSError as exc:  # still runs, on the allocator's defaults; logging is not set up yet
        print(f"nija: running on glibc's default allocator settings (re-exec failed: {exc});"
              " memory may grow slowly with many followers", file=sys.stderr)
