"""The daemon's allocator settings (`nija.malloc_env`): what is added, what a user set that wins,
and the one re-exec that applies them (same PID, same arguments)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nija.malloc_env import TCACHE_TUNABLE, daemon_malloc_env


def test_both_settings_are_added_to_a_plain_environment() -> None:
    assert daemon_malloc_env({}) == {"MALLOC_ARENA_MAX": "2", "GLIBC_TUNABLES": TCACHE_TUNABLE}
    assert daemon_malloc_env({"MALLOC_ARENA_MAX": "", "GLIBC_TUNABLES": ""}) == daemon_malloc_env({})  # empty is unset


def test_what_the_user_set_wins() -> None:
    assert daemon_malloc_env({"MALLOC_ARENA_MAX": "4", "GLIBC_TUNABLES": "glibc.malloc.tcache_count=3"}) == {}
    assert daemon_malloc_env({"MALLOC_ARENA_MAX": "4", "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=65536"}) == {
        "GLIBC_TUNABLES": f"glibc.malloc.trim_threshold=65536:{TCACHE_TUNABLE}"
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's settings: Linux only")
def test_the_process_reexecutes_itself_once_with_the_settings() -> None:
    code = (
        "import os; from nija.malloc_env import reexec_with_daemon_malloc; print(os.getpid(), flush=True);"
        " reexec_with_daemon_malloc(); print(os.getpid(), os.environ['MALLOC_ARENA_MAX'], os.environ['GLIBC_TUNABLES'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    first, again, last = out.stdout.splitlines()  # the code ran twice: before and after the exec
    assert first == again == str(out.stdout.split()[0])
    assert last == f"{first} 2 {TCACHE_TUNABLE}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's settings: Linux only")
def test_a_failed_reexec_runs_on_and_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from nija import malloc_env

    def refuse(*_: object) -> None:
        raise PermissionError("exec denied")

    monkeypatch.setenv("MALLOC_ARENA_MAX", "")  # empty is unset; set here so teardown restores it
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    monkeypatch.setattr(malloc_env.os, "execv", refuse)
    malloc_env.reexec_with_daemon_malloc()  # returns: the daemon starts anyway
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "default allocator settings" in err and "exec denied" in err
