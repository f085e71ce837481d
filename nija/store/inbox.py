"""The manual-trade inbox: `python -m nija.trade` writes an intent here, the broker loop that owns
the account takes it, executes it through the one order lifecycle and writes the outcome back.

Taking and finishing are checked moves (`IntentStatus`): an intent the CLI canceled after its
wait ran out is never taken, and a taken one is never canceled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nija.models import (
    BrokerName,
    IntentStatus,
    Order,
    QuantityUnit,
    Side,
    advance_intent_status,
    utc_now,
)
from nija.store.db import Database, _dec

__all__ = ["Inbox", "ManualIntent"]


@dataclass(frozen=True, slots=True)
class ManualIntent:
    """One manual master trade and, once executed, what became of it."""

    intent_id: int
    broker: BrokerName
    symbol: str
    side: Side
    quantity: Decimal
    unit: QuantityUnit
    client_order_id: str
    status: IntentStatus
    order_status: str | None = None
    filled_qty: Decimal | None = None
    avg_price: Decimal | None = None
    fee: Decimal | None = None
    error: str | None = None
    created_at: datetime | None = None


class Inbox(Database):
    """Manual intents, by broker."""

    def add_manual_intent(
        self, broker: BrokerName, symbol: str, side: Side, quantity: Decimal, unit: QuantityUnit, client_order_id: str
    ) -> int:
        """Write a pending intent; returns its id."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO manual_intents (broker, symbol, side, quantity, unit, client_order_id, status,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (broker, symbol, side, str(quantity), unit, client_order_id, IntentStatus.PENDING, now, now),
            )
        return int(cursor.lastrowid or 0)

    def manual_intent(self, intent_id: int) -> ManualIntent | None:
        """One intent, as it stands."""
        rows = self._query("SELECT * FROM manual_intents WHERE intent_id = ?", (intent_id,))
        return _intent(rows[0]) if rows else None

    def manual_intents(self, broker: BrokerName, status: IntentStatus = IntentStatus.PENDING) -> list[ManualIntent]:
        """This broker's intents in `status` (by default, waiting to be taken), oldest first."""
        rows = self._query(
            "SELECT * FROM manual_intents WHERE broker = ? AND status = ? ORDER BY intent_id", (broker, status)
        )
        return [_intent(row) for row in rows]

    def move_manual_intent(self, intent_id: int, status: IntentStatus, order: Order | None = None, error: str | None = None) -> bool:
        """Move an intent (checked); False when the move is not allowed any more (e.g. taking an
        intent the CLI canceled). `order` records the executed order's status and fill."""
        with self._tx() as conn:
            row = conn.execute("SELECT status FROM manual_intents WHERE intent_id = ?", (intent_id,)).fetchone()
            if row is None:
                return False
            try:
                advance_intent_status(IntentStatus(row["status"]), status)
            except ValueError:
                return False
            conn.execute(
                "UPDATE manual_intents SET status = ?, order_status = ?, filled_qty = ?, avg_price = ?, fee = ?,"
                " error = ?, updated_at = ? WHERE intent_id = ?",
                (
                    status, order.status if order else None, str(order.filled_qty) if order else None,
                    str(order.avg_price) if order and order.avg_price is not None else None,
                    str(order.fee) if order else None, error, utc_now().isoformat(), intent_id,
                ),
            )
        return True


def _intent(row) -> ManualIntent:  # type: ignore[no-untyped-def]
    return ManualIntent(
        intent_id=row["intent_id"], broker=BrokerName(row["broker"]), symbol=row["symbol"], side=Side(row["side"]),
        quantity=Decimal(row["quantity"]), unit=QuantityUnit(row["unit"]), client_order_id=row["client_order_id"],
        status=IntentStatus(row["status"]), order_status=row["order_status"], filled_qty=_dec(row["filled_qty"]),
        avg_price=_dec(row["avg_price"]), fee=_dec(row["fee"]), error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )
