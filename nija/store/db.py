"""The store's connection machinery: one SQLite connection per thread (WAL mode), short
transactions, and the versioned schema (`store.schema`) every aggregate module writes through.

Money and quantities are stored as TEXT and read back as `Decimal`, so nothing is ever rounded
through a float. No aggregate's SQL lives here, only the schema.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from nija.store.schema import MIGRATIONS, THROWAWAY_INDEXES

__all__ = [
    "DB_NAME",
    "IN_MEMORY",
    "Database",
    "StoreBusy",
    "StoreDamaged",
    "StoreMismatch",
    "StoreUnavailable",
    "check_data_dir",
    "db_path",
]

DB_NAME: Final = "nija.db"
IN_MEMORY: Final = Path(":memory:")  # a throwaway store's path for a database in memory, never a file
PAGE_CACHE_KIB: Final = 512  # per connection


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
        # A throwaway store (the backtest's, gone after the run, used by one thread) trades
        # durability for speed: no fsync, the rollback journal in memory, the file locked once,
        # and reads answered from a cache that every write transaction empties (`_query`). Never
        # the daemon's store: its settings above stay as they are. At `IN_MEMORY` (the backtest's)
        # it is no file at all: its one connection holds it, and closing it ends it.
        if path == IN_MEMORY and not throwaway:
            raise ValueError("only a throwaway store can live in memory: the daemon's store is a file")
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
            if version != len(MIGRATIONS):
                self.close()
                raise StoreUnavailable(
                    f"store {path} has schema {version}, this NIJA reads {len(MIGRATIONS)}"
                    " (the daemon of this version migrates it when it starts)"
                )
        elif fresh or path == IN_MEMORY:  # the new file `_create` builds, or a database in memory
            self._migrate()
        elif path.exists():
            _check_intact(path)  # an existing store is never replaced: refused if damaged
            self._migrate()
        else:  # only a data dir with no store at all gets a new one
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path)
        if throwaway and not readonly:
            with self._tx() as conn:
                for statement in THROWAWAY_INDEXES:
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
            if version > len(MIGRATIONS):
                raise StoreDamaged(_newer(self.path, version))
            for target, step in enumerate(MIGRATIONS[version:], start=version + 1):
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
        f"store {path} has schema {version}, newer than this NIJA ({len(MIGRATIONS)}): run the NIJA that"
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
    if version > len(MIGRATIONS):
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
