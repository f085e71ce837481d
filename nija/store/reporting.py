"""The report's reads (`python -m nija.report`) and the one table it owns: each follower's
performance-fee high-water mark per statement period.

Everything here but `commit_fee_mark` only reads, so the report runs on a read-only `Store`
while the daemon writes. Fills are read in insertion order (rowid): the order execution applied
them to positions, so a report's fold reproduces the stored position accounting exactly.

A report reads every fill and every copy row (a million each at 1,000 followers), so the two
big reads are "tapes": plain tuples of the stored text, which the report's fold turns into
`Decimal` itself (exact, never through a float). What SQL can sum exactly (counts) it sums.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeAlias

from nija.models import CopyStatus, SignalKind
from nija.store.db import Database, StoreUnavailable

__all__ = [
    "TAPE_SEP",
    "CopyTape",
    "EquityPoint",
    "FeeMark",
    "FillTape",
    "NameRange",
    "PaperMark",
    "ReportRecords",
    "TradeRow",
]

_FILLED: Final = (CopyStatus.FILLED, CopyStatus.PARTIAL)
_BATCH: Final = 2_000  # rows fetched at a time: few enough to stay in the CPU caches while folded
_FAR_FUTURE: Final = "9999-12-31T23:59:59+00:00"
_MMAP_BYTES: Final = 1 << 30  # address space only: the OS pages the file in as it is read


# Tapes key rows by one string, its parts joined by TAPE_SEP (no name NIJA accepts holds it): SQL
# joins them, so a row brings one string instead of three.
TAPE_SEP: Final = "\x1f"
# One fill on a tape: (broker␟account␟symbol, is_buy 0/1, qty, price, fee, fee_in_base or None
# when 0, in_window 0/1, ts_exchange) as stored text; `fill_tape(..., trade_ids=True)` appends
# the trade id.
FillTape: TypeAlias = tuple[Any, ...]
# One copy ledger row on a tape: (broker␟user_id, status, reason (None when filled),
# ack_latency_ms, fill_latency_ms, slippage_bps text, user_equity text).
CopyTape: TypeAlias = tuple[Any, ...]
# Account (or user id) names lo <= name < hi, None: open on that side. A report folds its
# accounts in two such ranges side by side (`nija.report.split`).
NameRange: TypeAlias = tuple[str | None, str | None]


def _in_range(column: str, names: NameRange, params: list[Any]) -> str:
    # The SQL condition for `names` on `column` (empty when open), its values added to `params`.
    lo, hi = names
    sql = ""
    if lo is not None:
        sql += f" AND {column} >= ?"
        params.append(lo)
    if hi is not None:
        sql += f" AND {column} < ?"
        params.append(hi)
    return sql


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One fill for the trade history: its order's reason and, for a follower, the copied signal."""

    broker: str
    account: str
    ts: datetime
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_in_base: Decimal
    fee_currency: str | None
    trade_id: str
    reason: str | None
    signal_id: str | None  # the master signal this fill copied (followers' copies only)
    master_trade_id: str | None  # the master fill behind that signal


# `TradeRow`'s columns, a WHERE clause to be added: each fill, its order's reason, the signal a
# follower's fill copied and the master fill behind it. The report and the dashboard both read it.
TRADE_ROWS_SQL: Final = (
    "SELECT f.broker, f.account, f.ts_exchange, f.symbol, f.side, f.qty, f.price, f.fee, f.fee_in_base,"
    " f.fee_currency, f.trade_id, o.reason, c.signal_id, s.trade_id AS master_trade_id"
    " FROM fills f LEFT JOIN orders o ON o.client_order_id = f.client_order_id"
    " LEFT JOIN copy_orders c ON c.client_order_id = f.client_order_id"
    " LEFT JOIN signals s ON s.signal_id = c.signal_id"
)


def trade_row(r: sqlite3.Row) -> TradeRow:
    """The `TradeRow` of a row `TRADE_ROWS_SQL` selected."""
    return TradeRow(
        broker=r["broker"], account=r["account"], ts=datetime.fromisoformat(r["ts_exchange"]),
        symbol=r["symbol"], side=r["side"], qty=Decimal(r["qty"]), price=Decimal(r["price"]),
        fee=Decimal(r["fee"]), fee_in_base=Decimal(r["fee_in_base"]), fee_currency=r["fee_currency"],
        trade_id=r["trade_id"], reason=r["reason"], signal_id=r["signal_id"], master_trade_id=r["master_trade_id"],
    )


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """An account's equity at a moment: from an equity snapshot (masters) or the equity the copy
    ledger recorded when it sized a copy (followers, who have no snapshots)."""

    at: datetime
    equity: Decimal


@dataclass(frozen=True, slots=True)
class PaperMark:
    """The paper market's latest price of a symbol, and when (wall clock) it was published."""

    price: Decimal
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class FeeMark:
    """A committed statement period of one follower: cumulative copied-position P&L at its end,
    the high-water mark after it (never lower than before) and the fee charged for it."""

    broker: str
    user_id: str
    period: str  # YYYY-MM
    cumulative_pnl: Decimal
    high_water_mark: Decimal
    fee_pct: Decimal
    fee_due: Decimal
    committed_at: datetime


class ReportRecords(Database):
    """Reads for reports and statements; the fee-mark table's one write."""

    def report_accounts(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(masters, followers) as sorted (broker, account) pairs. Followers are the copy users
        the engine registered or the ledger knows; every other account with fills, equity or
        signals is a master."""
        followers = {
            (r["broker"], r["user_id"])
            for r in self._query("SELECT broker, user_id FROM copy_users UNION SELECT broker, user_id FROM copy_orders")
        }
        seen = {
            (r["broker"], r["account"])
            for r in self._query(
                "SELECT broker, account FROM equity_snapshots UNION SELECT broker, master_account FROM signals"
                " UNION SELECT DISTINCT broker, account FROM fills"
            )
        }
        return sorted(seen - followers), sorted(followers)

    def _scan_cursor(self) -> sqlite3.Cursor:
        # Plain tuples: a million sqlite3.Row objects cost seconds. A read-only store (a report)
        # is memory-mapped for the scan, sparing a copy of every page through the small cache.
        if self.readonly:
            self._conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        cursor = self._conn.cursor()
        cursor.row_factory = None
        return cursor

    def fill_tape(self, since: str | None, until: str | None, only: tuple[str, str] | None = None, *,
                  trade_ids: bool = False, names: NameRange = (None, None)) -> Iterator[list[FillTape]]:
        """Every fill with ts_exchange before `until` (all if None) as `FillTape` rows, in batches,
        in the order execution recorded them; in_window says ts_exchange >= `since`. Only the
        account `only` (broker, account) when given, only accounts named in the range `names`,
        with trade ids when asked."""
        where, params = "ts_exchange < ?", [since or "", until or _FAR_FUTURE]
        if only is not None:
            where += " AND broker = ? AND account = ?"
            params += list(only)
        where += _in_range("account", names, params)
        cursor = self._scan_cursor()
        cursor.execute(
            "SELECT broker || char(31) || account || char(31) || symbol, side = 'buy', qty, price, fee,"
            f" NULLIF(fee_in_base, '0'), ts_exchange >= ?, ts_exchange{', trade_id' if trade_ids else ''} FROM fills"
            f" WHERE {where} ORDER BY rowid",
            params,
        )
        while rows := cursor.fetchmany(_BATCH):
            yield rows

    def first_fill(self, broker: str, account: str, until: str | None) -> int:
        """Where the account's first fill before `until` sits in the order fills were recorded
        (its rowid; 0 when it has none): which of two accounts a report's fold met first."""
        rows = self._query(
            "SELECT MIN(rowid) FROM fills WHERE broker = ? AND account = ? AND ts_exchange < ?",
            (broker, account, until or _FAR_FUTURE),
        )
        return rows[0][0] or 0

    def fill_rows_estimate(self) -> int:
        """About how many fills the store holds (the largest rowid: no scan)."""
        return self._query("SELECT MAX(rowid) FROM fills")[0][0] or 0

    def last_prices(self, before: str | None, broker: str | None = None) -> dict[tuple[str, str], tuple[str, Decimal]]:
        """The last fill price of each (broker, symbol) before `before` (any account), with its
        time: the mark open positions are valued at when the paper market has none."""
        where, params = "ts_exchange < ?", [before or _FAR_FUTURE]
        if broker is not None:
            where += " AND broker = ?"
            params.append(broker)
        # SQLite returns the bare columns of the row that holds the MAX() of a group.
        rows = self._query(
            f"SELECT broker, symbol, price, MAX(ts_exchange) AS ts FROM fills WHERE {where} GROUP BY broker, symbol",
            params,
        )
        return {(r["broker"], r["symbol"]): (r["ts"], Decimal(r["price"])) for r in rows}

    def backup_into(self, dest: Path) -> int:
        """Copy the store into the new file `dest` with SQLite's online backup (a consistent
        snapshot while the daemon writes); check the copy and return its schema version."""
        target = sqlite3.connect(dest)
        try:
            # All pages in one step, inside one read transaction: in WAL mode the daemon's writers
            # go on meanwhile, and the copy is that one snapshot. Copying in steps would restart
            # after every write of the daemon, and might never finish on a busy store.
            self._conn.backup(target, pages=-1)
            problems = [row[0] for row in target.execute("PRAGMA quick_check").fetchall()]
            version = int(target.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"backup of {self.path} to {dest} failed: {exc}") from None
        finally:
            target.close()
        if problems != ["ok"]:
            raise StoreUnavailable(f"backup of {self.path} to {dest} failed its check: {problems[0]}")
        return version

    def trade_rows(self, since: str | None, until: str | None) -> list[TradeRow]:
        """Every fill in [since, until), oldest first, with its order's reason and copied signal."""
        rows = self._query(
            TRADE_ROWS_SQL + " WHERE f.ts_exchange >= ? AND f.ts_exchange < ? ORDER BY f.ts_exchange, f.rowid",
            (since or "", until or _FAR_FUTURE),
        )
        return [trade_row(r) for r in rows]

    def paper_marks(self) -> dict[tuple[str, str], PaperMark]:
        """The paper market's latest price of each (broker, symbol)."""
        return {
            (r["broker"], r["symbol"]): PaperMark(
                Decimal(r["price"]),
                None if r["published_ms"] is None else datetime.fromtimestamp(r["published_ms"] / 1000, tz=UTC),
            )
            for r in self._query("SELECT broker, symbol, price, published_ms FROM paper_prices")
        }

    def equity_points(self, until: str | None = None) -> dict[tuple[str, str], list[EquityPoint]]:
        """Each account's equity over time before `until`, oldest first: equity snapshots, and for
        followers (no snapshots) the equity the ledger recorded with each copy."""
        bound = until or _FAR_FUTURE
        found: dict[tuple[str, str], list[EquityPoint]] = {}
        for r in self._query(
            "SELECT broker, account, total_equity, taken_at FROM equity_snapshots WHERE taken_at < ?"
            " ORDER BY taken_at, rowid",
            (bound,),
        ):
            found.setdefault((r[0], r[1]), []).append(EquityPoint(datetime.fromisoformat(r[3]), Decimal(r[2])))
        # A ledger row's equity was read when its signal was sized: dated by the master's fill
        # (a backtest's rows are written at wall-clock time, its fills at replay time).
        for r in self._query(
            "SELECT c.broker, c.user_id, c.user_equity, s.fill_time FROM copy_orders c"
            " JOIN signals s ON s.signal_id = c.signal_id WHERE c.user_equity IS NOT NULL AND s.fill_time < ?"
            " ORDER BY s.fill_time, c.rowid",
            (bound,),
        ):
            found.setdefault((r[0], r[1]), []).append(EquityPoint(datetime.fromisoformat(r[3]), Decimal(r[2])))
        return found

    def copy_tape(self, since: str | None, until: str | None, *,
                  names: NameRange = (None, None)) -> Iterator[list[CopyTape]]:
        """Every ledger row of a signal whose fill is in [since, until) as `CopyTape` rows, in
        batches, in the order the rows were written; only users named in the range `names`."""
        columns = (
            "SELECT c.broker || char(31) || c.user_id, c.status, CASE WHEN c.status IN (?, ?) THEN NULL ELSE c.reason END,"
            " c.ack_latency_ms, c.fill_latency_ms, c.slippage_bps, c.user_equity FROM copy_orders c"
        )
        params: list[Any] = list(_FILLED)
        cursor = self._scan_cursor()
        if since is None and until is None:  # every row: no join (a million signal lookups)
            where = "1" + _in_range("c.user_id", names, params)
            cursor.execute(f"{columns} WHERE {where} ORDER BY c.rowid", params)
        else:
            params += [since or "", until or _FAR_FUTURE]
            where = "s.fill_time >= ? AND s.fill_time < ?" + _in_range("c.user_id", names, params)
            cursor.execute(
                f"{columns} JOIN signals s ON s.signal_id = c.signal_id WHERE {where} ORDER BY c.rowid", params,
            )
        while rows := cursor.fetchmany(_BATCH):
            yield rows

    def master_trades(self, since: str | None, until: str | None) -> dict[str, frozenset[str]]:
        """The trade ids of each broker's master fills that emitted a signal in [since, until)."""
        found: dict[str, set[str]] = {}
        for r in self._query(
            "SELECT broker, trade_id FROM signals WHERE kind = ? AND fill_time >= ? AND fill_time < ?",
            (SignalKind.MASTER, since or "", until or _FAR_FUTURE),
        ):
            found.setdefault(r[0], set()).add(r[1])
        return {broker: frozenset(ids) for broker, ids in found.items()}

    def filled_engine_copies(self, since: str | None, until: str | None) -> dict[tuple[str, str], int]:
        """Filled or partial copies of the copy engine's own signals (not a master's fill) in
        [since, until), per follower: few, read from the signals' side."""
        # CROSS JOIN keeps signals outermost: a few engine signals, each finding its rows by the
        # ledger's key, instead of every filled ledger row looking its signal up.
        rows = self._query(
            "SELECT c.broker, c.user_id, COUNT(*) FROM signals s"
            " CROSS JOIN copy_orders c ON c.signal_id = s.signal_id WHERE s.kind != ? AND s.fill_time >= ? AND s.fill_time < ? AND c.status IN (?, ?)"
            " GROUP BY c.broker, c.user_id",
            (SignalKind.MASTER, since or "", until or _FAR_FUTURE, *_FILLED),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def filled_master_copies(self, until: str | None) -> dict[tuple[str, str], int]:
        """How many master fills before `until` each follower copied with a filled or partial row."""
        rows = self._query(
            "SELECT c.broker, c.user_id, COUNT(*) FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            " WHERE c.status IN (?, ?) AND s.kind = ? AND s.fill_time < ? GROUP BY c.broker, c.user_id",
            (*_FILLED, SignalKind.MASTER, until or _FAR_FUTURE),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def copied_trades(self, followers: Sequence[tuple[str, str]], until: str | None) -> dict[tuple[str, str], set[str]]:
        """The master fills (trade ids) before `until` each of `followers` copied with a filled
        or partial row (one read per 500 followers)."""
        found: dict[tuple[str, str], set[str]] = {key: set() for key in followers}
        users = sorted({user for _, user in followers})
        for start in range(0, len(users), 500):
            chunk = users[start : start + 500]
            for r in self._query(
                "SELECT c.broker, c.user_id, s.trade_id FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
                f" WHERE c.user_id IN ({','.join('?' * len(chunk))}) AND c.status IN (?, ?) AND s.kind = ?"
                " AND s.fill_time < ?",
                (*chunk, *_FILLED, SignalKind.MASTER, until or _FAR_FUTURE),
            ):
                if (r[0], r[1]) in found:
                    found[(r[0], r[1])].add(r[2])
        return found

    def equity_snapshot_points(self, until: str | None = None) -> dict[tuple[str, str], list[EquityPoint]]:
        """Each account's equity snapshots before `until`, oldest first."""
        found: dict[tuple[str, str], list[EquityPoint]] = {}
        for r in self._query(
            "SELECT broker, account, total_equity, taken_at FROM equity_snapshots WHERE taken_at < ?"
            " ORDER BY taken_at, rowid",
            (until or _FAR_FUTURE,),
        ):
            found.setdefault((r[0], r[1]), []).append(EquityPoint(datetime.fromisoformat(r[3]), Decimal(r[2])))
        return found

    def copy_users_known(self) -> list[tuple[str, str]]:
        """Every copy user the engine registered, as (broker, user_id)."""
        return [(r[0], r[1]) for r in self._query("SELECT broker, user_id FROM copy_users ORDER BY broker, user_id")]

    def master_accounts(self) -> set[tuple[str, str]]:
        """Accounts with equity snapshots or master signals (masters, unless they are copy users)."""
        return {
            (r[0], r[1])
            for r in self._query(
                "SELECT broker, account FROM equity_snapshots UNION SELECT broker, master_account FROM signals"
            )
        }

    def master_of(self, broker: str) -> str | None:
        """The master account whose signals a broker's followers copy (the latest signal's)."""
        rows = self._query(
            "SELECT master_account FROM signals WHERE broker = ? AND kind = ? ORDER BY rowid DESC LIMIT 1",
            (broker, SignalKind.MASTER),
        )
        return rows[0][0] if rows else None

    # -- performance-fee marks ---------------------------------------------------------------

    def fee_marks(self, broker: str, user_id: str) -> list[FeeMark]:
        """A follower's committed statement periods, oldest first."""
        rows = self._query(
            "SELECT * FROM performance_fee_marks WHERE broker = ? AND user_id = ? ORDER BY period", (broker, user_id)
        )
        return [_fee_mark(r) for r in rows]

    def commit_fee_mark(self, mark: FeeMark) -> FeeMark:
        """Store a period's mark once and return the stored row: committing the same period again
        changes nothing (the first commit stands), and a mark is never lowered by a later one."""
        with self._tx() as conn:
            key = (mark.broker, mark.user_id, mark.period)
            exists = conn.execute(
                "SELECT 1 FROM performance_fee_marks WHERE broker = ? AND user_id = ? AND period = ?", key
            ).fetchone()
            later = conn.execute(
                "SELECT MIN(period) FROM performance_fee_marks WHERE broker = ? AND user_id = ? AND period > ?", key
            ).fetchone()[0]
            if exists is None and later is not None:
                raise ValueError(f"{later} of {mark.user_id} is already committed: months commit in order")
            conn.execute(
                "INSERT OR IGNORE INTO performance_fee_marks (broker, user_id, period, cumulative_pnl, high_water_mark,"
                " fee_pct, fee_due, committed_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    mark.broker, mark.user_id, mark.period, str(mark.cumulative_pnl), str(mark.high_water_mark),
                    str(mark.fee_pct), str(mark.fee_due), mark.committed_at.isoformat(),
                ),
            )
            stored = conn.execute(
                "SELECT * FROM performance_fee_marks WHERE broker = ? AND user_id = ? AND period = ?",
                (mark.broker, mark.user_id, mark.period),
            ).fetchone()
        return _fee_mark(stored)


def _fee_mark(row: sqlite3.Row) -> FeeMark:
    return FeeMark(
        broker=row["broker"], user_id=row["user_id"], period=row["period"],
        cumulative_pnl=Decimal(row["cumulative_pnl"]), high_water_mark=Decimal(row["high_water_mark"]),
        fee_pct=Decimal(row["fee_pct"]), fee_due=Decimal(row["fee_due"]),
        committed_at=datetime.fromisoformat(row["committed_at"]),
    )
