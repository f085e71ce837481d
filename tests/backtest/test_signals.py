"""EntrySignals: the next entry signal, scanned here or ahead in a forked child, is the same."""

from __future__ import annotations

import os
import signal
from typing import NamedTuple

import pytest

from nija.backtest.signals import EntrySignals


class _Decision(NamedTuple):
    enter: bool


class _Series:
    """Signals on every candle divisible by `every`; counts the decisions asked here."""

    def __init__(self, every: int, die_at: int | None = None) -> None:
        self.every, self.die_at, self.asked = every, die_at, 0

    def evaluate_entry(self, i: int) -> _Decision:
        self.asked += 1
        if self.die_at is not None and i == self.die_at and os.getpid() != PARENT:
            os.kill(os.getpid(), signal.SIGKILL)  # the child dies mid-scan
        return _Decision(i % self.every == 0)


PARENT = os.getpid()


def _walk(signals: EntrySignals, start: int, end: int, hold: int) -> list[int]:
    """Ask as the engine does: from a signal, `hold` candles are the loop's before the next ask."""
    seen, index = [], start
    while True:
        at = signals.next_at(index)
        if at > end:
            return seen
        seen.append(at)
        index = at + hold


def _expected(every: int, start: int, end: int, hold: int) -> list[int]:
    seen, index = [], start
    while True:
        at = next((i for i in range(index, end + 1) if i % every == 0), end + 1)
        if at > end:
            return seen
        seen.append(at)
        index = at + hold


@pytest.mark.parametrize("fork", [False, True])
@pytest.mark.parametrize(("every", "hold"), [(97, 1), (97, 40), (5_000, 3), (1, 1), (50_000, 1)])
def test_the_signals_asked_in_order_are_the_brute_force_scan(fork: bool, every: int, hold: int) -> None:
    start, end = 300, 30_000
    with EntrySignals(_Series(every), start, end, fork=fork) as signals:
        assert _walk(signals, start, end, hold) == _expected(every, start, end, hold)


def test_the_inline_scan_stops_at_the_first_signal() -> None:
    # The candles after a signal are mostly held ones, which the loop decides itself.
    series = _Series(100)
    signals = EntrySignals(series, 0, 10_000, fork=False)
    assert signals.next_at(1) == 100
    assert series.asked == 100


def test_a_forked_scan_asks_nothing_here() -> None:
    series = _Series(100)
    with EntrySignals(series, 0, 30_000, fork=True) as signals:
        assert signals.next_at(1) == 100
        assert signals.next_at(29_950) == 30_000
    assert series.asked == 0


def test_a_child_that_dies_leaves_the_rest_to_an_inline_scan() -> None:
    series = _Series(1_000, die_at=9_000)
    with EntrySignals(series, 0, 30_000, fork=True) as signals:
        assert _walk(signals, 0, 30_000, 10) == _expected(1_000, 0, 30_000, 10)
    assert series.asked > 0  # the scan went on here after the child's end


def test_close_stops_a_child_still_scanning() -> None:
    signals = EntrySignals(_Series(10**9), 0, 10**8, fork=True)  # would scan for minutes; a run ended early
    assert signals._child is not None
    child = signals._child
    signals.close()
    assert not child.is_alive()


def test_no_process_to_be_had_scans_here(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing.process

    def refuse(self: object) -> None:
        raise OSError("fork: resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    series = _Series(100)
    with EntrySignals(series, 0, 30_000, fork=True) as signals:
        assert signals._child is None
        assert _walk(signals, 0, 30_000, 7) == _expected(100, 0, 30_000, 7)
    assert series.asked > 0
