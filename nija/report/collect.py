"""Gather every account's report from a store: reads through `store.reporting`, arithmetic in
`report.figures`. Reads only: the store may be open read-only while the daemon writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nija.holdings import TransferSeen
from nija.report.figures import (
    AccountTotals,
    CopyFigures,
    Drawdown,
    NO_COPIES,
    LastPrices,
    Mark,
    fold_fills,
    max_drawdown,
    opening_equity,
    ratio_pct,
    settle,
)
from nija.report.split import fold_store
from nija.store import EquityPoint, FillTape, Store

__all__ = ["AccountReport", "Report", "Tracking", "Window", "collect", "marks_at"]


@dataclass(frozen=True, slots=True)
class Window:
    """The report's period [since, until), UTC; None: open on that side."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def since_key(self) -> str | None:
        """`since` as the stored timestamps' text, for comparing without parsing each row."""
        return None if self.since is None else self.since.isoformat()

    @property
    def until_key(self) -> str | None:
        """`until` as the stored timestamps' text."""
        return None if self.until is None else self.until.isoformat()


@dataclass(frozen=True, slots=True)
class Tracking:
    """A follower's return on its copied positions against the master's over the same trades
    (the master fills it copied), both on the quote at work (positions held when the window
    opened, at the marks then, plus what buys put in); difference = follower − master, in
    percentage points."""

    master: str
    follower_return_pct: Decimal | None
    master_return_pct: Decimal | None
    difference_pct: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountReport:
    """One account's figures over the window."""

    broker: str
    account: str
    role: str  # "master" or "follower"
    totals: AccountTotals
    opening_equity: Decimal | None
    return_pct: Decimal | None  # net as a percent of the opening equity
    drawdown: Drawdown | None
    equity_source: str  # where the equity series came from
    marks: Mapping[str, Mark]  # the mark of each symbol still held at the window's end
    copies: CopyFigures | None = None
    tracking: Tracking | None = None

    @property
    def win_rate_pct(self) -> Decimal | None:
        """Share of closing sells that made money after fees, in percent."""
        return ratio_pct(Decimal(self.totals.wins), Decimal(self.totals.closed))


@dataclass(frozen=True, slots=True)
class Report:
    """Every account's report, and the window it covers."""

    window: Window
    accounts: Sequence[AccountReport]


def marks_at(last: Mapping[tuple[str, str], tuple[str, Decimal]]) -> dict[tuple[str, str], Mark]:
    """Marks from the last fill price of each (broker, symbol)."""
    return {key: Mark(price, "last fill", datetime.fromisoformat(ts)) for key, (ts, price) in last.items()}


def _end_marks(store: Store, window: Window, last: LastPrices) -> dict[tuple[str, str], Mark]:
    # The newest price the store has: the paper market's published price when it is newer than
    # the last fill (and the report runs to now), else the last fill on that broker, any account.
    marks = marks_at(last)
    if window.until is not None:
        return marks
    for key, paper in store.paper_marks().items():
        fill = marks.get(key)
        if fill is None or paper.published_at is None or fill.at is None or paper.published_at >= fill.at:
            marks[key] = Mark(paper.price, "paper price", paper.published_at)
    return marks


def collect(store: Store, window: Window, only: tuple[str, str] | None = None) -> Report:
    """Every master's and follower's report over `window` (or only the account `only`)."""
    since, until = window.since_key, window.until_key
    # The two big reads, each one pass: every fill, and every copy row of the window (on a big
    # store in two processes at once, `split`).
    totals, last_before, last, copies = fold_store(store, since, until)
    followers = sorted(set(store.copy_users_known()) | set(copies))
    masters = sorted((store.master_accounts() | set(totals)) - set(followers))
    start_marks = marks_at(last_before)
    end_marks = _end_marks(store, window, last)
    snapshots = store.equity_snapshot_points(until)
    tracker = _Tracker(store, window, followers, copies, (start_marks, end_marks))
    reports = []
    for role, accounts in (("master", masters), ("follower", followers)):
        for broker, account in accounts:
            if only is not None and (broker, account) != only:
                continue
            acct = totals.get((broker, account)) or AccountTotals()
            settle(acct, broker, start_marks, end_marks)
            mine = copies.get((broker, account)) if role == "follower" else None
            tracking = tracker.tracking(acct, broker, account) if role == "follower" else None
            points = snapshots.get((broker, account), [])
            transfers = store.transfers(broker, account) if points else []
            reports.append(_account(role, broker, account, acct, points, window, end_marks, mine, tracking, transfers))
    return Report(window=window, accounts=reports)


def _account(role: str, broker: str, account: str, acct: AccountTotals, points: list[EquityPoint], window: Window,
             end_marks: Mapping[tuple[str, str], Mark], copies: CopyFigures | None,
             tracking: Tracking | None, transfers: Sequence[TransferSeen] = ()) -> AccountReport:
    # Masters have equity snapshots; a follower's equity history is what its copies recorded.
    copies = copies if copies is not None or role == "master" else NO_COPIES
    if points or copies is None:
        opening, source = opening_equity(points, window.since), "equity snapshots"
        drawdown = max_drawdown([p for p in points if window.since is None or p.at >= window.since], transfers)
    else:
        opening, drawdown, source = copies.first_equity, copies.drawdown, "equity recorded with each copy"
    return AccountReport(
        broker=broker, account=account, role=role, totals=acct, opening_equity=opening,
        return_pct=ratio_pct(acct.net, opening), drawdown=drawdown, equity_source=source,
        marks={s: end_marks[(broker, s)] for s, b in acct.books.items() if b.qty and (broker, s) in end_marks},
        copies=copies,
        tracking=tracking,
    )


class _Tracker:
    """Each follower's return against its master's over the same trades. The master's side is
    the master fills the follower copied (up to the window's end, so a position opened before
    the window counts on both sides alike), folded on their own. Most followers copy every
    master fill: each distinct set is folded once, and only the others' sets are read."""

    def __init__(self, store: Store, window: Window, followers: Sequence[tuple[str, str]],
                 copies: Mapping[tuple[str, str], CopyFigures],
                 marks: tuple[Mapping[tuple[str, str], Mark], Mapping[tuple[str, str], Mark]]) -> None:
        self._store, self._window, self._marks = store, window, marks
        self._every = store.master_trades(None, window.until_key)
        if window.since is None:  # the copy tape covered everything up to the end
            engine = store.filled_engine_copies(None, window.until_key)
            filled = {key: c.filled - engine.get(key, 0) for key, c in copies.items()}
        else:
            filled = store.filled_master_copies(window.until_key)
        partial = [k for k in followers if filled.get(k, 0) != len(self._every.get(k[0], frozenset()))]
        self._partial = store.copied_trades(partial, window.until_key) if partial else {}
        self._masters: dict[str, str | None] = {}
        self._tapes: dict[tuple[str, str], list[FillTape]] = {}
        self._folded: dict[tuple[str, frozenset[str]], AccountTotals] = {}

    def tracking(self, follower: AccountTotals, broker: str, user: str) -> Tracking | None:
        """The follower's tracking difference, None when its broker has no master signal."""
        if broker not in self._masters:
            self._masters[broker] = self._store.master_of(broker)
        master = self._masters[broker]
        if master is None:
            return None
        partial = self._partial.get((broker, user))
        trades = self._every.get(broker, frozenset()) if partial is None else frozenset(partial)
        subset = self._subset(broker, master, trades)
        mine, theirs = ratio_pct(follower.net, follower.invested), ratio_pct(subset.net, subset.invested)
        return Tracking(
            master=master, follower_return_pct=mine, master_return_pct=theirs,
            difference_pct=None if mine is None or theirs is None else mine - theirs,
        )

    def _subset(self, broker: str, master: str, trades: frozenset[str]) -> AccountTotals:
        key = (broker, trades)
        if key not in self._folded:
            if (broker, master) not in self._tapes:
                self._tapes[(broker, master)] = [row for batch in self._store.fill_tape(
                    self._window.since_key, self._window.until_key, (broker, master), trade_ids=True) for row in batch]
            tape = [row[:-1] for row in self._tapes[(broker, master)] if row[-1] in trades]
            subset = fold_fills([tape])[0].get((broker, master)) or AccountTotals()
            settle(subset, broker, *self._marks)
            self._folded[key] = subset
        return self._folded[key]
