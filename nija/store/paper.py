"""The simulated paper venue's own books: its balances, its order records and the prices a
paper market publishes for other processes (`python -m nija.trade`). Not NIJA's orders or fills.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal

from nija.models import BrokerName, ExecutionReport
from nija.store.db import Database

__all__ = ["PaperBooks"]


class PaperBooks(Database):
    """The paper venue's balances, order records and published prices."""

    def paper_balances(self, broker: BrokerName, account: str) -> dict[str, Decimal]:
        """The simulated account's balances by asset."""
        rows = self._query("SELECT asset, qty FROM paper_balances WHERE broker = ? AND account = ?", (broker, account))
        return {row["asset"]: Decimal(row["qty"]) for row in rows}

    def seed_paper_account(self, broker: BrokerName, account: str, balances: Mapping[str, Decimal]) -> bool:
        """Fund a simulated account once; returns False when it already exists (a restart)."""
        with self._tx() as conn:
            exists = conn.execute(
                "SELECT 1 FROM paper_balances WHERE broker = ? AND account = ? LIMIT 1", (broker, account)
            ).fetchone()
            if exists:
                return False
            conn.executemany(
                "INSERT INTO paper_balances VALUES (?,?,?,?)",
                [(broker, account, asset, str(qty)) for asset, qty in balances.items()],
            )
        return True

    def paper_fill(
        self, broker: BrokerName, account: str, changes: Mapping[str, Decimal], report: ExecutionReport
    ) -> dict[str, Decimal] | None:
        """Apply a simulated fill's balance changes and store its order record in one transaction,
        reading the balances inside it: `nija.trade` and the daemon fill the same paper account
        from two processes, and a read-then-write of whole balances lost one of the two fills.
        Returns the new balances, or None (nothing written) if one would go negative."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT asset, qty FROM paper_balances WHERE broker = ? AND account = ?", (broker, account)
            ).fetchall()
            current = {row["asset"]: Decimal(row["qty"]) for row in rows}
            new = {asset: current.get(asset, Decimal(0)) + change for asset, change in changes.items()}
            if any(qty < 0 for qty in new.values()):
                return None
            conn.executemany(
                "INSERT OR REPLACE INTO paper_balances VALUES (?,?,?,?)",
                [(broker, account, asset, str(qty)) for asset, qty in new.items()],
            )
            conn.execute(
                "INSERT INTO paper_orders VALUES (?,?,?,?)",
                (broker, account, report.client_order_id, report.model_dump_json()),
            )
        return new

    def publish_paper_prices(self, broker: BrokerName, prices: Mapping[str, Decimal], market_ms: int) -> None:
        """Store a paper market's current prices (one row per symbol, replaced each cycle), with
        the wall-clock time of publication."""
        published_ms = time.time_ns() // 1_000_000
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO paper_prices (broker, symbol, price, market_ms, published_ms)"
                " VALUES (?,?,?,?,?)",
                [(broker, symbol, str(price), market_ms, published_ms) for symbol, price in prices.items()],
            )

    def paper_prices(self, broker: BrokerName) -> tuple[dict[str, Decimal], int]:
        """A paper market's latest published prices and their market time (ms; 0 if none)."""
        rows = self._query("SELECT symbol, price, market_ms FROM paper_prices WHERE broker = ?", (broker,))
        return {r["symbol"]: Decimal(r["price"]) for r in rows}, max((r["market_ms"] for r in rows), default=0)

    def paper_prices_published_ms(self, broker: BrokerName) -> int | None:
        """When (epoch ms, wall clock) `broker`'s paper prices were last published; None if never
        (or only by a NIJA older than this column)."""
        rows = self._query("SELECT MAX(published_ms) AS published FROM paper_prices WHERE broker = ?", (broker,))
        return rows[0]["published"] if rows else None

    def paper_order(self, broker: BrokerName, account: str, client_order_id: str) -> ExecutionReport | None:
        """The simulated venue's record of an order, by client order id."""
        rows = self._query(
            "SELECT report FROM paper_orders WHERE broker = ? AND account = ? AND client_order_id = ?",
            (broker, account, client_order_id),
        )
        return ExecutionReport.model_validate_json(rows[0]["report"]) if rows else None
