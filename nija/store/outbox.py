"""The copy-trading outbox: signals (one per master fill), the copy ledger (one row per
(signal, user), with its deterministic client order id) and the copy users' registered state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from nija.models import (
    BrokerName,
    CopyStatus,
    Order,
    OrderStatus,
    Side,
    SignalKind,
    SignalStatus,
    TradeSignal,
    advance_signal_status,
    utc_now,
)
from nija.store.db import Database, _dec, _text, _ts
from nija.store.orders import _order

__all__ = ["QUALITY_WINDOW", "CopyQuality", "CopySummary", "DriftRow", "LastCopy", "Outbox", "PendingExit"]

QUALITY_WINDOW: Final = 100  # a follower's latest copies that its latency and slippage figures cover

# Each follower's latest N copies (N: the one bound parameter) that reached a venue, that is rows
# with a quality figure; skipped, expired and refused rows have none and are not copies here.
_RECENT_COPIES: Final = (
    "WITH recent AS (SELECT broker, user_id, ack_latency_ms, fill_latency_ms, slippage_bps FROM"
    " (SELECT broker, user_id, ack_latency_ms, fill_latency_ms, slippage_bps,"
    "  ROW_NUMBER() OVER (PARTITION BY broker, user_id ORDER BY rowid DESC) AS age FROM copy_orders"
    "  WHERE ack_latency_ms IS NOT NULL OR fill_latency_ms IS NOT NULL OR slippage_bps IS NOT NULL)"
    " WHERE age <= ?)"
)
# Nearest-rank p50 and p95 of each follower's latencies over those copies, as
# `copytrade.telemetry.percentile` defines them: the value of rank ceil(p × n / 100), ascending.
_LATENCY_PERCENTILES: Final = _RECENT_COPIES + (
    ", samples AS (SELECT broker, user_id, 'ack' AS metric, ack_latency_ms AS ms FROM recent"
    "  WHERE ack_latency_ms IS NOT NULL"
    "  UNION ALL SELECT broker, user_id, 'fill', fill_latency_ms FROM recent WHERE fill_latency_ms IS NOT NULL)"
    ", ranked AS (SELECT broker, user_id, metric, ms,"
    "  ROW_NUMBER() OVER (PARTITION BY broker, user_id, metric ORDER BY ms) AS k,"
    "  COUNT(*) OVER (PARTITION BY broker, user_id, metric) AS n FROM samples)"
    " SELECT broker, user_id, metric, MAX(CASE WHEN k = (n * 50 + 99) / 100 THEN ms END) AS p50,"
    " MAX(CASE WHEN k = (n * 95 + 99) / 100 THEN ms END) AS p95 FROM ranked GROUP BY broker, user_id, metric"
)


@dataclass(frozen=True, slots=True)
class LastCopy:
    """One user's latest ledger row, with the latest equity the ledger recorded for that user."""

    broker: str
    user_id: str
    status: str
    reason: str | None
    updated_at: datetime
    user_equity: Decimal | None


@dataclass(frozen=True, slots=True)
class CopySummary:
    """Copy-trading figures: signals pending in the outbox, ledger rows updated since a moment by
    status, the latest fan-out's slowest copy, and each user's latest ledger row."""

    signals_pending: int
    copies_by_status: Mapping[str, int]
    last_fanout_latency_ms: float | None
    last_copies: tuple[LastCopy, ...]


@dataclass(frozen=True, slots=True)
class CopyQuality:
    """One follower's copy quality over its latest `QUALITY_WINDOW` copies that reached a venue:
    nearest-rank p50/p95 of the ms from the master's fill to the acknowledgment and to the fill,
    and the mean slippage against the master's fill price (bps, adverse positive). None: no
    copy had that figure."""

    broker: str
    user_id: str
    copies: int
    ack_latency_p50_ms: float | None
    ack_latency_p95_ms: float | None
    fill_latency_p50_ms: float | None
    fill_latency_p95_ms: float | None
    mean_slippage_bps: Decimal | None


@dataclass(frozen=True, slots=True)
class DriftRow:
    """A follower's copied position in one symbol against the master's scaled to the follower, as
    last checked: drift_pct is None when nothing was expected but a copy is held."""

    broker: str
    user_id: str
    symbol: str
    copied_qty: Decimal
    expected_qty: Decimal
    drift_pct: Decimal | None
    beyond: bool  # outside the tolerance (or held while nothing is expected)
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class PendingExit:
    """An exit copy (a ledger row of a sell signal) not done yet, and what it waits on: `reason`,
    and for a waiting row the time of its next attempt."""

    signal_id: str
    broker: str
    user_id: str
    symbol: str
    kind: SignalKind
    status: CopyStatus
    reason: str | None
    attempts: int
    retry_at: datetime | None
    opened_at: datetime


class Outbox(Database):
    """Signals, the copy ledger (`copy_orders`) and copy users. Ledger rows move with their
    orders' answers in `store.recording`'s one transaction."""

    def open_copy_rows(self, signal_id: str, broker: BrokerName, rows: Mapping[str, str]) -> dict[str, CopyStatus]:
        """Insert the missing (signal, user) ledger rows — all of one signal in one transaction —
        and return every user's row status. `rows` maps user id -> deterministic client order id."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO copy_orders (signal_id, user_id, broker, client_order_id, status,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                [(signal_id, user_id, broker, cid, CopyStatus.PENDING, now, now) for user_id, cid in rows.items()],
            )
            found = conn.execute("SELECT user_id, status FROM copy_orders WHERE signal_id = ?", (signal_id,)).fetchall()
        return {row["user_id"]: CopyStatus(row["status"]) for row in found}

    def copies_to_settle(self) -> list[tuple[str, str, Order]]:
        """(signal id, user id, order) of every open ledger row whose order was sent (or may have
        been): the venue has, or may have, the order, so only a lookup can settle it."""
        wanted = [status for status in CopyStatus if status.is_open and status is not CopyStatus.WAITING]
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            "SELECT c.signal_id AS copy_signal_id, c.user_id AS copy_user_id, o.* FROM copy_orders c"
            " JOIN orders o ON o.client_order_id = c.client_order_id"
            f" WHERE c.status IN ({marks}) AND o.status != ? ORDER BY c.rowid",
            (*wanted, OrderStatus.PENDING),
        )
        return [(r["copy_signal_id"], r["copy_user_id"], _order(r)) for r in rows]

    def save_copy_users(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert copy users' state (health, equity) in one transaction, for status."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO copy_users (broker, user_id, state, enabled, equity, available, equity_at,"
                " last_error, updated_at) VALUES (:broker, :user_id, :state, :enabled, :equity, :available,"
                " :equity_at, :last_error, :now)",
                [
                    {**{k: _text(v) if isinstance(v, (Decimal, datetime)) else v for k, v in r.items()},
                     "enabled": int(bool(r.get("enabled", True))), "now": now}
                    for r in rows
                ],
            )

    def copy_users(self) -> list[dict[str, Any]]:
        """Every copy user the engine has registered, by broker and user id."""
        return [dict(row) for row in self._query("SELECT * FROM copy_users ORDER BY broker, user_id")]

    def finish_signal(self, signal_id: str, status: SignalStatus, reason: str | None = None) -> None:
        """Close a signal in the outbox (done, skipped, rejected); the move is checked."""
        with self._tx() as conn:
            row = conn.execute("SELECT status FROM signals WHERE signal_id = ?", (signal_id,)).fetchone()
            if row is None:
                raise KeyError(f"no signal {signal_id}")
            advance_signal_status(SignalStatus(row["status"]), status)
            conn.execute(
                "UPDATE signals SET status = ?, reason = ?, done_at = ? WHERE signal_id = ?",
                (status, reason, utc_now().isoformat(), signal_id),
            )

    def copy_rows(self, signal_id: str | None = None) -> list[dict[str, Any]]:
        """Ledger rows (for status and tests)."""
        where, params = ("WHERE signal_id = ?", (signal_id,)) if signal_id else ("", ())
        return [dict(row) for row in self._query(f"SELECT * FROM copy_orders {where} ORDER BY rowid", params)]

    def copy_summary(self, since: datetime) -> CopySummary:
        """Copy-trading figures for status: pending signals, copies since `since` by status, the
        last fan-out latency, and every user the ledger knows with its latest ledger row."""
        pending = self._query("SELECT COUNT(*) AS n FROM signals WHERE status = 'pending'")[0]["n"]
        by_status = {
            r["status"]: r["n"]
            for r in self._query(
                "SELECT status, COUNT(*) AS n FROM copy_orders WHERE updated_at >= ? GROUP BY status", (since.isoformat(),)
            )
        }
        latency = self._query(
            "SELECT MAX(latency_ms) AS ms FROM copy_orders WHERE signal_id ="
            " (SELECT signal_id FROM copy_orders WHERE latency_ms IS NOT NULL ORDER BY updated_at DESC LIMIT 1)"
        )[0]["ms"]
        last = self._query(
            "SELECT c.user_id, c.broker, c.status, c.reason, c.updated_at,"
            " (SELECT e.user_equity FROM copy_orders e WHERE e.user_id = c.user_id AND e.user_equity IS NOT NULL"
            "  ORDER BY e.rowid DESC LIMIT 1) AS equity FROM copy_orders c"
            " JOIN (SELECT user_id, MAX(rowid) AS last FROM copy_orders GROUP BY user_id) l ON c.rowid = l.last"
        )
        return CopySummary(
            signals_pending=pending, copies_by_status=by_status, last_fanout_latency_ms=latency,
            last_copies=tuple(
                LastCopy(
                    broker=r["broker"], user_id=r["user_id"], status=r["status"], reason=r["reason"],
                    updated_at=datetime.fromisoformat(r["updated_at"]), user_equity=_dec(r["equity"]),
                )
                for r in last
            ),
        )

    def copy_quality(self, window: int = QUALITY_WINDOW) -> list[CopyQuality]:
        """Every follower's copy quality over its latest `window` copies that reached a venue, by
        broker and user id (three reads, none per follower)."""
        params = (window,)
        latencies = {
            (r["broker"], r["user_id"], r["metric"]): (r["p50"], r["p95"])
            for r in self._query(_LATENCY_PERCENTILES, params)
        }
        copies: dict[tuple[str, str], int] = {}
        slippages: dict[tuple[str, str], list[Decimal]] = {}
        for r in self._query(_RECENT_COPIES + " SELECT broker, user_id, slippage_bps FROM recent", params):
            key = (r["broker"], r["user_id"])
            copies[key] = copies.get(key, 0) + 1
            if r["slippage_bps"] is not None:
                slippages.setdefault(key, []).append(Decimal(r["slippage_bps"]))
        found = []
        for broker, user_id in sorted(copies):
            ack = latencies.get((broker, user_id, "ack"), (None, None))
            fill = latencies.get((broker, user_id, "fill"), (None, None))
            slipped = slippages.get((broker, user_id))
            found.append(CopyQuality(
                broker=broker, user_id=user_id, copies=copies[(broker, user_id)],
                ack_latency_p50_ms=ack[0], ack_latency_p95_ms=ack[1], fill_latency_p50_ms=fill[0],
                fill_latency_p95_ms=fill[1], mean_slippage_bps=sum(slipped) / len(slipped) if slipped else None,
            ))
        return found

    def save_drift(self, rows: Sequence[DriftRow]) -> None:
        """Replace the drift table with one pass's checks of every follower and symbol, in one
        transaction: a position the pass no longer reports (closed) leaves no stale row."""
        with self._tx() as conn:
            conn.execute("DELETE FROM copy_drift")
            conn.executemany(
                "INSERT OR REPLACE INTO copy_drift (broker, user_id, symbol, copied_qty, expected_qty, drift_pct,"
                " beyond, checked_at) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (r.broker, r.user_id, r.symbol, str(r.copied_qty), str(r.expected_qty), _text(r.drift_pct),
                     int(r.beyond), r.checked_at.isoformat())
                    for r in rows
                ],
            )

    def drift_rows(self) -> list[DriftRow]:
        """The latest drift checks, by broker, user id and symbol."""
        return [
            DriftRow(
                broker=r["broker"], user_id=r["user_id"], symbol=r["symbol"], copied_qty=Decimal(r["copied_qty"]),
                expected_qty=Decimal(r["expected_qty"]), drift_pct=_dec(r["drift_pct"]), beyond=bool(r["beyond"]),
                checked_at=datetime.fromisoformat(r["checked_at"]),
            )
            for r in self._query("SELECT * FROM copy_drift ORDER BY broker, user_id, symbol")
        ]

    def pending_exits(self) -> list[PendingExit]:
        """Every open ledger row of a sell signal (an exit copy not done yet), by broker, user
        id and age, with why it waits."""
        wanted = [status for status in CopyStatus if status.is_open]
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            "SELECT c.signal_id, c.broker, c.user_id, s.symbol, s.kind, c.status, c.reason, c.attempts, c.retry_at,"
            " c.created_at FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            f" WHERE c.status IN ({marks}) AND s.side = ? ORDER BY c.broker, c.user_id, c.rowid",
            (*wanted, Side.SELL),
        )
        return [
            PendingExit(
                signal_id=r["signal_id"], broker=r["broker"], user_id=r["user_id"], symbol=r["symbol"],
                kind=SignalKind(r["kind"]), status=CopyStatus(r["status"]), reason=r["reason"],
                attempts=r["attempts"], retry_at=_ts(r["retry_at"]), opened_at=datetime.fromisoformat(r["created_at"]),
            )
            for r in rows
        ]

    def signals(self, status: SignalStatus | None = None) -> list[tuple[TradeSignal, SignalStatus]]:
        """Signals (with their outbox status), oldest first."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._query(f"SELECT * FROM signals {where} ORDER BY created_at, rowid", params)
        return [
            (
                TradeSignal(
                    signal_id=r["signal_id"], broker=r["broker"], master_account=r["master_account"],
                    symbol=r["symbol"], side=Side(r["side"]), qty=Decimal(r["qty"]), price=Decimal(r["price"]),
                    quote_value=Decimal(r["quote_value"]), master_equity=Decimal(r["master_equity"]),
                    master_position_before=Decimal(r["master_position_before"]),
                    fill_time=datetime.fromisoformat(r["fill_time"]), trade_id=r["trade_id"],
                    kind=SignalKind(r["kind"]), target_user=r["target_user"],
                ),
                SignalStatus(r["status"]),
            )
            for r in rows
        ]
