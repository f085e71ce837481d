"""The store's connection machinery: one SQLite connection per thread (WAL mode), short
transactions, and the versioned schema migrations every aggregate module writes through.

Money and quantities are stored as TEXT and read back as `Decimal`, so nothing is ever rounded
through a float. No aggregate's SQL lives here, only the schema.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DB_NAME",
    "Database",
    "StoreBusy",
    "StoreDamaged",
    "StoreMismatch",
    "StoreUnavailable",
    "check_data_dir",
    "db_path",
]

DB_NAME: Final = "nija.db"
PAGE_CACHE_KIB: Final = 512  # per connection

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
    # 9: each broker loop's own liveness, written by its thread after every cycle and while it
    # waits, so status sees a dead or stuck loop whatever the main thread's heartbeat says.
    """
    CREATE TABLE loop_liveness (
        broker TEXT NOT NULL, account TEXT NOT NULL, alive_at TEXT NOT NULL,
        PRIMARY KEY (broker, account)
    )
    """,
    # 10: whose state this store holds: its mode (paper or live, taken from the last daemon run of
    # an older store) and, per live account, the fingerprint of the API key it trades with. A
    # paper run's positions and marks must never reach a live run, nor one account's another's.
    """
    CREATE TABLE store_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1), mode TEXT NOT NULL, claimed_at TEXT NOT NULL
    );
    INSERT INTO store_identity SELECT 1, mode, started_at FROM daemon WHERE id = 1;
    CREATE TABLE account_keys (
        broker TEXT NOT NULL, account TEXT NOT NULL, key_fingerprint TEXT NOT NULL, bound_at TEXT NOT NULL,
        PRIMARY KEY (broker, account)
    )
    """,
    # 11: when (wall clock, epoch ms) a paper market's prices were published: `nija.trade` with no
    # daemon running refuses a price older than 3 cycles (market_ms is the market's own clock).
    """
    ALTER TABLE paper_prices ADD COLUMN published_ms INTEGER
    """,
    # 12: copy trust. A signal is a master fill, or one the copy engine raises itself (`kind`:
    # converge, flatten, close, join) for one follower (`target_user`) or all. An exit copy row
    # never expires: each attempt gets its own client order id (`attempts`), a failed one waits
    # until `retry_at`; `target_qty` is what the row sells in all, `filled_before` what earlier
    # attempts sold.
    """
    ALTER TABLE signals ADD COLUMN kind TEXT NOT NULL DEFAULT 'master';
    ALTER TABLE signals ADD COLUMN target_user TEXT;
    ALTER TABLE copy_orders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE copy_orders ADD COLUMN retry_at TEXT;
    ALTER TABLE copy_orders ADD COLUMN target_qty TEXT;
    ALTER TABLE copy_orders ADD COLUMN filled_before TEXT
    """,
    # 13: copy quality per (signal, follower) and each follower's drift from the scaled master
    # (the latest check of every follower and symbol; `beyond`: outside the tolerance).
    """
    ALTER TABLE copy_orders ADD COLUMN master_price TEXT;
    ALTER TABLE copy_orders ADD COLUMN ack_latency_ms REAL;
    ALTER TABLE copy_orders ADD COLUMN fill_latency_ms REAL;
    ALTER TABLE copy_orders ADD COLUMN slippage_bps TEXT;
    CREATE TABLE copy_drift (
        broker TEXT NOT NULL, user_id TEXT NOT NULL, symbol TEXT NOT NULL, copied_qty TEXT NOT NULL,
        expected_qty TEXT NOT NULL, drift_pct TEXT, beyond INTEGER NOT NULL DEFAULT 0, checked_at TEXT NOT NULL,
        PRIMARY KEY (broker, user_id, symbol)
    )
    """,
    # 14: each follower's own risk envelope and operator controls: high-water mark, a drawdown
    # halt only an operator lifts, the circuit breaker, and enable/disable without a restart.
    # `enabled_seen` is the enabled state the engine last acted on (join/leave rules fire on a
    # change, across restarts too); `resumed_at` stamps an operator resume, so an engine write
    # made from state read before it is dropped (`store.followers`).
    """
    CREATE TABLE follower_risk (
        broker TEXT NOT NULL, user_id TEXT NOT NULL, high_water_mark TEXT, halted_reason TEXT,
        halted_at TEXT, failures_in_row INTEGER NOT NULL DEFAULT 0, paused_reason TEXT,
        enabled_override INTEGER, enabled_seen INTEGER, resumed_at TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, user_id)
    )
    """,
    # 15: each follower's performance-fee high-water mark, one row per committed statement
    # period (`python -m nija.report statement --commit`): the copied positions' cumulative P&L
    # after fees at the period's end, the mark after it (never lowered) and the fee charged.
    """
    CREATE TABLE performance_fee_marks (
        broker TEXT NOT NULL, user_id TEXT NOT NULL, period TEXT NOT NULL, cumulative_pnl TEXT NOT NULL,
        high_water_mark TEXT NOT NULL, fee_pct TEXT NOT NULL, fee_due TEXT NOT NULL, committed_at TEXT NOT NULL,
        PRIMARY KEY (broker, user_id, period)
    )
    """,
    # 16: the notifier's own progress (`store.notifications`): cursors over fills and the copy
    # ledger (read by update time, hence the index), the last state it announced per account, and
    # when it sent the daily summary, so a restart neither repeats nor loses what happened.
    """
    CREATE TABLE notify_state (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX copy_orders_by_update ON copy_orders (updated_at)
    """,
    # 17: each account's assets as its last balance read valued them, and the last of its fills
    # that read showed: the next read is compared with it to tell deposits and withdrawals from
    # trading (`execution.transfers`), across restarts too.
    """
    CREATE TABLE valued_holdings (
        broker TEXT NOT NULL, account TEXT NOT NULL, assets TEXT NOT NULL, fills_seen INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, account)
    )
    """,
    # 18: every deposit or withdrawal a balance read showed (`execution.transfers`), written with
    # the marks it scaled: what the notifier announces and an audit of why no loss was counted.
    """
    CREATE TABLE transfers (
        broker TEXT NOT NULL, account TEXT NOT NULL, value TEXT NOT NULL, equity TEXT NOT NULL,
        seen_at TEXT NOT NULL
    )
    """,
)


# A throwaway store's extra indexes, for reads a backtest repeats on a growing order book (the
# planned stop of each new position scanned every order: ~0.5 ms a read at 2,000 orders). They
# lead with a column only those reads constrain, so no other read changes plan (or row order).
_THROWAWAY_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS scratch_orders_by_symbol ON orders (symbol, broker, account, side, created_at)",
    "CREATE INDEX IF NOT EXISTS scratch_fills_by_trade ON fills (trade_id)",
)


class StoreUnavailable(Exception):
    """The store can't be used: missing, unreadable, damaged, busy or out of space. The message is
    one line naming the file."""


class StoreBusy(StoreUnavailable):
    """Another connection held the store's write lock past the busy timeout: try again later."""


class StoreDamaged(StoreUnavailable):
    """The store file exists but is empty, truncated, corrupt, not NIJA's or of a newer schema:
    never replaced silently (its orders, positions, marks and halts would be lost)."""


class StoreMismatch(Exception):
    """The store holds another mode's or another venue account's state than this process would
    trade: using it would mix paper and live, or one account's positions with another's."""


_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_WHAT_TO_DO: Final = "restore the backup, or move it aside to start on a new, empty store"


def db_path(data_dir: Path) -> Path:
    """Where the store lives inside the data directory."""
    return data_dir / DB_NAME


def check_data_dir(data_dir: Path) -> None:
    """Make sure the data directory is a directory this process can write (created if missing);
    raise `StoreUnavailable` with one line naming it otherwise. Writing is tried, not inferred
    from permissions: root ignores them and a read-only mount doesn't show in them."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreUnavailable(f"data dir {data_dir} is not a directory: set NIJA_DATA_DIR to a directory") from None
    except OSError as exc:
        raise StoreUnavailable(f"data dir {data_dir} can't be created: {exc.strerror}") from None
    probe = data_dir / f".nija-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreUnavailable(
            f"data dir {data_dir} is not writable ({exc.strerror}): NIJA keeps its store, locks and"
            " nonces there; make it writable or set NIJA_DATA_DIR to a writable directory"
        ) from None


def store_error(path: Path, exc: sqlite3.Error) -> StoreUnavailable:
    """The one error a caller handles for a failed store operation: busy (lock held past the
    timeout) or unavailable (disk full, I/O error, read-only file, damaged page)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreBusy(f"store {path} busy: another connection held its write lock too long ({text})")
    return StoreUnavailable(f"store {path} unavailable: {text}")


def _is_store_failure(exc: BaseException) -> bool:
    """Operational failures (lock, disk, I/O) and damage, not a constraint a caller expects."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


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

    def __init__(self, path: Path, *, readonly: bool = False, fresh: bool = False, throwaway: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        # A throwaway store (the backtest's scratch file, deleted after the run, used by one
        # thread) trades durability for speed: no fsync, the rollback journal in memory, the file
        # locked once, and reads answered from a cache that every write transaction empties
        # (`_query`). Never the daemon's store: its settings above stay as they are.
        self.throwaway = throwaway
        self._reads: dict[tuple[str, tuple[Any, ...]], list[sqlite3.Row]] | None = {} if throwaway else None
        self.reads_epoch = 0  # a throwaway store's count of write transactions begun and ended (see `_tx`)
        self._local = threading.local()
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._all_lock = threading.Lock()
        if readonly and not path.exists():
            raise StoreUnavailable(f"no store at {path}")
        if readonly:
            _check_file(path)
            version = self.schema_version()
            if version != len(_MIGRATIONS):
                self.close()
                raise StoreUnavailable(
                    f"store {path} has schema {version}, this NIJA reads {len(_MIGRATIONS)}"
                    " (the daemon of this version migrates it when it starts)"
                )
        elif fresh:  # the new file `_create` builds
            self._migrate()
        elif path.exists():
            _check_intact(path)  # an existing store is never replaced: refused if damaged
            self._migrate()
        else:  # only a data dir with no store at all gets a new one
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path)
        if throwaway and not readonly:
            with self._tx() as conn:
                for statement in _THROWAWAY_INDEXES:
                    conn.execute(statement)

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
        else:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            if self.throwaway:  # see __init__: a crash may lose or damage it, which nobody reads again
                if self._all:  # its read cache would miss a second connection's writes (and serve it stale rows)
                    raise RuntimeError(f"throwaway store {self.path} serves one thread only")
                conn.execute("PRAGMA journal_mode=MEMORY")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")  # the lock is taken once, not per statement
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        # Each connection's page cache grows with the file up to this bound (SQLite's default is
        # 2 MiB); a dozen threads' caches filling as the store grows read as a leak in a long run.
        # The OS page cache keeps the file warm anyway.
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        conn.row_factory = sqlite3.Row
        with self._all_lock:
            # A thread that ended (a restarted loop, a one-off worker) leaves its connection
            # behind in its thread-local; closed here so file handles and caches never pile up.
            for thread in [t for t in self._all if not t.is_alive()]:
                with suppress(sqlite3.Error):
                    self._all.pop(thread).close()
            self._all[threading.current_thread()] = conn
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
        # A failure (lock held past the busy timeout, disk full, I/O error) rolls the whole
        # transaction back and reaches the caller as StoreBusy/StoreUnavailable: nothing
        # half-written remains, and the connection is ready for the next try.
        conn = self._conn
        self._forget_reads()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if _is_store_failure(exc) and not self.readonly:  # writing a read-only Store is a bug: raw
                raise store_error(self.path, exc) from exc
            raise
        finally:
            self._forget_reads()

    def _forget_reads(self) -> None:
        """A throwaway store's cached reads end with the write transaction after them (and any
        read made while it ran); a no-op for every other store."""
        if self._reads is not None:
            self._reads.clear()
            self.reads_epoch += 1

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        if self._reads is not None:  # a throwaway store: see __init__
            return self._cached_query(sql, tuple(params))
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise store_error(self.path, exc) from exc
            raise StoreUnavailable(f"store {self.path} unreadable: {exc}") from exc

    def _cached_query(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        """A throwaway store's read: the rows of the same read since the last write transaction
        began, else read now (one thread, so nothing else writes in between). Reads inside a write
        transaction are not kept: the transaction may change them (and empties the cache anyway)."""
        assert self._reads is not None
        key = (sql, params)
        rows = self._reads.get(key)
        if rows is None:
            conn = self._conn
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreUnavailable(f"store {self.path} unreadable: {exc}") from exc
            if not conn.in_transaction:
                self._reads[key] = rows
        return list(rows)  # a caller's own list, as an uncached read gives

    def schema_version(self) -> int:
        """Current schema version (PRAGMA user_version)."""
        return int(self._query("PRAGMA user_version")[0][0])

    def _migrate(self) -> None:
        with self._tx() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(_MIGRATIONS):
                raise StoreDamaged(_newer(self.path, version))
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
            conns, self._all = list(self._all.values()), {}
        for conn in conns:
            try:
                if not self.readonly:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            except sqlite3.Error:
                pass  # another thread's connection may be mid-use at shutdown; closing is best effort
        self._local = threading.local()


def _newer(path: Path, version: int) -> str:
    return (
        f"store {path} has schema {version}, newer than this NIJA ({len(_MIGRATIONS)}): run the NIJA that"
        f" wrote it, or {_WHAT_TO_DO}"
    )


def _check_file(path: Path) -> None:
    """Cheap checks of an existing store file: not empty, an SQLite file (status runs these)."""
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreUnavailable(f"store {path} unreadable: {exc.strerror}") from None
    if not header:
        raise StoreDamaged(f"store {path} is empty (0 bytes): {_WHAT_TO_DO}")
    if header != _SQLITE_HEADER:
        raise StoreDamaged(f"store {path} is not an SQLite database (damaged or overwritten): {_WHAT_TO_DO}")


def _check_intact(path: Path) -> None:
    """Refuse a store that is empty, truncated, corrupt (`PRAGMA quick_check`), not NIJA's or of
    a newer schema, reading it only: a refused file stays exactly as it was."""
    _check_file(path)
    if not os.access(path, os.W_OK):
        raise StoreUnavailable(f"store {path} is read-only: make it writable, or {_WHAT_TO_DO}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"store {path} can't be opened: {exc}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        if _is_store_failure(exc) and ("locked" in str(exc) or "busy" in str(exc)):
            raise store_error(path, exc) from None
        raise StoreDamaged(f"store {path} is damaged ({exc}): {_WHAT_TO_DO}") from None
    finally:
        conn.close()
    if problems != ["ok"]:
        raise StoreDamaged(f"store {path} is damaged (quick_check: {problems[0]}): {_WHAT_TO_DO}")
    if version == 0:
        raise StoreDamaged(f"store {path} holds no NIJA schema (not NIJA's, or never finished): {_WHAT_TO_DO}")
    if version > len(_MIGRATIONS):
        raise StoreDamaged(_newer(path, version))


def _create(path: Path) -> None:
    """Make a new store beside `path` and move it into place once fully migrated, so a file at
    `path` is always a complete store: a crash mid-creation leaves no half store to refuse."""
    fresh = path.with_name(path.name + ".new")
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        leftover.unlink(missing_ok=True)
    db = Database(fresh, fresh=True)
    db.close()
    os.replace(fresh, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
