"""Orders, their fills, the positions built from them and the strategy state kept beside each
position. An order row is written before its request is sent (`insert_orders`); what the venue
answered is written by `store.recording` in one transaction with its fills and positions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from nija.models import (
    BrokerName,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    utc_now,
)
from nija.store.db import Database, _dec, _text

__all__ = ["OrderRecords", "StrategyState", "write_position"]


@dataclass(frozen=True, slots=True)
class StrategyState:
    """A strategy's state of one position, as plain JSON values it defines, and the state that
    takes over once its pending exit order fills (None: no exit pending)."""

    state: dict[str, Any]
    pending_client_order_id: str | None = None
    pending_state: dict[str, Any] | None = None


class OrderRecords(Database):
    """Orders, fills, positions and the strategy state beside them."""

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

    def order_reasons(self, broker: BrokerName, account: str) -> dict[str, str]:
        """Why each order of this account was sent, by client order id (a backtest's trade list)."""
        rows = self._query("SELECT client_order_id, reason FROM orders WHERE broker = ? AND account = ?", (broker, account))
        return {row["client_order_id"]: row["reason"] for row in rows}

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

    def known_fills(self, trade_ids: Iterable[str]) -> set[tuple[str, str, str]]:
        """(broker, account, trade id) of the stored fills among `trade_ids`: a repeated trade
        counts once. One query per 500 ids, whatever the number of accounts."""
        ids = list(dict.fromkeys(trade_ids))
        known: set[tuple[str, str, str]] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT broker, account, trade_id FROM fills WHERE trade_id IN ({marks})", chunk)
            known.update((row["broker"], row["account"], row["trade_id"]) for row in rows)
        return known

    def fills(self, broker: BrokerName, account: str) -> list[Fill]:
        """Every fill of this account, oldest first."""
        rows = self._query(
            "SELECT * FROM fills WHERE broker = ? AND account = ? ORDER BY ts_seen, rowid", (broker, account)
        )
        return [_fill(row) for row in rows]

    def fills_after(self, broker: BrokerName, account: str, rowid: int) -> tuple[list[Fill], int]:
        """This account's fills recorded after the fill with `rowid` (0: all), in the order
        recorded, and the rowid of the last of them (`rowid` when there is none)."""
        # By rowid range (the unary + keeps SQLite off the primary key's index, which would walk
        # every fill of the account): the fills after a recent one are few, whatever the account.
        rows = self._query(
            "SELECT rowid AS seq, * FROM fills WHERE rowid > ? AND +broker = ? AND +account = ? ORDER BY rowid",
            (rowid, broker, account),
        )
        return [_fill(row) for row in rows], (int(rows[-1]["seq"]) if rows else rowid)

    # -- positions ---------------------------------------------------------------------------

    def positions(self, broker: BrokerName, account: str) -> list[Position]:
        """Open positions NIJA opened on this account."""
        rows = self._query(
            "SELECT * FROM positions WHERE broker = ? AND account = ? ORDER BY symbol", (broker, account)
        )
        return [_position(row) for row in rows]

    def positions_of(self, broker: BrokerName, symbol: str, accounts: Iterable[str]) -> dict[str, Position]:
        """The open positions in `symbol` of these accounts of one broker, by account."""
        names = list(accounts)
        found: dict[str, Position] = {}
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                f"SELECT * FROM positions WHERE broker = ? AND symbol = ? AND account IN ({marks})",
                (broker, symbol, *chunk),
            ):
                found[row["account"]] = _position(row)
        return found

    def forget_position(self, broker: BrokerName, account: str, symbol: str) -> None:
        """Forget a position and its strategy state: sold outside NIJA, or unsellable dust."""
        with self._tx() as conn:
            for table in ("positions", "strategy_state"):
                conn.execute(f"DELETE FROM {table} WHERE broker = ? AND account = ? AND symbol = ?", (broker, account, symbol))

    # -- strategy state ----------------------------------------------------------------------

    def strategy_states(self, broker: BrokerName, account: str) -> dict[str, StrategyState]:
        """The strategy state kept beside each position of this account, by symbol."""
        rows = self._query("SELECT * FROM strategy_state WHERE broker = ? AND account = ?", (broker, account))
        return {
            row["symbol"]: StrategyState(
                state=json.loads(row["state"]),
                pending_client_order_id=row["pending_client_order_id"],
                pending_state=json.loads(row["pending_state"]) if row["pending_state"] is not None else None,
            )
            for row in rows
        }

    def save_strategy_state(self, broker: BrokerName, account: str, symbol: str, state: StrategyState) -> None:
        """Persist a position's strategy state (and the state its pending exit order leads to)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO strategy_state VALUES (?,?,?,?,?,?,?)",
                (
                    broker, account, symbol, json.dumps(state.state), state.pending_client_order_id,
                    json.dumps(state.pending_state) if state.pending_state is not None else None,
                    utc_now().isoformat(),
                ),
            )

    def planned_stop(self, broker: BrokerName, account: str, symbol: str) -> Decimal | None:
        """The stop planned with the latest filled buy of this symbol (stored with its intent)."""
        rows = self._query(
            "SELECT stop_price FROM orders WHERE broker = ? AND account = ? AND symbol = ? AND side = 'buy'"
            " AND filled_qty != '0' ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (broker, account, symbol),
        )
        return _dec(rows[0]["stop_price"]) if rows else None


def _order(row: sqlite3.Row) -> Order:
    request = OrderRequest(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], side=Side(row["side"]),
        quantity=Decimal(row["quantity"]), unit=QuantityUnit(row["unit"]), client_order_id=row["client_order_id"],
        reason=row["reason"], stop_price=_dec(row["stop_price"]),
    )
    return Order(
        request=request, status=OrderStatus(row["status"]), exchange_order_id=row["exchange_order_id"],
        filled_qty=Decimal(row["filled_qty"]), avg_price=_dec(row["avg_price"]), fee=Decimal(row["fee"]),
        fee_in_base=Decimal(row["fee_in_base"]), error=row["error"], created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _position(row: sqlite3.Row) -> Position:
    return Position(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], qty=Decimal(row["qty"]),
        entry_price=Decimal(row["entry_price"]), opened_at=datetime.fromisoformat(row["opened_at"]),
        realised_pnl=Decimal(row["realised_pnl"]), fees=Decimal(row["fees"]),
    )


def write_position(conn: sqlite3.Connection, p: Position) -> None:
    """Insert or replace one position row (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO positions (broker, account, symbol, qty, entry_price, opened_at, updated_at,"
        " realised_pnl, fees) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            p.broker, p.account, p.symbol, str(p.qty), str(p.entry_price), p.opened_at.isoformat(),
            utc_now().isoformat(), str(p.realised_pnl), str(p.fees),
        ),
    )


def _fill(row: sqlite3.Row) -> Fill:
    return Fill(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], side=row["side"],
        trade_id=row["trade_id"], client_order_id=row["client_order_id"], qty=Decimal(row["qty"]),
        price=Decimal(row["price"]), fee=Decimal(row["fee"]), fee_in_base=Decimal(row["fee_in_base"]),
        fee_currency=row["fee_currency"],
        ts_exchange=datetime.fromisoformat(row["ts_exchange"]),
        ts_seen=datetime.fromisoformat(row["ts_seen"]),
    )
