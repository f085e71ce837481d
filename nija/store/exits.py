"""Exit copies and the copied positions they follow: the copy ledger's exit rows (attempts and
retries), signals the copy engine raises itself, and the queries convergence needs.

An exit copy row never expires while the follower holds a copied position: a failed attempt
waits (`CopyStatus.WAITING`) until `retry_at`, and the next attempt gets its own client order id
(`exit_attempt_id`), so each attempt is sent at most once. `size_asked` keeps what the row sells
in all (written by attempt 0), `filled_before` what earlier attempts sold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nija.models import (
    BrokerName,
    CopyStatus,
    OrderStatus,
    Position,
    SignalStatus,
    TradeSignal,
    advance_copy_status,
    client_order_id_for,
    utc_now,
)
from nija.store.db import Database, _dec
from nija.store.orders import _position

__all__ = ["CopyExits", "ExitRow", "exit_attempt_id"]

_OPEN = tuple(status for status in CopyStatus if status.is_open)
_CHUNK = 500  # SQLite's bound-variable limit, with room to spare


def exit_attempt_id(signal_id: str, user_id: str, attempt: int) -> str:
    """The client order id of one attempt of an exit copy; attempt 0 is the copy's own id."""
    if attempt == 0:
        return client_order_id_for("copy", signal_id, user_id)
    return client_order_id_for("copy", signal_id, user_id, attempt)


@dataclass(frozen=True, slots=True)
class ExitRow:
    """One follower's ledger row of an exit signal, as the next pass needs it."""

    user_id: str
    status: CopyStatus
    client_order_id: str
    attempts: int
    retry_at: datetime | None
    size_asked: Decimal | None  # what the row sells in all (attempt 0's size)
    filled_before: Decimal  # what earlier attempts sold
    reason: str | None


class CopyExits(Database):
    """Exit rows, engine-raised signals and the copied-position queries of convergence."""

    def exit_rows(self, signal_id: str) -> dict[str, ExitRow]:
        """Every follower's row of one signal, by user id."""
        rows = self._query(
            "SELECT user_id, status, client_order_id, attempts, retry_at, size_asked, filled_before, reason"
            " FROM copy_orders WHERE signal_id = ?",
            (signal_id,),
        )
        return {
            r["user_id"]: ExitRow(
                user_id=r["user_id"], status=CopyStatus(r["status"]), client_order_id=r["client_order_id"],
                attempts=r["attempts"], retry_at=datetime.fromisoformat(r["retry_at"]) if r["retry_at"] else None,
                size_asked=_dec(r["size_asked"]), filled_before=_dec(r["filled_before"]) or Decimal(0),
                reason=r["reason"],
            )
            for r in rows
        }

    def begin_exit_attempt(self, signal_id: str, user_id: str, attempt: int, filled_before: Decimal) -> str:
        """Move a waiting exit row to its next attempt (pending, a new client order id); returns the id."""
        cid = exit_attempt_id(signal_id, user_id, attempt)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status FROM copy_orders WHERE signal_id = ? AND user_id = ?", (signal_id, user_id)
            ).fetchone()
            if row is None:
                raise KeyError(f"no copy ledger row for signal {signal_id}, user {user_id}")
            advance_copy_status(CopyStatus(row["status"]), CopyStatus.PENDING)
            conn.execute(
                "UPDATE copy_orders SET status = ?, client_order_id = ?, attempts = ?, filled_before = ?,"
                " retry_at = NULL, updated_at = ? WHERE signal_id = ? AND user_id = ?",
                (CopyStatus.PENDING, cid, attempt, str(filled_before), utc_now().isoformat(), signal_id, user_id),
            )
        return cid

    def schedule_retries(self, when: Mapping[tuple[str, str], datetime]) -> None:
        """Set when each waiting exit row (signal id, user id) is tried again."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE copy_orders SET retry_at = ? WHERE signal_id = ? AND user_id = ? AND status = ?",
                [(at.isoformat(), sig, user, CopyStatus.WAITING) for (sig, user), at in when.items()],
            )

    def attempts_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
        """(attempts, filled before) of ledger rows by (signal id, user id)."""
        found: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for signal_id, user_id in keys:
            for r in self._query(
                "SELECT attempts, filled_before FROM copy_orders WHERE signal_id = ? AND user_id = ?", (signal_id, user_id)
            ):
                found[(signal_id, user_id)] = (r["attempts"], _dec(r["filled_before"]) or Decimal(0))
        return found

    def busy_copy_users(self, broker: BrokerName, symbol: str, except_signal: str) -> set[str]:
        """Followers with a copy order of another signal in `symbol` still in flight (sent, or
        possibly sent): an exit waits for it, so two sells never count the same coins."""
        marks = ",".join("?" * len(_OPEN))
        rows = self._query(
            "SELECT DISTINCT c.user_id FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            " JOIN orders o ON o.client_order_id = c.client_order_id"
            f" WHERE s.broker = ? AND s.symbol = ? AND c.signal_id != ? AND c.status IN ({marks})"
            " AND o.status IN (?, ?, ?, ?)",
            (broker, symbol, except_signal, *_OPEN,
             OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.PARTIAL, OrderStatus.UNKNOWN),
        )
        return {r["user_id"] for r in rows}

    def copied_positions(self, broker: BrokerName, users: Sequence[str]) -> list[Position]:
        """Every open position of these follower accounts (their copied positions)."""
        found: list[Position] = []
        for start in range(0, len(users), _CHUNK):
            chunk = users[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found += [
                _position(r)
                for r in self._query(f"SELECT * FROM positions WHERE broker = ? AND account IN ({marks})", (broker, *chunk))
            ]
        return found

    def copies_in_motion(self, broker: BrokerName) -> tuple[set[tuple[str, str]], set[str]]:
        """What convergence leaves alone: (user id, symbol) pairs with an open ledger row, and the
        symbols with a signal still pending (its rows may not exist yet)."""
        marks = ",".join("?" * len(_OPEN))
        rows = self._query(
            "SELECT DISTINCT c.user_id, s.symbol FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            f" WHERE s.broker = ? AND c.status IN ({marks})",
            (broker, *_OPEN),
        )
        pending = self._query(
            "SELECT DISTINCT symbol FROM signals WHERE broker = ? AND status = ?", (broker, SignalStatus.PENDING)
        )
        return {(r["user_id"], r["symbol"]) for r in rows}, {r["symbol"] for r in pending}

    def raise_signals(self, signals: Sequence[TradeSignal]) -> list[TradeSignal]:
        """Put signals the copy engine raises itself in the outbox (once: ids are deterministic);
        returns the new ones."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            return [
                s
                for s in signals
                if conn.execute(
                    "INSERT OR IGNORE INTO signals (signal_id, broker, master_account, symbol, side, qty, price,"
                    " quote_value, master_equity, master_position_before, fill_time, trade_id, status, reason,"
                    " created_at, done_at, kind, target_user) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        s.signal_id, s.broker, s.master_account, s.symbol, s.side, str(s.qty), str(s.price),
                        str(s.quote_value), str(s.master_equity), str(s.master_position_before),
                        s.fill_time.isoformat(), s.trade_id, SignalStatus.PENDING, None, now, None, s.kind,
                        s.target_user,
                    ),
                ).rowcount
            ]
