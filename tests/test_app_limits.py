"""The daemon lifts its open-file limit before a thousand copy users open their descriptors."""

from __future__ import annotations

import resource
import subprocess
import sys
from typing import Any

import pytest

from nija import app


class RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


def test_a_low_soft_limit_is_lifted_to_the_hard_one_in_a_real_process() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 64:
        pytest.skip(f"hard open-file limit {hard} leaves nothing to lift")
    probe = (
        "import resource; from nija.app import raise_open_file_limit\n"
        "class Log:\n    def warning(self, *a, **k): print('warned', a, k)\n"
        "limit = raise_open_file_limit(Log())\n"
        "print(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard)),
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    expected = hard if hard != resource.RLIM_INFINITY else app.OPEN_FILES_WANTED
    assert out == [str(expected), str(expected)]


def test_unlimited_hard_limit_asks_for_a_fixed_number(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1_024, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, limits: calls.append(limits))
    assert app.raise_open_file_limit(RecordingLog()) == app.OPEN_FILES_WANTED
    assert calls == [(app.OPEN_FILES_WANTED, resource.RLIM_INFINITY)]


def test_a_refused_raise_keeps_the_old_limit_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_which: int, _limits: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1_024, 4_096))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    log = RecordingLog()
    assert app.raise_open_file_limit(log) == 1_024
    assert log.warnings == [("open_file_limit_unchanged", {"soft": 1_024, "hard": 4_096, "error": "not allowed"})]


@pytest.mark.parametrize(("limit", "users", "warned"), [(1_024, 1_000, True), (4_096, 1_000, False), (1_024, 300, False)])
def test_too_few_files_for_the_users_is_one_warning(limit: int, users: int, warned: bool) -> None:
    log = RecordingLog()
    app.warn_if_too_few_files(limit, users, log)
    assert [event for event, _ in log.warnings] == (["open_file_limit_low"] if warned else [])
    if warned:
        assert log.warnings[0][1]["needed"] == 2 * users + app.OPEN_FILES_RESERVE
