"""The web dashboard's own reads (`python -m nija.web`): small, bounded queries for one page each.

Read-only, always: `DashboardStore` is opened with `readonly=True` and has no write method. P&L
is not computed here: the dashboard takes it from `nija.report` (which reads through
`store.reporting`), so the two never disagree. Every list is bounded (LIMIT), because a page is
served while the daemon writes and a store at 1,000 followers holds a million fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nija.store import Store
from nija.store.db import _dec
from nija.store.reporting import TRADE_ROWS_SQL, TradeRow, trade_row

__all__ = ["DashboardStore", "LedgerRow", "StoreSignature"]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One (signal, follower) row of the copy ledger with the master fill it copies."""

    signal_id: str
    fill_time: datetime
    broker: str
    symbol: str
    side: str
    kind: str
    master_qty: Decimal
    master_price: Decimal
    user_id: str
    status: str
    reason: str | None
    size_filled: Decimal | None
    price: Decimal | None
    slippage_bps: Decimal | None
    fill_latency_ms: float | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoreSignature:
    """What changes when anything the P&L figures depend on changes: new fills, ledger rows,
    equity snapshots and paper prices. Equal signatures: the figures computed before still hold."""

    fills: int
    copies: int
    snapshots: int
    prices: int


class DashboardStore(Store):
    """The store as the dashboard reads it: everything `Store` reads, plus the pages' own reads."""

    def signature(self) -> StoreSignature:
        """The store's `StoreSignature` now (four index-only reads)."""
        row = self._query(
            "SELECT (SELECT MAX(rowid) FROM fills), (SELECT MAX(rowid) FROM copy_orders),"
            " (SELECT MAX(rowid) FROM equity_snapshots), (SELECT MAX(published_ms) FROM paper_prices)"
        )[0]
        return StoreSignature(*(int(value or 0) for value in row))

    def open_position_counts(self) -> dict[tuple[str, str], int]:
        """How many open positions each (broker, account) holds."""
        rows = self._query("SELECT broker, account, COUNT(*) FROM positions GROUP BY broker, account")
        return {(r[0], r[1]): r[2] for r in rows}

    def latest_equities(self) -> dict[tuple[str, str], tuple[Decimal, datetime]]:
        """Each account's newest equity snapshot (masters: followers have none), with its time."""
        # SQLite returns the bare columns of the row holding the group's MAX().
        rows = self._query(
            "SELECT broker, account, total_equity, MAX(taken_at) FROM equity_snapshots GROUP BY broker, account"
        )
        return {(r[0], r[1]): (Decimal(r[2]), datetime.fromisoformat(r[3])) for r in rows}

    def account_trades(self, broker: str, account: str, limit: int) -> list[TradeRow]:
        """The account's `limit` newest fills, newest first (the report's trade rows)."""
        rows = self._query(
            TRADE_ROWS_SQL + " WHERE f.broker = ? AND f.account = ? ORDER BY f.rowid DESC LIMIT ?",
            (broker, account, limit),
        )
        return [trade_row(r) for r in rows]

    def equity_series(self, broker: str, account: str, limit: int) -> list[tuple[datetime, Decimal]]:
        """The account's `limit` newest equity points, oldest first: its equity snapshots, or
        (a follower has none) the equity the ledger recorded with each copy, dated by the
        master's fill as `store.reporting` dates it."""
        rows = self._query(
            "SELECT taken_at, total_equity FROM equity_snapshots WHERE broker = ? AND account = ?"
            " ORDER BY taken_at DESC, rowid DESC LIMIT ?",
            (broker, account, limit),
        )
        if not rows:
            rows = self._query(
                "SELECT s.fill_time, c.user_equity FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
                " WHERE c.broker = ? AND c.user_id = ? AND c.user_equity IS NOT NULL"
                " ORDER BY s.fill_time DESC, c.rowid DESC LIMIT ?",
                (broker, account, limit),
            )
        return [(datetime.fromisoformat(r[0]), Decimal(r[1])) for r in reversed(rows)]

    def ledger_page(self, limit: int, offset: int = 0, *, user_id: str | None = None,
                    statuses: Sequence[str] = ()) -> list[LedgerRow]:
        """Copy ledger rows, newest signal first: `limit` of them after `offset`, only the
        follower `user_id` and the `statuses` given (all when empty)."""
        where, params = ["1"], []
        if user_id is not None:
            where.append("c.user_id = ?")
            params.append(user_id)
        if statuses:
            where.append(f"c.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        rows = self._query(
            "SELECT c.signal_id, s.fill_time, c.broker, s.symbol, s.side, s.kind, s.qty, s.price, c.user_id, c.status,"
            " c.reason, c.size_filled, c.price, c.slippage_bps, c.fill_latency_ms, c.updated_at"
            " FROM copy_orders c JOIN signals s ON s.signal_id = c.signal_id"
            f" WHERE {' AND '.join(where)} ORDER BY c.rowid DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_ledger_row(r) for r in rows]


def _ledger_row(r: Sequence[str]) -> LedgerRow:
    return LedgerRow(
        signal_id=r[0], fill_time=datetime.fromisoformat(r[1]), broker=r[2], symbol=r[3], side=r[4], kind=r[5],
        master_qty=Decimal(r[6]), master_price=Decimal(r[7]), user_id=r[8], status=r[9], reason=r[10],
        size_filled=_dec(r[11]), price=_dec(r[12]), slippage_bps=_dec(r[13]), fill_latency_ms=r[14],
        updated_at=datetime.fromisoformat(r[15]),
    )
