"""The report's two big reads and folds (every fill, every copy row), on a big store split
between two processes by account name: this one folds the names below the median follower's,
a forked one the rest, at once on two cores. Each account's rows stay in one process and in
the order recorded, so each is folded exactly as in one pass (the same Decimal operations in
the same order): the figures cannot differ, only the time.

What the halves share is merged in a fixed order: totals and copy figures are per account
(disjoint), and a market's mark is its newest fill over both, a tie of times going to the
account one fold would have met first (the one whose first fill was recorded first).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeAlias

from nija.report.figures import (
    AccountTotals,
    CopyFigures,
    LastFills,
    LastPrices,
    fold_copies,
    fold_fill_totals,
    fold_fills,
    last_fills,
    merge_last_fills,
)
from nija.store import Store

__all__ = ["fold_store"]

# Below this many fills a report takes a second or less in one process: not worth a second one.
_MIN_FILLS: Final = 100_000

Totals: TypeAlias = dict[tuple[str, str], AccountTotals]
Copies: TypeAlias = dict[tuple[str, str], CopyFigures]
Names: TypeAlias = tuple[str | None, str | None]  # lo <= account name < hi; None: open
_Half: TypeAlias = tuple[Totals, LastFills, LastFills, Copies]


def fold_store(store: Store, since: str | None, until: str | None) -> tuple[Totals, LastPrices, LastPrices, Copies]:
    """Every account's fill totals, the markets' last fills before the window and overall (as
    `fold_fills`), and every follower's copy figures (as `fold_copies`), over [since, until)."""
    bound = _split_point(store)
    if bound is None:
        with _gc_paused():
            totals, before, last = fold_fills(store.fill_tape(since, until))
            return totals, before, last, fold_copies(store.copy_tape(since, until))
    # fork: the child starts at once with everything imported (a fresh interpreter would spend a
    # good part of the time saved on imports). It opens its own connection; this process holds
    # no statement or transaction open while forking, and the child never touches its connection.
    # A process pool rather than multiprocessing's Pool: a child that dies (killed, out of
    # memory) raises BrokenProcessPool here instead of leaving the report waiting forever.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
        theirs = pool.submit(_fold_at, store.path, since, until, (bound, None))
        with _gc_paused():
            halves = [_fold_half(store, since, until, (None, bound)), theirs.result()]
    firsts: dict[tuple[str, str], int] = {}

    def first_fill(broker: str, account: str) -> int:
        if (broker, account) not in firsts:
            firsts[(broker, account)] = store.first_fill(broker, account, until)
        return firsts[(broker, account)]

    totals: Totals = {}
    copies: Copies = {}
    for half_totals, _, _, half_copies in halves:
        totals.update(half_totals)
        copies.update(half_copies)
    before = merge_last_fills([h[1] for h in halves], first_fill)
    last = merge_last_fills([h[2] for h in halves], first_fill)
    return totals, before, last, copies


def _split_point(store: Store) -> str | None:
    # The median follower's name, when the store is big enough to be worth two processes and
    # forking is safe: a process running threads (the web dashboard's server) could fork while
    # another thread holds a lock the child then waits on forever, so it folds in one pass.
    if threading.active_count() != 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or store.fill_rows_estimate() < _MIN_FILLS:
        return None
    names = sorted({user for _, user in store.copy_users_known()})
    if len(names) < 2:
        return None
    return names[len(names) // 2]


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A fold makes millions of tuples, strings and Decimals and no cycles: the collector's
    # passes over them (one per 700 new containers, and full ones as the heap grows) are
    # about a twentieth of its time, for nothing.
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _fold_at(path: Path, since: str | None, until: str | None, names: Names) -> _Half:
    # The child's half, on its own read-only connection. No garbage collection in it: a pass
    # would walk (and so copy) every object inherited from the parent, and it exits right after.
    gc.disable()
    store = Store(path, readonly=True)
    try:
        return _fold_half(store, since, until, names)
    finally:
        store.close()


def _fold_half(store: Store, since: str | None, until: str | None, names: Names) -> _Half:
    totals = fold_fill_totals(store.fill_tape(since, until, names=names))
    before, last = last_fills(totals)
    return totals, before, last, fold_copies(store.copy_tape(since, until, names=names))

