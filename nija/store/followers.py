"""Each follower's risk state and the operator's controls over it (`follower_risk`): the
high-water mark, a drawdown halt only an operator lifts, the circuit breaker, and an
enable/disable override that takes effect without a restart.

Two writers share a row and never undo each other. The copy engine writes what it measures
(`save_follower_risks`: mark, halt, breaker, the enabled state it acted on); the operator's
commands write the controls (`set_follower_enabled`, `resume_follower`), which the engine
never writes. A resume stamps `resumed_at`: an engine write that still carries the stamp it read
before the resume is dropped, and the engine adopts the reset at its next pass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nija.holdings import TransferSeen, ValuedHoldings
from nija.models import BrokerName, utc_now
from nija.store.accounts import write_transfer, write_valued_holdings
from nija.store.db import Database, _dec, _text, _ts

__all__ = ["FollowerRisk", "FollowerRiskRecord"]


@dataclass(frozen=True, slots=True)
class FollowerRiskRecord:
    """One follower's row: the engine's measurements and the operator's controls."""

    broker: BrokerName
    user_id: str
    high_water_mark: Decimal | None = None  # the follower's highest equity seen; None: measure afresh
    halted_reason: str | None = None  # a drawdown halt: only `resume_follower` clears it
    halted_at: datetime | None = None
    failures_in_row: int = 0  # failed copies in a row (the circuit breaker's count)
    paused_reason: str | None = None  # set while the circuit breaker is open
    enabled_override: bool | None = None  # the operator's enable/disable; None: the file decides
    enabled_seen: bool | None = None  # the enabled state the engine last acted on; None: never
    resumed_at: datetime | None = None  # the last operator resume
    updated_at: datetime | None = None
    # The holdings the mark was last measured on (`execution.transfers`): saved with it, never read
    # back here (the follower's TransferWatch reads them); None: none to save.
    holdings: ValuedHoldings | None = None
    transfers: tuple[TransferSeen, ...] = ()  # seen since the last save: recorded with the mark they scaled


class FollowerRisk(Database):
    """Followers' risk state (engine-written) and controls (operator-written), by (broker, user)."""

    def follower_risks(self) -> dict[tuple[BrokerName, str], FollowerRiskRecord]:
        """Every follower's row, by (broker, user_id): one read per engine pass."""
        return {
            (record.broker, record.user_id): record
            for record in map(_record, self._query("SELECT * FROM follower_risk ORDER BY broker, user_id"))
        }

    def follower_risk(self, broker: BrokerName, user_id: str) -> FollowerRiskRecord | None:
        """One follower's row, or None before anything was written for it."""
        rows = self._query("SELECT * FROM follower_risk WHERE broker = ? AND user_id = ?", (broker, user_id))
        return _record(rows[0]) if rows else None

    def save_follower_risks(self, records: Sequence[FollowerRiskRecord]) -> int:
        """Write the engine's side of each row (mark, halt, breaker, enabled_seen, and the holdings
        the mark was measured on) in one transaction; the operator's override is never touched. A record whose `resumed_at` is not
        the row's (an operator resumed since the engine read it) is dropped. Returns rows written."""
        if not records:
            return 0
        now = utc_now().isoformat()
        written = 0
        with self._tx() as conn:
            for record in records:
                cursor = conn.execute(
                    "INSERT INTO follower_risk (broker, user_id, high_water_mark, halted_reason, halted_at,"
                    " failures_in_row, paused_reason, enabled_seen, resumed_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (broker, user_id) DO UPDATE SET high_water_mark = excluded.high_water_mark,"
                    " halted_reason = excluded.halted_reason, halted_at = excluded.halted_at,"
                    " failures_in_row = excluded.failures_in_row, paused_reason = excluded.paused_reason,"
                    " enabled_seen = excluded.enabled_seen, updated_at = excluded.updated_at"
                    " WHERE follower_risk.resumed_at IS excluded.resumed_at",
                    (
                        record.broker, record.user_id, _text(record.high_water_mark), record.halted_reason,
                        _text(record.halted_at), record.failures_in_row, record.paused_reason,
                        _flag(record.enabled_seen), _text(record.resumed_at), now,
                    ),
                )
                written += cursor.rowcount
                if record.holdings is not None:  # measured by the engine whatever the operator did
                    write_valued_holdings(conn, record.broker, record.user_id, record.holdings, now)
                for transfer in record.transfers:
                    write_transfer(conn, record.broker, record.user_id, transfer)
        return written

    def set_follower_enabled(self, broker: BrokerName, user_id: str, enabled: bool | None) -> None:
        """The operator's override: False disables, True enables whatever the file says, None
        lets the file decide again. The running engine applies it at its next pass."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO follower_risk (broker, user_id, enabled_override, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (broker, user_id) DO UPDATE SET enabled_override = excluded.enabled_override,"
                " updated_at = excluded.updated_at",
                (broker, user_id, _flag(enabled), now),
            )

    def resume_follower(self, broker: BrokerName, user_id: str) -> FollowerRiskRecord | None:
        """Lift a drawdown halt and reset the circuit breaker (the only way out of a halt); the
        high-water mark is cleared, so drawdown is measured afresh from the next equity read.
        Returns the row as it was (None: there was none)."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            before = conn.execute(
                "SELECT * FROM follower_risk WHERE broker = ? AND user_id = ?", (broker, user_id)
            ).fetchone()
            conn.execute(
                "INSERT INTO follower_risk (broker, user_id, resumed_at, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (broker, user_id) DO UPDATE SET high_water_mark = NULL, halted_reason = NULL,"
                " halted_at = NULL, failures_in_row = 0, paused_reason = NULL, resumed_at = excluded.resumed_at,"
                " updated_at = excluded.updated_at",
                (broker, user_id, now, now),
            )
        return _record(before) if before is not None else None


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _record(row: sqlite3.Row) -> FollowerRiskRecord:
    return FollowerRiskRecord(
        broker=BrokerName(row["broker"]), user_id=row["user_id"], high_water_mark=_dec(row["high_water_mark"]),
        halted_reason=row["halted_reason"], halted_at=_ts(row["halted_at"]), failures_in_row=row["failures_in_row"],
        paused_reason=row["paused_reason"], enabled_override=_bool(row["enabled_override"]),
        enabled_seen=_bool(row["enabled_seen"]), resumed_at=_ts(row["resumed_at"]), updated_at=_ts(row["updated_at"]),
    )
