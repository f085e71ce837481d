"""The one write path of execution: what venues answered for some orders, their new fills, the
positions built from them, a master's copy signals and the copy ledger, in ONE transaction.

One transaction is what makes the invariants hold across a crash: a fill is never stored without
the position it moved, and a master fill never without its copy signal (DESIGN invariant 8). A
fan-out records a thousand followers' answers with one commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from nija.models import (
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    ExecutionReport,
    Fill,
    OrderStatus,
    Position,
    SignalStatus,
    TradeSignal,
    advance_copy_status,
    advance_order_status,
    utc_now,
)
from nija.store.db import Database, _text
from nija.store.orders import write_position

__all__ = ["ConcurrentWrite", "PositionChange", "Recorder", "Recording"]


class ConcurrentWrite(Exception):
    """A fill this recording counted was already stored: another writer touched the account.
    Nothing was written; the caller reads afresh (one writer per account makes this a bug)."""


@dataclass(frozen=True, slots=True)
class PositionChange:
    """A position after new fills; None closes it (and drops its strategy state)."""

    broker: BrokerName
    account: str
    symbol: str
    position: Position | None


@dataclass(frozen=True, slots=True)
class Recording:
    """Everything one execution step learned."""

    reports: Sequence[ExecutionReport] = ()  # each moves its stored order (checked against the table)
    fills: Sequence[Fill] = ()  # new fills only (the executor filtered known trade ids)
    positions: Sequence[PositionChange] = ()
    signals: Sequence[TradeSignal] = ()  # a master's fills, as copy signals
    ledger: Sequence[CopyLedgerEntry] = field(default_factory=tuple)


class Recorder(Database):
    """Writes a `Recording` atomically."""

    def record(self, recording: Recording) -> None:
        """Write `recording` in one transaction; an illegal status move or a fill already
        stored raises and writes nothing."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            self._write_reports(conn, recording.reports, now)
            for fill in recording.fills:
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        fill.broker, fill.account, fill.trade_id, fill.client_order_id, fill.symbol, fill.side,
                        str(fill.qty), str(fill.price), str(fill.fee), str(fill.fee_in_base),
                        fill.ts_exchange.isoformat(), fill.ts_seen.isoformat(), fill.fee_currency,
                    ),
                ).rowcount
                if not inserted:
                    raise ConcurrentWrite(f"fill {fill.trade_id} of {fill.broker}/{fill.account} was already stored")
            for change in recording.positions:
                if change.position is not None:
                    write_position(conn, change.position)
                    continue
                for table in ("positions", "strategy_state"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE broker = ? AND account = ? AND symbol = ?",
                        (change.broker, change.account, change.symbol),
                    )
            if recording.signals:
                conn.executemany(
                    "INSERT OR IGNORE INTO signals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            s.signal_id, s.broker, s.master_account, s.symbol, s.side, str(s.qty), str(s.price),
                            str(s.quote_value), str(s.master_equity), str(s.master_position_before),
                            s.fill_time.isoformat(), s.trade_id, SignalStatus.PENDING, None, now, None, s.kind, s.target_user,
                        )
                        for s in recording.signals
                    ],
                )
            self._write_ledger(conn, recording.ledger, now)

    @staticmethod
    def _write_reports(conn: sqlite3.Connection, reports: Sequence[ExecutionReport], now: str) -> None:
        current: dict[str, OrderStatus] = {}
        ids = [r.client_order_id for r in reports]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT client_order_id, status FROM orders WHERE client_order_id IN ({marks})", chunk):
                current[row["client_order_id"]] = OrderStatus(row["status"])
        rows = []
        for report in reports:
            if report.client_order_id not in current:
                raise KeyError(f"no order with client_order_id {report.client_order_id}")
            status = advance_order_status(current[report.client_order_id], report.status)
            current[report.client_order_id] = status
            rows.append((
                status, report.exchange_order_id, str(report.filled_qty), _text(report.avg_price), str(report.fee),
                str(report.fee_in_base), report.error, now, report.client_order_id,
            ))
        conn.executemany(
            "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id), filled_qty = ?,"
            " avg_price = ?, fee = ?, fee_in_base = ?, error = COALESCE(?, error), updated_at = ?"
            " WHERE client_order_id = ?",
            rows,
        )

    @staticmethod
    def _write_ledger(conn: sqlite3.Connection, entries: Sequence[CopyLedgerEntry], now: str) -> None:
        if not entries:
            return
        current: dict[tuple[str, str], CopyStatus] = {}
        for signal_id in {e.signal_id for e in entries}:
            for row in conn.execute("SELECT user_id, status FROM copy_orders WHERE signal_id = ?", (signal_id,)):
                current[(signal_id, row["user_id"])] = CopyStatus(row["status"])
        rows = []
        for e in entries:
            key = (e.signal_id, e.user_id)
            if key not in current:
                raise KeyError(f"no copy ledger row for signal {e.signal_id}, user {e.user_id}")
            current[key] = advance_copy_status(current[key], e.status)
            rows.append((
                e.status, e.reason, _text(e.size_asked), e.unit, _text(e.size_filled), _text(e.price), _text(e.fee),
                e.latency_ms, _text(e.user_equity), _text(e.master_price), e.ack_latency_ms, e.fill_latency_ms,
                _text(e.slippage_bps), now, e.signal_id, e.user_id,
            ))
        conn.executemany(
            "UPDATE copy_orders SET status = ?, reason = COALESCE(?, reason), size_asked = COALESCE(?, size_asked),"
            " unit = COALESCE(?, unit), size_filled = COALESCE(?, size_filled), price = COALESCE(?, price),"
            " fee = COALESCE(?, fee), latency_ms = COALESCE(?, latency_ms),"
            " user_equity = COALESCE(?, user_equity), master_price = COALESCE(?, master_price),"
            " ack_latency_ms = COALESCE(?, ack_latency_ms), fill_latency_ms = COALESCE(?, fill_latency_ms),"
            " slippage_bps = COALESCE(?, slippage_bps), updated_at = ? WHERE signal_id = ? AND user_id = ?",
            rows,
        )
