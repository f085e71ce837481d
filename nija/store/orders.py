"""Orders, their fills and the positions built from them: an order row is written before its
request is sent (`insert_order`), and a venue's answer, its fills and the resulting position are
recorded in one transaction (`apply_execution`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from nija.models import (
    BrokerName,
    ExecutionReport,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    TradeSignal,
    advance_order_status,
    utc_now,
)
from nija.store.db import Database, _dec, _text

__all__ = ["OrderRecords"]


class OrderRecords(Database):
    """Orders, fills and positions. `apply_execution` also writes a master fill's copy signals
    into the outbox, in the fill's own transaction (DESIGN invariant 8)."""

    def insert_order(self, request: OrderRequest) -> Order:
        """Record the intent before it is sent. Raises `sqlite3.IntegrityError` on a reused id."""
        now = self.insert_orders([request])
        return Order(request=request, status=OrderStatus.PENDING, created_at=now, updated_at=now)

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with that client order id, if any."""
        rows = self._query("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _order(rows[0]) if rows else None

    def orders_in_status(self, broker: BrokerName, account: str, statuses: Iterable[OrderStatus]) -> list[Order]:
        """This account's orders in any of `statuses`, oldest first."""
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            f"SELECT * FROM orders WHERE broker = ? AND account = ? AND status IN ({marks}) ORDER BY created_at",
            (broker, account, *wanted),
        )
        return [_order(row) for row in rows]

    def mark_order(self, client_order_id: str, status: OrderStatus, error: str | None = None) -> Order:
        """Move an order to `status` (checked against the order state machine)."""
        with self._tx() as conn:
            current = self._locked_order(conn, client_order_id)
            new = advance_order_status(current.status, status)
            conn.execute(
                "UPDATE orders SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE client_order_id = ?",
                (new, error, utc_now().isoformat(), client_order_id),
            )
        return self.get_order(client_order_id)  # type: ignore[return-value]

    def apply_execution(
        self,
        report: ExecutionReport,
        position: Position | None,
        symbol_closed: bool,
        signals: Sequence[TradeSignal] = (),
    ) -> bool:
        """Record a venue's answer for an order, its fills, the resulting position and the copy
        signals of a master's fills, atomically: a signal can never be lost between the fill and
        the outbox.

        `position` is the position after the fills (None with `symbol_closed` deletes it; None
        without leaves positions alone). Fills already stored are ignored; returns True when
        at least one new fill was stored.
        """
        now = utc_now().isoformat()
        with self._tx() as conn:
            current = self._locked_order(conn, report.client_order_id)
            status = advance_order_status(current.status, report.status)
            conn.execute(
                "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id),"
                " filled_qty = ?, avg_price = ?, fee = ?, error = COALESCE(?, error), updated_at = ?"
                " WHERE client_order_id = ?",
                (
                    status, report.exchange_order_id, str(report.filled_qty), _text(report.avg_price),
                    str(report.fee), report.error, now, report.client_order_id,
                ),
            )
            new_fills = 0
            for fill in report.fills:
                new_fills += conn.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        fill.broker, fill.account, fill.trade_id, fill.client_order_id, fill.symbol,
                        fill.side, str(fill.qty), str(fill.price), str(fill.fee), str(fill.fee_in_base),
                        fill.ts_exchange.isoformat(), fill.ts_seen.isoformat(),
                    ),
                ).rowcount
            if new_fills:
                if position is not None:
                    self._write_position(conn, position)
                elif symbol_closed:
                    conn.execute(
                        "DELETE FROM positions WHERE broker = ? AND account = ? AND symbol = ?",
                        (current.request.broker, current.request.account, current.request.symbol),
                    )
                for signal in signals:
                    conn.execute(
                        "INSERT OR IGNORE INTO signals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            signal.signal_id, signal.broker, signal.master_account, signal.symbol, signal.side,
                            str(signal.qty), str(signal.price), str(signal.quote_value), str(signal.master_equity),
                            str(signal.master_position_before), signal.fill_time.isoformat(), signal.trade_id,
                            "pending", None, now, None,
                        ),
                    )
        return new_fills > 0

    def insert_orders(self, requests: Sequence[OrderRequest]) -> datetime:
        """Record intents in one transaction before any of them is sent (a fan-out's batch) and
        return when. Raises `sqlite3.IntegrityError` on a reused id, and then stores none of them."""
        recorded_at = utc_now()
        now = recorded_at.isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO orders (client_order_id, broker, account, symbol, side, quantity, unit,"
                " reason, stop_price, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r.client_order_id, r.broker, r.account, r.symbol, r.side, str(r.quantity), r.unit, r.reason,
                        _text(r.stop_price), OrderStatus.PENDING, now, now,
                    )
                    for r in requests
                ],
            )
        return recorded_at

    def orders_by_id(self, client_order_ids: Iterable[str]) -> dict[str, Order]:
        """The stored orders among `client_order_ids`, by id (one query per 500 ids)."""
        ids = list(client_order_ids)
        found: dict[str, Order] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query(f"SELECT * FROM orders WHERE client_order_id IN ({marks})", chunk):
                found[row["client_order_id"]] = _order(row)
        return found

    def _locked_order(self, conn: sqlite3.Connection, client_order_id: str) -> Order:
        row = conn.execute("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        if row is None:
            raise KeyError(f"no order with client_order_id {client_order_id}")
        return _order(row)

    def has_fill(self, broker: BrokerName, account: str, trade_id: str) -> bool:
        """Whether this fill was already recorded."""
        return bool(
            self._query(
                "SELECT 1 FROM fills WHERE broker = ? AND account = ? AND trade_id = ?", (broker, account, trade_id)
            )
        )

    def base_fee_recorded(self, client_order_id: str) -> Decimal:
        """Σ fee withheld in base over the fills already recorded for this order."""
        rows = self._query("SELECT fee_in_base FROM fills WHERE client_order_id = ?", (client_order_id,))
        return sum((Decimal(row["fee_in_base"]) for row in rows), Decimal(0))

    def fills(self, broker: BrokerName, account: str) -> list[Fill]:
        """Every fill of this account, oldest first."""
        rows = self._query(
            "SELECT * FROM fills WHERE broker = ? AND account = ? ORDER BY ts_seen, rowid", (broker, account)
        )
        return [
            Fill(
                broker=row["broker"], account=row["account"], symbol=row["symbol"], side=row["side"],
                trade_id=row["trade_id"], client_order_id=row["client_order_id"], qty=Decimal(row["qty"]),
                price=Decimal(row["price"]), fee=Decimal(row["fee"]), fee_in_base=Decimal(row["fee_in_base"]),
                ts_exchange=datetime.fromisoformat(row["ts_exchange"]),
                ts_seen=datetime.fromisoformat(row["ts_seen"]),
            )
            for row in rows
        ]

    # -- positions ---------------------------------------------------------------------------

    def positions(self, broker: BrokerName, account: str) -> list[Position]:
        """Open positions NIJA opened on this account."""
        rows = self._query(
            "SELECT * FROM positions WHERE broker = ? AND account = ? ORDER BY symbol", (broker, account)
        )
        return [_position(row) for row in rows]

    def save_position(self, position: Position) -> None:
        """Persist a position's exit state (stop, trailing stop, stage) between cycles."""
        with self._tx() as conn:
            self._write_position(conn, position)

    def delete_position(self, broker: BrokerName, account: str, symbol: str) -> None:
        """Forget a position (closed as unsellable dust)."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM positions WHERE broker = ? AND account = ? AND symbol = ?", (broker, account, symbol)
            )

    @staticmethod
    def _write_position(conn: sqlite3.Connection, p: Position) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO positions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                p.broker, p.account, p.symbol, str(p.qty), str(p.initial_qty), str(p.entry_price),
                str(p.stop_price), str(p.risk_per_unit), p.tp_stage, _text(p.trailing_stop),
                p.opened_at.isoformat(), utc_now().isoformat(),
            ),
        )

    # -- equity and health -------------------------------------------------------------------


def _order(row: sqlite3.Row) -> Order:
    request = OrderRequest(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], side=Side(row["side"]),
        quantity=Decimal(row["quantity"]), unit=QuantityUnit(row["unit"]), client_order_id=row["client_order_id"],
        reason=row["reason"], stop_price=_dec(row["stop_price"]),
    )
    return Order(
        request=request, status=OrderStatus(row["status"]), exchange_order_id=row["exchange_order_id"],
        filled_qty=Decimal(row["filled_qty"]), avg_price=_dec(row["avg_price"]), fee=Decimal(row["fee"]),
        error=row["error"], created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _position(row: sqlite3.Row) -> Position:
    return Position(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], qty=Decimal(row["qty"]),
        initial_qty=Decimal(row["initial_qty"]), entry_price=Decimal(row["entry_price"]),
        stop_price=Decimal(row["stop_price"]), risk_per_unit=Decimal(row["risk_per_unit"]),
        tp_stage=row["tp_stage"], trailing_stop=_dec(row["trailing_stop"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
    )
