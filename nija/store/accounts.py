"""Each account's records beside its orders: equity snapshots, health, each broker loop's own
liveness, the kill switch's watermarks and halt with the holdings they were last measured on, the
fee cost of each entry, and the daemon's own row (pid, heartbeat).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from nija.holdings import TransferSeen, ValuedHoldings
from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    EquityMarks,
    HealthStatus,
    utc_now,
)
from nija.store.db import Database, StoreUnavailable, _dec, _text, _ts

__all__ = ["AccountRecords", "DaemonRecord", "EntryCost", "write_transfer", "write_valued_holdings"]


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """The daemon's own row: who runs, since when, last heartbeat."""

    pid: int
    mode: str
    cycle_seconds: float
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    copy_mode: str | None = None


@dataclass(frozen=True, slots=True)
class EntryCost:
    """What one entry costs in fees (a round-trip fraction of its value), and the cheaper funded
    broker that also listed the symbol with its round trip, if any."""

    broker: str
    account: str
    symbol: str
    round_trip: Decimal
    cheaper_broker: str | None
    cheaper_round_trip: Decimal | None
    entered_at: datetime


class AccountRecords(Database):
    """Equity, health, kill-switch marks, entry costs and the daemon row."""

    def record_equity(self, broker: BrokerName, account: str, snapshot: BalanceSnapshot) -> None:
        """Append one equity snapshot."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO equity_snapshots VALUES (?,?,?,?,?,?)",
                (
                    broker, account, str(snapshot.total_equity), str(snapshot.available),
                    str(snapshot.locked_in_positions), snapshot.taken_at.isoformat(),
                ),
            )

    def latest_equity(self, broker: BrokerName, account: str) -> BalanceSnapshot | None:
        """The newest equity snapshot of this account."""
        rows = self._query(
            "SELECT * FROM equity_snapshots WHERE broker = ? AND account = ? ORDER BY rowid DESC LIMIT 1",
            (broker, account),
        )
        return _snapshot(rows[0]) if rows else None

    def save_health(self, health: BrokerHealth) -> bool:
        """Persist one account's health record (every cycle). Best effort: False when the store
        is busy or unavailable (a cycle that failed on the store records its health in the same
        store; the next cycle writes it again, and status meanwhile sees the record age)."""
        try:
            self._save_health(health)
        except StoreUnavailable:
            return False
        return True

    def _save_health(self, health: BrokerHealth) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO broker_health VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    health.broker, health.account, health.status, int(health.funded), health.cycles_total,
                    health.cycles_ok, health.consecutive_errors, health.last_error,
                    _text(health.last_cycle_at), _text(health.retry_at), int(health.auth_failed),
                    utc_now().isoformat(), health.note,
                ),
            )

    def health(self) -> list[BrokerHealth]:
        """Every account's health record."""
        rows = self._query("SELECT * FROM broker_health ORDER BY broker, account")
        return [
            BrokerHealth(
                broker=row["broker"], account=row["account"], status=HealthStatus(row["status"]),
                funded=bool(row["funded"]), cycles_total=row["cycles_total"], cycles_ok=row["cycles_ok"],
                consecutive_errors=row["consecutive_errors"], last_error=row["last_error"],
                last_cycle_at=_ts(row["last_cycle_at"]), retry_at=_ts(row["retry_at"]),
                auth_failed=bool(row["auth_failed"]), note=row["note"],
            )
            for row in rows
        ]

    def forget_health(self, keep: Iterable[tuple[str, str]]) -> None:
        """Drop health rows of accounts no longer configured (so status shows only real ones)."""
        kept = set(keep)
        with self._tx() as conn:
            for row in conn.execute("SELECT broker, account FROM broker_health").fetchall():
                if (row["broker"], row["account"]) not in kept:
                    conn.execute(
                        "DELETE FROM broker_health WHERE broker = ? AND account = ?", (row["broker"], row["account"])
                    )

    # -- loop liveness -----------------------------------------------------------------------

    def record_alive(self, broker: BrokerName, account: str) -> None:
        """The loop of this account is alive now (written by that loop's own thread)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO loop_liveness VALUES (?,?,?)", (broker, account, utc_now().isoformat())
            )

    def forget_alive(self, broker: BrokerName, account: str) -> None:
        """The loop of this account ended on purpose (stop, refused credentials): not stalled."""
        with self._tx() as conn:
            conn.execute("DELETE FROM loop_liveness WHERE broker = ? AND account = ?", (broker, account))

    def liveness(self) -> dict[tuple[str, str], datetime]:
        """When each running loop was last alive, by (broker, account)."""
        rows = self._query("SELECT * FROM loop_liveness")
        return {(row["broker"], row["account"]): datetime.fromisoformat(row["alive_at"]) for row in rows}

    # -- risk guardrails ----------------------------------------------------------------------

    def risk_state(self, broker: BrokerName, account: str) -> tuple[EquityMarks | None, str | None]:
        """The kill switch's watermarks of one master account (None: not measured yet) and why it
        is halted (None: trading), from one read."""
        rows = self._query("SELECT * FROM broker_risk WHERE broker = ? AND account = ?", (broker, account))
        if not rows:
            return None, None
        row = rows[0]
        marks = EquityMarks(
            high_water_mark=Decimal(row["high_water_mark"]), day=date.fromisoformat(row["day"]),
            day_start_equity=Decimal(row["day_start_equity"]),
        )
        return marks, row["halted_reason"]

    def valued_holdings(self, broker: BrokerName, account: str) -> ValuedHoldings | None:
        """The account's assets as last saved with its marks (`save_risk_marks`); None: never."""
        rows = self._query("SELECT assets, fills_seen FROM valued_holdings WHERE broker = ? AND account = ?",
                           (broker, account))
        if not rows:
            return None
        assets = tuple((asset, Decimal(qty), Decimal(price)) for asset, qty, price in json.loads(rows[0]["assets"]))
        return ValuedHoldings(assets, int(rows[0]["fills_seen"]))

    def transfers(self, broker: str, account: str) -> list[TransferSeen]:
        """Every deposit or withdrawal seen on the account, oldest first."""
        rows = self._query(
            "SELECT value, equity, seen_at FROM transfers WHERE broker = ? AND account = ? ORDER BY rowid", (broker, account)
        )
        return [TransferSeen(Decimal(r["value"]), Decimal(r["equity"]), datetime.fromisoformat(r["seen_at"])) for r in rows]

    def save_risk_marks(
        self, broker: BrokerName, account: str, marks: EquityMarks, halted_reason: str | None,
        holdings: ValuedHoldings | None = None, transfer: TransferSeen | None = None,
    ) -> None:
        """Persist the watermarks and the halt reason (None: trading) of one master account, with
        the holdings they were measured on and the transfer that scaled them when given, in one
        transaction: marks, the holdings that showed a transfer and its record never part."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            if holdings is not None:
                write_valued_holdings(conn, broker, account, holdings, now)
            if transfer is not None:
                write_transfer(conn, broker, account, transfer)
            conn.execute(
                """INSERT INTO broker_risk VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT (broker, account) DO UPDATE SET
                     high_water_mark = excluded.high_water_mark, day = excluded.day,
                     day_start_equity = excluded.day_start_equity, halted_reason = excluded.halted_reason,
                     halted_at = CASE WHEN excluded.halted_reason IS NULL THEN NULL
                                      ELSE COALESCE(broker_risk.halted_at, excluded.halted_at) END,
                     updated_at = excluded.updated_at""",
                (
                    broker, account, _text(marks.high_water_mark), marks.day.isoformat(),
                    _text(marks.day_start_equity), halted_reason, now if halted_reason else None, now,
                ),
            )

    def forget_risk_marks(self, broker: BrokerName, account: str) -> None:
        """An operator resumed the account: measure drawdown afresh from its current equity."""
        with self._tx() as conn:
            conn.execute("DELETE FROM broker_risk WHERE broker = ? AND account = ?", (broker, account))

    def record_entry_cost(
        self, client_order_id: str, broker: BrokerName, account: str, symbol: str, round_trip: Decimal,
        cheaper: tuple[BrokerName, Decimal] | None,
    ) -> None:
        """What an entry costs in fees here, and the cheaper funded broker that listed it, if any."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO entry_costs VALUES (?,?,?,?,?,?,?,?)",
                (
                    client_order_id, broker, account, symbol, _text(round_trip),
                    cheaper[0] if cheaper else None, _text(cheaper[1]) if cheaper else None, utc_now().isoformat(),
                ),
            )

    def entry_costs(self, since: datetime) -> list[EntryCost]:
        """Entries since `since`, newest first, with their fee comparison."""
        rows = self._query(
            "SELECT * FROM entry_costs WHERE entered_at >= ? ORDER BY entered_at DESC", (since.isoformat(),)
        )
        return [
            EntryCost(
                broker=r["broker"], account=r["account"], symbol=r["symbol"], round_trip=Decimal(r["round_trip"]),
                cheaper_broker=r["cheaper_broker"], cheaper_round_trip=_dec(r["cheaper_round_trip"]),
                entered_at=datetime.fromisoformat(r["entered_at"]),
            )
            for r in rows
        ]

    # -- daemon ------------------------------------------------------------------------------

    def daemon_started(self, pid: int, mode: str, cycle_seconds: float, copy_mode: str | None = None) -> None:
        """Record that this process now runs the daemon (its loops have not started yet: the
        previous run's loop liveness is forgotten)."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.execute("DELETE FROM loop_liveness")
            conn.execute(
                "INSERT OR REPLACE INTO daemon VALUES (1, ?, ?, ?, ?, ?, NULL, ?)",
                (pid, mode, cycle_seconds, now, now, copy_mode),
            )

    def heartbeat(self) -> bool:
        """Prove the daemon is alive. Best effort: False when the store is busy or unavailable
        (the main thread goes on; status sees the heartbeat age)."""
        try:
            with self._tx() as conn:
                conn.execute("UPDATE daemon SET heartbeat_at = ? WHERE id = 1", (utc_now().isoformat(),))
        except StoreUnavailable:
            return False
        return True

    def daemon_stopped(self) -> bool:
        """Record a clean stop. Best effort: False when the store is busy or unavailable (the
        shutdown goes on; status then sees a stale heartbeat, not a running daemon)."""
        try:
            with self._tx() as conn:
                conn.execute("UPDATE daemon SET stopped_at = ? WHERE id = 1", (utc_now().isoformat(),))
        except StoreUnavailable:
            return False
        return True

    def daemon(self) -> DaemonRecord | None:
        """The daemon row, if a daemon ever ran on this store."""
        rows = self._query("SELECT * FROM daemon WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return DaemonRecord(
            pid=row["pid"], mode=row["mode"], cycle_seconds=row["cycle_seconds"],
            started_at=datetime.fromisoformat(row["started_at"]),
            heartbeat_at=datetime.fromisoformat(row["heartbeat_at"]), stopped_at=_ts(row["stopped_at"]),
            copy_mode=row["copy_mode"],
        )


def _snapshot(row: sqlite3.Row) -> BalanceSnapshot:
    return BalanceSnapshot(
        total_equity=Decimal(row["total_equity"]), available=Decimal(row["available"]),
        locked_in_positions=Decimal(row["locked_in_positions"]), taken_at=datetime.fromisoformat(row["taken_at"]),
    )


def write_valued_holdings(
    conn: sqlite3.Connection, broker: BrokerName, account: str, holdings: ValuedHoldings, now: str
) -> None:
    """Write an account's valued holdings inside the caller's transaction (with what a transfer
    they show changed: kill-switch marks, a follower's high-water mark)."""
    assets = json.dumps([[asset, str(qty), str(price)] for asset, qty, price in holdings.assets])
    conn.execute(
        """INSERT INTO valued_holdings VALUES (?,?,?,?,?) ON CONFLICT (broker, account) DO UPDATE SET
             assets = excluded.assets, fills_seen = excluded.fills_seen, updated_at = excluded.updated_at""",
        (broker, account, assets, holdings.fills_seen, now),
    )


def write_transfer(conn: sqlite3.Connection, broker: BrokerName, account: str, transfer: TransferSeen) -> None:
    """Record a transfer seen on an account inside the caller's transaction (with what it scaled)."""
    conn.execute(
        "INSERT INTO transfers VALUES (?,?,?,?,?)",
        (broker, account, str(transfer.value), str(transfer.equity), transfer.seen_at.isoformat()),
    )
