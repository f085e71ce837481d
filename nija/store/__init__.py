"""The store: SQLite in WAL mode, and the only package in NIJA that speaks SQL.

One module per aggregate: `db` (connections, transactions, migrations), `orders` (orders, fills,
positions, strategy state), `outbox` (signals, copy ledger, copy users), `exits` (exit copies' attempts, the copied positions
convergence follows), `inbox` (manual trades
handed to the owning broker loop), `accounts` (equity, health, risk marks, entry costs, daemon
row), `followers` (each follower's risk state and the operator's controls), `paper` (the
simulated venue's books), `reporting` (the report's reads and its fee marks) and `identity`
(the store's mode and each live account's key fingerprint), `notifications` (what the
notifier reads, and its own progress), plus `recording`, the one write of execution's outcomes
across them.
`Store` composes them.
"""

from __future__ import annotations

from nija.store.accounts import AccountRecords, DaemonRecord, EntryCost
from nija.store.db import (
    IN_MEMORY,
    StoreBusy,
    StoreDamaged,
    StoreMismatch,
    StoreUnavailable,
    check_data_dir,
    db_path,
)
from nija.store.exits import CopyExits, ExitRow, exit_attempt_id
from nija.store.followers import FollowerRisk, FollowerRiskRecord
from nija.store.identity import StoreIdentity, StoreOwner
from nija.store.inbox import Inbox, ManualIntent
from nija.store.notifications import (
    AccountState,
    CopyNote,
    DailyFigures,
    FillNote,
    HaltState,
    NotificationRecords,
    TransferNote,
)
from nija.store.orders import OrderRecords, StrategyState
from nija.store.outbox import QUALITY_WINDOW, CopyQuality, CopySummary, DriftRow, LastCopy, Outbox, PendingExit
from nija.store.paper import PaperBooks
from nija.store.recording import ConcurrentWrite, PositionChange, Recorder, Recording
from nija.store.reporting import TAPE_SEP, CopyTape, EquityPoint, FeeMark, FillTape, PaperMark, ReportRecords, TradeRow

__all__ = [
    "AccountState",
    "CopyNote",
    "DailyFigures",
    "FillNote",
    "HaltState",
    "IN_MEMORY",
    "QUALITY_WINDOW",
    "TAPE_SEP",
    "ConcurrentWrite",
    "CopyQuality",
    "CopyTape",
    "CopySummary",
    "DaemonRecord",
    "DriftRow",
    "EntryCost",
    "EquityPoint",
    "ExitRow",
    "FeeMark",
    "FillTape",
    "FollowerRiskRecord",
    "LastCopy",
    "ManualIntent",
    "PaperMark",
    "PendingExit",
    "PositionChange",
    "Recording",
    "Store",
    "StoreBusy",
    "StoreDamaged",
    "StoreMismatch",
    "StoreOwner",
    "StoreUnavailable",
    "StrategyState",
    "TradeRow",
    "TransferNote",
    "check_data_dir",
    "db_path",
    "exit_attempt_id",
]


class Store(
    Recorder, OrderRecords, Outbox, CopyExits, Inbox, AccountRecords, FollowerRisk, PaperBooks, StoreIdentity,
    ReportRecords, NotificationRecords,
):
    """Typed access to `nija.db`. Safe to share between threads: each gets its own connection."""
