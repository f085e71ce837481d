"""What the notifier reads and keeps (`nija.notify`): master fills after a cursor, copy-ledger rows
that reached a final status, each account's health and halts, the daily summary's figures, and the
notifier's own progress (`notify_state`). Reads only, apart from that progress: the notifier never
writes trading state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from nija.models import MASTER_ACCOUNT, CopyStatus, utc_now
from nija.store.db import Database, _dec

__all__ = ["AccountState", "CopyNote", "DailyFigures", "FillNote", "HaltState", "NotificationRecords", "TransferNote"]

# A ledger row in one of these never changes status again (models._COPY_NEXT has no row for them).
FINAL_COPY_STATUSES: Final = (
    CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.FAILED, CopyStatus.EXPIRED, CopyStatus.SKIPPED,
)


@dataclass(frozen=True, slots=True)
class FillNote:
    """One master fill, with its place in the fills table (the notifier's cursor)."""

    rowid: int
    broker: str
    account: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    ts_seen: datetime


@dataclass(frozen=True, slots=True)
class TransferNote:
    """A deposit (+) or withdrawal (-) seen on a master's or follower's account, with its place in
    the transfers table (the notifier's cursor)."""

    rowid: int
    broker: str
    account: str
    value: Decimal
    equity: Decimal


@dataclass(frozen=True, slots=True)
class CopyNote:
    """One follower's copy of a signal in a final status, with the signal's symbol and side;
    (updated_at, rowid) is its place in the notifier's cursor."""

    rowid: int
    signal_id: str
    user_id: str
    broker: str
    status: str
    reason: str | None
    symbol: str
    side: str
    kind: str
    size_filled: Decimal | None
    price: Decimal | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccountState:
    """One account's current health status: a master's loop, or a follower's (`follower`)."""

    broker: str
    account: str
    follower: bool
    status: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class HaltState:
    """Why an account is stopped from entering, or None: a master's kill switch (`kill_switch`),
    a follower's drawdown halt (`drawdown`) or its circuit breaker (`breaker`)."""

    broker: str
    account: str
    kind: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class DailyFigures:
    """What happened since a moment: master fills per account, copies per follower and status,
    masters' equity then and now, followers' latest equity."""

    fills: Mapping[tuple[str, str], int] = field(default_factory=dict)
    copies: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)
    master_equity: Mapping[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    follower_equity: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)


class NotificationRecords(Database):
    """The notifier's reads over the store, and its own progress."""

    def notify_state(self) -> dict[str, str]:
        """The notifier's saved progress, by name ({} before its first save)."""
        return {row["name"]: row["value"] for row in self._query("SELECT name, value FROM notify_state")}

    def save_notify_state(self, values: Mapping[str, str]) -> None:
        """Save (replace) these entries of the notifier's progress in one transaction."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO notify_state VALUES (?,?,?)", [(k, v, now) for k, v in values.items()]
            )

    def last_fill_rowid(self) -> int:
        """The newest fill's place in the fills table (0: none yet)."""
        return int(self._query("SELECT COALESCE(MAX(rowid), 0) AS n FROM fills")[0]["n"])

    def master_fills_after(self, rowid: int, limit: int = 500) -> list[FillNote]:
        """Master fills stored after `rowid`, oldest first. Fills are only ever inserted, each in
        its writer's one transaction, so rowids grow in commit order."""
        rows = self._query(
            "SELECT rowid, * FROM fills WHERE rowid > ? AND account = ? ORDER BY rowid LIMIT ?",
            (rowid, MASTER_ACCOUNT, limit),
        )
        return [_fill_note(row) for row in rows]

    def last_transfer_rowid(self) -> int:
        """The newest transfer's place in the transfers table (0: none yet)."""
        return int(self._query("SELECT COALESCE(MAX(rowid), 0) AS n FROM transfers")[0]["n"])

    def transfers_after(self, rowid: int, limit: int = 500) -> list[TransferNote]:
        """Transfers recorded after `rowid`, oldest first (only ever inserted)."""
        rows = self._query("SELECT rowid, * FROM transfers WHERE rowid > ? ORDER BY rowid LIMIT ?", (rowid, limit))
        return [
            TransferNote(row["rowid"], row["broker"], row["account"], Decimal(row["value"]), Decimal(row["equity"]))
            for row in rows
        ]

    def final_copies_after(self, since: datetime, after_rowid: int = 0, limit: int = 1000) -> list[CopyNote]:
        """Copy-ledger rows in a final status whose (updated_at, rowid) comes after (`since`,
        `after_rowid`), in that order: page on with the last row's pair."""
        marks = ",".join("?" * len(FINAL_COPY_STATUSES))
        rows = self._query(
            "SELECT c.rowid, c.signal_id, c.user_id, c.broker, c.status, c.reason, c.size_filled, c.price,"
            " c.updated_at, s.symbol, s.side, s.kind FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            f" WHERE (c.updated_at, c.rowid) > (?, ?) AND c.status IN ({marks}) ORDER BY c.updated_at, c.rowid LIMIT ?",
            (since.isoformat(), after_rowid, *FINAL_COPY_STATUSES, limit),
        )
        return [_copy_note(row) for row in rows]

    def account_states(self) -> list[AccountState]:
        """Every master account's health and every registered follower's state."""
        masters = self._query("SELECT broker, account, status, COALESCE(last_error, note) AS detail FROM broker_health")
        followers = self._query("SELECT broker, user_id, state, last_error FROM copy_users")
        return [AccountState(r["broker"], r["account"], False, r["status"], r["detail"]) for r in masters] + [
            AccountState(r["broker"], r["user_id"], True, r["state"], r["last_error"]) for r in followers
        ]

    def halt_states(self) -> list[HaltState]:
        """Every master's kill-switch halt and every follower's drawdown halt and breaker pause
        (reason None: not halted)."""
        masters = self._query("SELECT broker, account, halted_reason FROM broker_risk")
        followers = self._query("SELECT broker, user_id, halted_reason, paused_reason FROM follower_risk")
        return [HaltState(r["broker"], r["account"], "kill_switch", r["halted_reason"]) for r in masters] + [
            HaltState(r["broker"], r["user_id"], kind, r[column])
            for r in followers
            for kind, column in (("drawdown", "halted_reason"), ("breaker", "paused_reason"))
        ]

    def daily_figures(self, since: datetime) -> DailyFigures:
        """The daily summary's figures since `since`."""
        start = since.isoformat()
        fills = self._query(
            "SELECT broker, account, COUNT(*) AS n FROM fills WHERE account = ? AND ts_seen >= ? GROUP BY broker, account",
            (MASTER_ACCOUNT, start),
        )
        copies = self._query(
            "SELECT broker, user_id, status, COUNT(*) AS n FROM copy_orders WHERE updated_at >= ?"
            " GROUP BY broker, user_id, status",
            (start,),
        )
        by_user: dict[tuple[str, str], dict[str, int]] = {}
        for row in copies:
            by_user.setdefault((row["broker"], row["user_id"]), {})[row["status"]] = row["n"]
        return DailyFigures(
            fills={(r["broker"], r["account"]): r["n"] for r in fills},
            copies=by_user,
            master_equity=self._master_equity(start),
            follower_equity={
                (r["broker"], r["user_id"]): Decimal(r["equity"])
                for r in self._query("SELECT broker, user_id, equity FROM copy_users WHERE equity IS NOT NULL")
            },
        )

    def _master_equity(self, start: str) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        # Each master's first snapshot since `start` and its latest, through the (broker, account,
        # taken_at) index: two lookups per account, never a scan of every cycle's snapshot.
        rows = self._query(
            "SELECT a.broker, a.account,"
            " (SELECT total_equity FROM equity_snapshots e WHERE e.broker = a.broker AND e.account = a.account"
            "  AND e.taken_at >= ? ORDER BY e.taken_at LIMIT 1) AS first,"
            " (SELECT total_equity FROM equity_snapshots e WHERE e.broker = a.broker AND e.account = a.account"
            "  ORDER BY e.taken_at DESC LIMIT 1) AS last"
            " FROM broker_health a WHERE a.account = ?",
            (start, MASTER_ACCOUNT),
        )
        return {
            (r["broker"], r["account"]): (Decimal(r["first"]), Decimal(r["last"]))
            for r in rows
            if r["first"] is not None and r["last"] is not None
        }


def _fill_note(row: sqlite3.Row) -> FillNote:
    return FillNote(
        rowid=row["rowid"], broker=row["broker"], account=row["account"], symbol=row["symbol"], side=row["side"],
        qty=Decimal(row["qty"]), price=Decimal(row["price"]), fee=Decimal(row["fee"]),
        fee_currency=row["fee_currency"], ts_seen=datetime.fromisoformat(row["ts_seen"]),
    )


def _copy_note(row: sqlite3.Row) -> CopyNote:
    return CopyNote(
        rowid=row["rowid"], signal_id=row["signal_id"], user_id=row["user_id"], broker=row["broker"], status=row["status"],
        reason=row["reason"], symbol=row["symbol"], side=row["side"], kind=row["kind"],
        size_filled=_dec(row["size_filled"]), price=_dec(row["price"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )
