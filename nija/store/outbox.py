"""The copy-trading outbox: signals (one per master fill), the copy ledger (one row per
(signal, user), with its deterministic client order id) and the copy users' registered state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from nija.models import (
    BrokerName,
    ExecutionReport,
    Order,
    OrderStatus,
    Side,
    TradeSignal,
    advance_order_status,
    utc_now,
)
from nija.store.db import Database, _dec, _text
from nija.store.orders import _order

__all__ = ["CopySummary", "LastCopy", "Outbox"]


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


class Outbox(Database):
    """Signals, the copy ledger (`copy_orders`) and copy users. `record_copy_outcomes` also
    moves the copies' orders and stores their fills, in the ledger's own transaction."""

    def open_copy_rows(self, signal_id: str, broker: BrokerName, rows: Mapping[str, str]) -> dict[str, str]:
        """Insert the missing (signal, user) ledger rows — all of one signal in one transaction —
        and return every user's row status. `rows` maps user id -> deterministic client order id."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO copy_orders (signal_id, user_id, broker, client_order_id, status,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                [(signal_id, user_id, broker, cid, "pending", now, now) for user_id, cid in rows.items()],
            )
            found = conn.execute("SELECT user_id, status FROM copy_orders WHERE signal_id = ?", (signal_id,)).fetchall()
        return {row["user_id"]: row["status"] for row in found}

    def record_copy_outcomes(self, reports: Sequence[ExecutionReport], ledger: Sequence[Mapping[str, Any]]) -> None:
        """Record many copy orders' venue answers (status, fills) and their ledger rows in ONE
        transaction: a fan-out's results cost one commit, not one per user.

        Each report moves its stored order along the order state machine (an illegal move raises
        and nothing is recorded); fills already stored are ignored. A ledger field given as None
        keeps what the row had (the size asked and the latency are written at acknowledgment,
        the fill when it settles). Copy users run no strategy: no positions are touched.
        """
        now = utc_now().isoformat()
        with self._tx() as conn:
            current = {}
            ids = [r.client_order_id for r in reports]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT client_order_id, status FROM orders WHERE client_order_id IN ({marks})", chunk
                ):
                    current[row["client_order_id"]] = OrderStatus(row["status"])
            order_rows, fill_rows = [], []
            for report in reports:
                if report.client_order_id not in current:
                    raise KeyError(f"no order with client_order_id {report.client_order_id}")
                status = advance_order_status(current[report.client_order_id], report.status)
                order_rows.append((
                    status, report.exchange_order_id, str(report.filled_qty), _text(report.avg_price),
                    str(report.fee), report.error, now, report.client_order_id,
                ))
                fill_rows.extend(
                    (
                        f.broker, f.account, f.trade_id, f.client_order_id, f.symbol, f.side, str(f.qty), str(f.price),
                        str(f.fee), str(f.fee_in_base), f.ts_exchange.isoformat(), f.ts_seen.isoformat(),
                    )
                    for f in report.fills
                )
            conn.executemany(
                "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id),"
                " filled_qty = ?, avg_price = ?, fee = ?, error = COALESCE(?, error), updated_at = ?"
                " WHERE client_order_id = ?",
                order_rows,
            )
            conn.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", fill_rows)
            fields = ("reason", "size_asked", "unit", "size_filled", "price", "fee", "latency_ms", "user_equity")
            conn.executemany(
                "UPDATE copy_orders SET status = :status, reason = COALESCE(:reason, reason),"
                " size_asked = COALESCE(:size_asked, size_asked), unit = COALESCE(:unit, unit),"
                " size_filled = COALESCE(:size_filled, size_filled), price = COALESCE(:price, price),"
                " fee = COALESCE(:fee, fee), latency_ms = COALESCE(:latency_ms, latency_ms),"
                " user_equity = COALESCE(:user_equity, user_equity), updated_at = :now"
                " WHERE signal_id = :signal_id AND user_id = :user_id",
                [
                    {**dict.fromkeys(fields), **{k: _text(v) if isinstance(v, Decimal) else v for k, v in r.items()}, "now": now}
                    for r in ledger
                ],
            )

    def copies_to_settle(self, statuses: Iterable[str] = ("sent", "unknown", "pending")) -> list[tuple[str, str, Order]]:
        """(signal id, user id, order) of every open ledger row whose order was sent (or may have
        been): the venue has, or may have, the order, so only a lookup can settle it."""
        wanted = list(statuses)
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

    def finish_signal(self, signal_id: str, status: str, reason: str | None = None) -> None:
        """Close a signal in the outbox (done, expired, skipped, rejected)."""
        with self._tx() as conn:
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

    def signals(self, status: str | None = None) -> list[tuple[TradeSignal, str]]:
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
                ),
                r["status"],
            )
            for r in rows
        ]
