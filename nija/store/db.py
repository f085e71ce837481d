"""The store's connection machinery: one SQLite connection per thread (WAL mode), short
transactions, and the versioned schema migrations every aggregate module writes through.

Money and quantities are stored as TEXT and read back as `Decimal`, so nothing is ever rounded
through a float. No aggregate's SQL lives here, only the schema.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

__all__ = ["DB_NAME", "Database", "StoreUnavailable", "db_path"]

DB_NAME: Final = "nija.db"

def _backfill_order_base_fees(conn: sqlite3.Connection) -> None:
    totals: dict[str, Decimal] = {}
    for row in conn.execute("SELECT client_order_id, fee_in_base FROM fills WHERE fee_in_base != '0'"):
        totals[row[0]] = totals.get(row[0], Decimal(0)) + Decimal(row[1])
    conn.executemany(
        "UPDATE orders SET fee_in_base = ? WHERE client_order_id = ?", [(str(v), k) for k, v in totals.items()]
    )


# Each entry moves the schema from version i to i + 1: an SQL script, or a function of the
# connection for a data step SQL cannot do exactly. Never edit a shipped entry: append.
_MIGRATIONS: Final[tuple[str | Callable[[sqlite3.Connection], None], ...]] = (
    """
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        broker TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL,
        side TEXT NOT NULL, quantity TEXT NOT NULL, unit TEXT NOT NULL, reason TEXT NOT NULL,
        stop_price TEXT, status TEXT NOT NULL, exchange_order_id TEXT,
        filled_qty TEXT NOT NULL DEFAULT '0', avg_price TEXT, fee TEXT NOT NULL DEFAULT '0',
        error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX orders_by_status ON orders (broker, account, status);
    CREATE TABLE fills (
        broker TEXT NOT NULL, account TEXT NOT NULL, trade_id TEXT NOT NULL,
        client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        qty TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL, fee_in_base TEXT NOT NULL,
        ts_exchange TEXT NOT NULL, ts_seen TEXT NOT NULL,
        PRIMARY KEY (broker, account, trade_id)
    );
    CREATE TABLE positions (
        broker TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL,
        qty TEXT NOT NULL, initial_qty TEXT NOT NULL, entry_price TEXT NOT NULL,
        stop_price TEXT NOT NULL, risk_per_unit TEXT NOT NULL, tp_stage INTEGER NOT NULL,
        trailing_stop TEXT, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, account, symbol)
    );
    CREATE TABLE equity_snapshots (
        broker TEXT NOT NULL, account TEXT NOT NULL, total_equity TEXT NOT NULL,
        available TEXT NOT NULL, locked_in_positions TEXT NOT NULL, taken_at TEXT NOT NULL
    );
    CREATE INDEX equity_by_account ON equity_snapshots (broker, account, taken_at);
    CREATE TABLE broker_health (
        broker TEXT NOT NULL, account TEXT NOT NULL, status TEXT NOT NULL,
        funded INTEGER NOT NULL, cycles_total INTEGER NOT NULL, cycles_ok INTEGER NOT NULL,
        consecutive_errors INTEGER NOT NULL, last_error TEXT, last_cycle_at TEXT,
        retry_at TEXT, auth_failed INTEGER NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, account)
    );
    CREATE TABLE daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL, mode TEXT NOT NULL, cycle_seconds REAL NOT NULL,
        started_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL, stopped_at TEXT
    );
    CREATE TABLE paper_balances (
        broker TEXT NOT NULL, account TEXT NOT NULL, asset TEXT NOT NULL, qty TEXT NOT NULL,
        PRIMARY KEY (broker, account, asset)
    );
    CREATE TABLE paper_orders (
        broker TEXT NOT NULL, account TEXT NOT NULL, client_order_id TEXT NOT NULL,
        report TEXT NOT NULL,
        PRIMARY KEY (broker, account, client_order_id)
    );
    """,
    # 2: the copy-trading outbox: one signal per master fill, one ledger row per (signal, user).
    """
    CREATE TABLE signals (
        signal_id TEXT PRIMARY KEY, broker TEXT NOT NULL, master_account TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
        quote_value TEXT NOT NULL, master_equity TEXT NOT NULL, master_position_before TEXT NOT NULL,
        fill_time TEXT NOT NULL, trade_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
        created_at TEXT NOT NULL, done_at TEXT
    );
    CREATE INDEX signals_by_status ON signals (status, created_at);
    CREATE TABLE copy_orders (
        signal_id TEXT NOT NULL, user_id TEXT NOT NULL, broker TEXT NOT NULL,
        client_order_id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, reason TEXT,
        size_asked TEXT, unit TEXT, size_filled TEXT, price TEXT, fee TEXT, latency_ms REAL,
        user_equity TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (signal_id, user_id)
    );
    CREATE INDEX copy_orders_by_status ON copy_orders (status);
    """,
    # 3: the paper market's latest prices, so a separate process (python -m nija.trade) trades
    # a paper master at the daemon's current prices.
    """
    CREATE TABLE paper_prices (
        broker TEXT NOT NULL, symbol TEXT NOT NULL, price TEXT NOT NULL, market_ms INTEGER NOT NULL,
        PRIMARY KEY (broker, symbol)
    );
    ALTER TABLE daemon ADD COLUMN copy_mode TEXT;
    """,
    # 4: risk guardrails: each master's equity watermarks and halt, the cost of each entry
    # against the cheapest other funded broker, and why an account makes no entries.
    """
    CREATE TABLE broker_risk (
        broker TEXT NOT NULL, account TEXT NOT NULL,
        high_water_mark TEXT NOT NULL, day TEXT NOT NULL, day_start_equity TEXT NOT NULL,
        halted_reason TEXT, halted_at TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, account)
    );
    CREATE TABLE entry_costs (
        client_order_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account TEXT NOT NULL,
        symbol TEXT NOT NULL, round_trip TEXT NOT NULL, cheaper_broker TEXT, cheaper_round_trip TEXT,
        entered_at TEXT NOT NULL
    );
    ALTER TABLE broker_health ADD COLUMN note TEXT;
    """,
    # 5: every configured copy user's state, written by the copy engine when it starts and when
    # a user's health or equity changes, so status lists users before their first copy.
    """
    CREATE TABLE copy_users (
        broker TEXT NOT NULL, user_id TEXT NOT NULL, state TEXT NOT NULL, enabled INTEGER NOT NULL,
        equity TEXT, available TEXT, equity_at TEXT, last_error TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, user_id)
    );
    """,
    # 6: one order lifecycle. Positions keep accounting only (built from fills, for masters and
    # followers alike); a strategy's exit state moves to its own table beside the position, with
    # the state that applies once a pending exit order fills. Orders record the base-fee part.
    """
    CREATE TABLE strategy_state (
        broker TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL, state TEXT NOT NULL,
        pending_client_order_id TEXT, pending_state TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, account, symbol)
    );
    INSERT INTO strategy_state
        SELECT broker, account, symbol,
               json_object('stop_price', stop_price, 'risk_per_unit', risk_per_unit, 'initial_qty', initial_qty,
                           'tp_stage', tp_stage, 'trailing_stop', trailing_stop),
               NULL, NULL, updated_at
        FROM positions;
    ALTER TABLE positions DROP COLUMN initial_qty;
    ALTER TABLE positions DROP COLUMN stop_price;
    ALTER TABLE positions DROP COLUMN risk_per_unit;
    ALTER TABLE positions DROP COLUMN tp_stage;
    ALTER TABLE positions DROP COLUMN trailing_stop;
    ALTER TABLE positions ADD COLUMN realised_pnl TEXT NOT NULL DEFAULT '0';
    ALTER TABLE positions ADD COLUMN fees TEXT NOT NULL DEFAULT '0';
    ALTER TABLE fills ADD COLUMN fee_currency TEXT;
    ALTER TABLE orders ADD COLUMN fee_in_base TEXT NOT NULL DEFAULT '0'
    """,
    # 7: each order's base-fee part, summed exactly (as Decimal, never through a float) from its fills.
    _backfill_order_base_fees,
    # 8: the manual-trade inbox: `python -m nija.trade` hands an intent to the broker loop that
    # owns the account (one writer per account) and reads the outcome back.
    """
    CREATE TABLE manual_intents (
        intent_id INTEGER PRIMARY KEY AUTOINCREMENT, broker TEXT NOT NULL, symbol TEXT NOT NULL,
        side TEXT NOT NULL, quantity TEXT NOT NULL, unit TEXT NOT NULL, client_order_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL, order_status TEXT, filled_qty TEXT, avg_price TEXT, fee TEXT, error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX manual_intents_by_status ON manual_intents (broker, status)
    """,
)


class StoreUnavailable(Exception):
    """The store file is missing or unreadable."""


def db_path(data_dir: Path) -> Path:
    """Where the store lives inside the data directory."""
    return data_dir / DB_NAME


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: Decimal | datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class Database:
    """One `nija.db` file and its connections; the base of every aggregate's class. Safe to share
    between threads: each gets its own connection."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        if readonly and not path.exists():
            raise StoreUnavailable(f"no store at {path}")
        if readonly:
            version = self.schema_version()
            if version != len(_MIGRATIONS):
                self.close()
                raise StoreUnavailable(
                    f"store {path} has schema {version}, this NIJA reads {len(_MIGRATIONS)}"
                    " (the daemon of this version migrates it when it starts)"
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        else:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        with self._all_lock:
            self._all.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; BEGIN IMMEDIATE so writers queue instead of deadlocking."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"store {self.path} unreadable: {exc}") from exc

    def schema_version(self) -> int:
        """Current schema version (PRAGMA user_version)."""
        return int(self._query("PRAGMA user_version")[0][0])

    def _migrate(self) -> None:
        with self._tx() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(_MIGRATIONS):
                raise StoreUnavailable(
                    f"store {self.path} has schema {version}, newer than this NIJA ({len(_MIGRATIONS)})"
                )
            for target, step in enumerate(_MIGRATIONS[version:], start=version + 1):
                if callable(step):  # a data step that needs exact Decimal arithmetic
                    step(conn)
                else:
                    for statement in filter(str.strip, step.split(";")):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        """Checkpoint the WAL and close every thread's connection."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                if not self.readonly:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            except sqlite3.Error:
                pass  # another thread's connection may be mid-use at shutdown; closing is best effort
        self._local = threading.local()
