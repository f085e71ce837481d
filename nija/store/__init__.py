"""The store: SQLite in WAL mode, and the only package in NIJA that speaks SQL.

One module per aggregate: `db` (connections, transactions, migrations), `orders` (orders, fills,
positions), `outbox` (signals, copy ledger, copy users), `accounts` (equity, health, risk marks,
entry costs, daemon row) and `paper` (the simulated venue's books). `Store` composes them.
"""

from __future__ import annotations

from nija.store.accounts import AccountRecords, DaemonRecord, EntryCost
from nija.store.db import StoreUnavailable, db_path
from nija.store.orders import OrderRecords
from nija.store.outbox import CopySummary, LastCopy, Outbox
from nija.store.paper import PaperBooks

__all__ = ["CopySummary", "DaemonRecord", "EntryCost", "LastCopy", "Store", "StoreUnavailable", "db_path"]


class Store(OrderRecords, Outbox, AccountRecords, PaperBooks):
    """Typed access to `nija.db`. Safe to share between threads: each gets its own connection."""
