"""The store: SQLite in WAL mode, and the only module in NIJA that speaks SQL.

One connection per thread (`threading.local`), short transactions, versioned migrations.
Money and quantities are stored as TEXT and read back as `Decimal`, so nothing is ever rounded
through a float. An order row is written before its request is sent (`insert_order`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    EquityMarks,
    ExecutionReport,
    Fill,
    HealthStatus,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    QuantityUnit,
    Side,
    TradeSignal,
    advance_order_status,
    utc_now,
)

__all__ = ["DaemonRecord", "Store", "StoreUnavailable", "db_path"]

DB_NAME: Final = "nija.db"

# Each entry moves the schema from version i to i + 1. Never edit a shipped entry: append.
_MIGRATIONS: Final[tuple[str, ...]] = (
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
)


class StoreUnavailable(Exception):
    """The store file is missing or unreadable."""


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """The daemon's own row: who runs, since when, last heartbeat."""

    pid: int
    mode: str
    cycle_seconds: float
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    copy_mode: str | None = None


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


class Store:
    """Typed access to `nija.db`. Safe to share between threads: each gets its own connection."""

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
            for target, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
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

    # -- orders ------------------------------------------------------------------------------

    def insert_order(self, request: OrderRequest) -> Order:
        """Record the intent before it is sent. Raises `sqlite3.IntegrityError` on a reused id."""
        now = self.insert_orders([request])
        return Order(request=request, status=OrderStatus.PENDING, created_at=now, updated_at=now)

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

    def mark_order(self, client_order_id: str, status: OrderStatus, error: str | None = None) -> Order:
        """Move an order to `status` (checked against the order state machine)."""
        with self._tx() as conn:
            current = self._locked_order(conn, client_order_id)
            new = advance_order_status(current.status, status)
            conn.execute(
                "UPDATE orders SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE client_order_id = ?",
                (new, error, utc_now().isoformat(), client_order_id),
            )
        return self.get_order(client_order_id)  # type: ignore[return-value]

    def apply_execution(
        self,
        report: ExecutionReport,
        position: Position | None,
        symbol_closed: bool,
        signals: Sequence[TradeSignal] = (),
    ) -> bool:
        """Record a venue's answer for an order, its fills, the resulting position and the copy
        signals of a master's fills, atomically: a signal can never be lost between the fill and
        the outbox.

        `position` is the position after the fills (None with `symbol_closed` deletes it; None
        without leaves positions alone). Fills already stored are ignored; returns True when
        at least one new fill was stored.
        """
        now = utc_now().isoformat()
        with self._tx() as conn:
            current = self._locked_order(conn, report.client_order_id)
            status = advance_order_status(current.status, report.status)
            conn.execute(
                "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id),"
                " filled_qty = ?, avg_price = ?, fee = ?, error = COALESCE(?, error), updated_at = ?"
                " WHERE client_order_id = ?",
                (
                    status, report.exchange_order_id, str(report.filled_qty), _text(report.avg_price),
                    str(report.fee), report.error, now, report.client_order_id,
                ),
            )
            new_fills = 0
            for fill in report.fills:
                new_fills += conn.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        fill.broker, fill.account, fill.trade_id, fill.client_order_id, fill.symbol,
                        fill.side, str(fill.qty), str(fill.price), str(fill.fee), str(fill.fee_in_base),
                        fill.ts_exchange.isoformat(), fill.ts_seen.isoformat(),
                    ),
                ).rowcount
            if new_fills:
                if position is not None:
                    self._write_position(conn, position)
                elif symbol_closed:
                    conn.execute(
                        "DELETE FROM positions WHERE broker = ? AND account = ? AND symbol = ?",
                        (current.request.broker, current.request.account, current.request.symbol),
                    )
                for signal in signals:
                    conn.execute(
                        "INSERT OR IGNORE INTO signals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            signal.signal_id, signal.broker, signal.master_account, signal.symbol, signal.side,
                            str(signal.qty), str(signal.price), str(signal.quote_value), str(signal.master_equity),
                            str(signal.master_position_before), signal.fill_time.isoformat(), signal.trade_id,
                            "pending", None, now, None,
                        ),
                    )
        return new_fills > 0

    def open_copy_rows(self, signal_id: str, broker: BrokerName, rows: Mapping[str, str]) -> dict[str, str]:
        """Insert the missing (signal, user) ledger rows — all of one signal in one transaction —
        and return every user's row status. `rows` maps user id -> deterministic client order id."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO copy_orders (signal_id, user_id, broker, client_order_id, status,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                [(signal_id, user_id, broker, cid, "pending", now, now) for user_id, cid in rows.items()],
            )
            found = conn.execute("SELECT user_id, status FROM copy_orders WHERE signal_id = ?", (signal_id,)).fetchall()
        return {row["user_id"]: row["status"] for row in found}

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

    def record_copy_outcomes(self, reports: Sequence[ExecutionReport], ledger: Sequence[Mapping[str, Any]]) -> None:
        """Record many copy orders' venue answers (status, fills) and their ledger rows in ONE
        transaction: a fan-out's results cost one commit, not one per user.

        Each report moves its stored order along the order state machine (an illegal move raises
        and nothing is recorded); fills already stored are ignored. A ledger field given as None
        keeps what the row had (the size asked and the latency are written at acknowledgment,
        the fill when it settles). Copy users run no strategy: no positions are touched.
        """
        now = utc_now().isoformat()
        with self._tx() as conn:
            current = {}
            ids = [r.client_order_id for r in reports]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT client_order_id, status FROM orders WHERE client_order_id IN ({marks})", chunk
                ):
                    current[row["client_order_id"]] = OrderStatus(row["status"])
            order_rows, fill_rows = [], []
            for report in reports:
                if report.client_order_id not in current:
                    raise KeyError(f"no order with client_order_id {report.client_order_id}")
                status = advance_order_status(current[report.client_order_id], report.status)
                order_rows.append((
                    status, report.exchange_order_id, str(report.filled_qty), _text(report.avg_price),
                    str(report.fee), report.error, now, report.client_order_id,
                ))
                fill_rows.extend(
                    (
                        f.broker, f.account, f.trade_id, f.client_order_id, f.symbol, f.side, str(f.qty), str(f.price),
                        str(f.fee), str(f.fee_in_base), f.ts_exchange.isoformat(), f.ts_seen.isoformat(),
                    )
                    for f in report.fills
                )
            conn.executemany(
                "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id),"
                " filled_qty = ?, avg_price = ?, fee = ?, error = COALESCE(?, error), updated_at = ?"
                " WHERE client_order_id = ?",
                order_rows,
            )
            conn.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", fill_rows)
            fields = ("reason", "size_asked", "unit", "size_filled", "price", "fee", "latency_ms", "user_equity")
            conn.executemany(
                "UPDATE copy_orders SET status = :status, reason = COALESCE(:reason, reason),"
                " size_asked = COALESCE(:size_asked, size_asked), unit = COALESCE(:unit, unit),"
                " size_filled = COALESCE(:size_filled, size_filled), price = COALESCE(:price, price),"
                " fee = COALESCE(:fee, fee), latency_ms = COALESCE(:latency_ms, latency_ms),"
                " user_equity = COALESCE(:user_equity, user_equity), updated_at = :now"
                " WHERE signal_id = :signal_id AND user_id = :user_id",
                [
                    {**dict.fromkeys(fields), **{k: _text(v) if isinstance(v, Decimal) else v for k, v in r.items()}, "now": now}
                    for r in ledger
                ],
            )

    def copies_to_settle(self, statuses: Iterable[str] = ("sent", "unknown", "pending")) -> list[tuple[str, str, Order]]:
        """(signal id, user id, order) of every open ledger row whose order was sent (or may have
        been): the venue has, or may have, the order, so only a lookup can settle it."""
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            "SELECT c.signal_id AS copy_signal_id, c.user_id AS copy_user_id, o.* FROM copy_orders c"
            " JOIN orders o ON o.client_order_id = c.client_order_id"
            f" WHERE c.status IN ({marks}) AND o.status != ? ORDER BY c.rowid",
            (*wanted, OrderStatus.PENDING),
        )
        return [(r["copy_signal_id"], r["copy_user_id"], _order(r)) for r in rows]

    def save_copy_users(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert copy users' state (health, equity) in one transaction, for status."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO copy_users (broker, user_id, state, enabled, equity, available, equity_at,"
                " last_error, updated_at) VALUES (:broker, :user_id, :state, :enabled, :equity, :available,"
                " :equity_at, :last_error, :now)",
                [
                    {**{k: _text(v) if isinstance(v, (Decimal, datetime)) else v for k, v in r.items()},
                     "enabled": int(bool(r.get("enabled", True))), "now": now}
                    for r in rows
                ],
            )

    def copy_users(self) -> list[dict[str, Any]]:
        """Every copy user the engine has registered, by broker and user id."""
        return [dict(row) for row in self._query("SELECT * FROM copy_users ORDER BY broker, user_id")]

    def finish_signal(self, signal_id: str, status: str, reason: str | None = None) -> None:
        """Close a signal in the outbox (done, expired, skipped, rejected)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE signals SET status = ?, reason = ?, done_at = ? WHERE signal_id = ?",
                (status, reason, utc_now().isoformat(), signal_id),
            )

    def copy_rows(self, signal_id: str | None = None) -> list[dict[str, Any]]:
        """Ledger rows (for status and tests)."""
        where, params = ("WHERE signal_id = ?", (signal_id,)) if signal_id else ("", ())
        return [dict(row) for row in self._query(f"SELECT * FROM copy_orders {where} ORDER BY rowid", params)]

    def copy_summary(self, since: datetime) -> dict[str, Any]:
        """Copy-trading figures for status: pending signals, copies since `since` by status, the
        last fan-out latency, and every copy user — registered by the engine (state, equity)
        even before a first copy, or known from the ledger — with its latest ledger row."""
        pending = self._query("SELECT COUNT(*) AS n FROM signals WHERE status = 'pending'")[0]["n"]
        by_status = {
            r["status"]: r["n"]
            for r in self._query(
                "SELECT status, COUNT(*) AS n FROM copy_orders WHERE updated_at >= ? GROUP BY status", (since.isoformat(),)
            )
        }
        latency = self._query(
            "SELECT MAX(latency_ms) AS ms FROM copy_orders WHERE signal_id ="
            " (SELECT signal_id FROM copy_orders WHERE latency_ms IS NOT NULL ORDER BY updated_at DESC LIMIT 1)"
        )[0]["ms"]
        users: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.copy_users():
            users[(r["broker"], r["user_id"])] = {
                "user_id": r["user_id"], "broker": r["broker"], "state": r["state"], "enabled": bool(r["enabled"]),
                "last_copy": None, "last_reason": None, "last_copy_at": None,
                "total_equity": float(r["equity"]) if r["equity"] is not None else None,
                "available": float(r["available"]) if r["available"] is not None else None,
                "equity_at": r["equity_at"], "last_error": r["last_error"], "state_at": r["updated_at"],
            }
        for r in self._query(
            "SELECT c.user_id, c.broker, c.status, c.reason, c.updated_at,"
            " (SELECT e.user_equity FROM copy_orders e WHERE e.user_id = c.user_id AND e.user_equity IS NOT NULL"
            "  ORDER BY e.rowid DESC LIMIT 1) AS equity FROM copy_orders c"
            " JOIN (SELECT user_id, MAX(rowid) AS last FROM copy_orders GROUP BY user_id) l ON c.rowid = l.last"
        ):
            user = users.setdefault((r["broker"], r["user_id"]), {
                "user_id": r["user_id"], "broker": r["broker"], "state": None, "enabled": None,
                "total_equity": float(r["equity"]) if r["equity"] else None, "available": None,
                "equity_at": None, "last_error": None, "state_at": None,
            })
            user.update({"last_copy": r["status"], "last_reason": r["reason"], "last_copy_at": r["updated_at"]})
        return {
            "signals_pending": pending, "copies_last_hour": by_status, "last_fanout_latency_ms": latency,
            "users": [users[key] for key in sorted(users)],
        }

    def signals(self, status: str | None = None) -> list[tuple[TradeSignal, str]]:
        """Signals (with their outbox status), oldest first."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._query(f"SELECT * FROM signals {where} ORDER BY created_at, rowid", params)
        return [
            (
                TradeSignal(
                    signal_id=r["signal_id"], broker=r["broker"], master_account=r["master_account"],
                    symbol=r["symbol"], side=Side(r["side"]), qty=Decimal(r["qty"]), price=Decimal(r["price"]),
                    quote_value=Decimal(r["quote_value"]), master_equity=Decimal(r["master_equity"]),
                    master_position_before=Decimal(r["master_position_before"]),
                    fill_time=datetime.fromisoformat(r["fill_time"]), trade_id=r["trade_id"],
                ),
                r["status"],
            )
            for r in rows
        ]

    def _locked_order(self, conn: sqlite3.Connection, client_order_id: str) -> Order:
        row = conn.execute("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        if row is None:
            raise KeyError(f"no order with client_order_id {client_order_id}")
        return _order(row)

    def has_fill(self, broker: BrokerName, account: str, trade_id: str) -> bool:
        """Whether this fill was already recorded."""
        return bool(
            self._query(
                "SELECT 1 FROM fills WHERE broker = ? AND account = ? AND trade_id = ?", (broker, account, trade_id)
            )
        )

    def base_fee_recorded(self, client_order_id: str) -> Decimal:
        """Σ fee withheld in base over the fills already recorded for this order."""
        rows = self._query("SELECT fee_in_base FROM fills WHERE client_order_id = ?", (client_order_id,))
        return sum((Decimal(row["fee_in_base"]) for row in rows), Decimal(0))

    def fills(self, broker: BrokerName, account: str) -> list[Fill]:
        """Every fill of this account, oldest first."""
        rows = self._query(
            "SELECT * FROM fills WHERE broker = ? AND account = ? ORDER BY ts_seen, rowid", (broker, account)
        )
        return [
            Fill(
                broker=row["broker"], account=row["account"], symbol=row["symbol"], side=row["side"],
                trade_id=row["trade_id"], client_order_id=row["client_order_id"], qty=Decimal(row["qty"]),
                price=Decimal(row["price"]), fee=Decimal(row["fee"]), fee_in_base=Decimal(row["fee_in_base"]),
                ts_exchange=datetime.fromisoformat(row["ts_exchange"]),
                ts_seen=datetime.fromisoformat(row["ts_seen"]),
            )
            for row in rows
        ]

    # -- positions ---------------------------------------------------------------------------

    def positions(self, broker: BrokerName, account: str) -> list[Position]:
        """Open positions NIJA opened on this account."""
        rows = self._query(
            "SELECT * FROM positions WHERE broker = ? AND account = ? ORDER BY symbol", (broker, account)
        )
        return [_position(row) for row in rows]

    def save_position(self, position: Position) -> None:
        """Persist a position's exit state (stop, trailing stop, stage) between cycles."""
        with self._tx() as conn:
            self._write_position(conn, position)

    def delete_position(self, broker: BrokerName, account: str, symbol: str) -> None:
        """Forget a position (closed as unsellable dust)."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM positions WHERE broker = ? AND account = ? AND symbol = ?", (broker, account, symbol)
            )

    @staticmethod
    def _write_position(conn: sqlite3.Connection, p: Position) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO positions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                p.broker, p.account, p.symbol, str(p.qty), str(p.initial_qty), str(p.entry_price),
                str(p.stop_price), str(p.risk_per_unit), p.tp_stage, _text(p.trailing_stop),
                p.opened_at.isoformat(), utc_now().isoformat(),
            ),
        )

    # -- equity and health -------------------------------------------------------------------

    def record_equity(self, broker: BrokerName, account: str, snapshot: BalanceSnapshot) -> None:
        """Append one equity snapshot."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO equity_snapshots VALUES (?,?,?,?,?,?)",
                (
                    broker, account, str(snapshot.total_equity), str(snapshot.available),
                    str(snapshot.locked_in_positions), snapshot.taken_at.isoformat(),
                ),
            )

    def latest_equity(self, broker: BrokerName, account: str) -> BalanceSnapshot | None:
        """The newest equity snapshot of this account."""
        rows = self._query(
            "SELECT * FROM equity_snapshots WHERE broker = ? AND account = ? ORDER BY rowid DESC LIMIT 1",
            (broker, account),
        )
        if not rows:
            return None
        row = rows[0]
        return BalanceSnapshot(
            total_equity=Decimal(row["total_equity"]), available=Decimal(row["available"]),
            locked_in_positions=Decimal(row["locked_in_positions"]),
            taken_at=datetime.fromisoformat(row["taken_at"]),
        )

    def equity_history(self, broker: BrokerName, account: str) -> list[BalanceSnapshot]:
        """Every equity snapshot of this account, oldest first."""
        rows = self._query(
            "SELECT * FROM equity_snapshots WHERE broker = ? AND account = ? ORDER BY rowid", (broker, account)
        )
        return [
            BalanceSnapshot(
                total_equity=Decimal(r["total_equity"]), available=Decimal(r["available"]),
                locked_in_positions=Decimal(r["locked_in_positions"]), taken_at=datetime.fromisoformat(r["taken_at"]),
            )
            for r in rows
        ]

    def save_health(self, health: BrokerHealth) -> None:
        """Persist one account's health record (every cycle)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO broker_health VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    health.broker, health.account, health.status, int(health.funded), health.cycles_total,
                    health.cycles_ok, health.consecutive_errors, health.last_error,
                    _text(health.last_cycle_at), _text(health.retry_at), int(health.auth_failed),
                    utc_now().isoformat(), health.note,
                ),
            )

    def health(self) -> list[BrokerHealth]:
        """Every account's health record."""
        rows = self._query("SELECT * FROM broker_health ORDER BY broker, account")
        return [
            BrokerHealth(
                broker=row["broker"], account=row["account"], status=HealthStatus(row["status"]),
                funded=bool(row["funded"]), cycles_total=row["cycles_total"], cycles_ok=row["cycles_ok"],
                consecutive_errors=row["consecutive_errors"], last_error=row["last_error"],
                last_cycle_at=_ts(row["last_cycle_at"]), retry_at=_ts(row["retry_at"]),
                auth_failed=bool(row["auth_failed"]), note=row["note"],
            )
            for row in rows
        ]

    def forget_health(self, keep: Iterable[tuple[str, str]]) -> None:
        """Drop health rows of accounts no longer configured (so status shows only real ones)."""
        kept = set(keep)
        with self._tx() as conn:
            for row in conn.execute("SELECT broker, account FROM broker_health").fetchall():
                if (row["broker"], row["account"]) not in kept:
                    conn.execute(
                        "DELETE FROM broker_health WHERE broker = ? AND account = ?", (row["broker"], row["account"])
                    )

    # -- risk guardrails ----------------------------------------------------------------------

    def risk_state(self, broker: BrokerName, account: str) -> tuple[EquityMarks | None, str | None]:
        """The kill switch's watermarks of one master account (None: not measured yet) and why it
        is halted (None: trading), from one read."""
        rows = self._query("SELECT * FROM broker_risk WHERE broker = ? AND account = ?", (broker, account))
        if not rows:
            return None, None
        row = rows[0]
        marks = EquityMarks(
            high_water_mark=Decimal(row["high_water_mark"]), day=date.fromisoformat(row["day"]),
            day_start_equity=Decimal(row["day_start_equity"]),
        )
        return marks, row["halted_reason"]

    def save_risk_marks(self, broker: BrokerName, account: str, marks: EquityMarks, halted_reason: str | None) -> None:
        """Persist the watermarks and the halt reason (None: trading) of one master account."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO broker_risk VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT (broker, account) DO UPDATE SET
                     high_water_mark = excluded.high_water_mark, day = excluded.day,
                     day_start_equity = excluded.day_start_equity, halted_reason = excluded.halted_reason,
                     halted_at = CASE WHEN excluded.halted_reason IS NULL THEN NULL
                                      ELSE COALESCE(broker_risk.halted_at, excluded.halted_at) END,
                     updated_at = excluded.updated_at""",
                (
                    broker, account, _text(marks.high_water_mark), marks.day.isoformat(),
                    _text(marks.day_start_equity), halted_reason, now if halted_reason else None, now,
                ),
            )

    def forget_risk_marks(self, broker: BrokerName, account: str) -> None:
        """An operator resumed the account: measure drawdown afresh from its current equity."""
        with self._tx() as conn:
            conn.execute("DELETE FROM broker_risk WHERE broker = ? AND account = ?", (broker, account))

    def record_entry_cost(
        self, client_order_id: str, broker: BrokerName, account: str, symbol: str, round_trip: Decimal,
        cheaper: tuple[BrokerName, Decimal] | None,
    ) -> None:
        """What an entry costs in fees here, and the cheaper funded broker that listed it, if any."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO entry_costs VALUES (?,?,?,?,?,?,?,?)",
                (
                    client_order_id, broker, account, symbol, _text(round_trip),
                    cheaper[0] if cheaper else None, _text(cheaper[1]) if cheaper else None, utc_now().isoformat(),
                ),
            )

    def entry_costs(self, since: datetime) -> list[dict[str, Any]]:
        """Entries since `since`, newest first, with their fee comparison."""
        rows = self._query(
            "SELECT * FROM entry_costs WHERE entered_at >= ? ORDER BY entered_at DESC", (since.isoformat(),)
        )
        return [
            {
                "broker": r["broker"], "account": r["account"], "symbol": r["symbol"],
                "round_trip_pct": float(Decimal(r["round_trip"]) * 100), "cheaper_broker": r["cheaper_broker"],
                "cheaper_round_trip_pct": (
                    float(Decimal(r["cheaper_round_trip"]) * 100) if r["cheaper_round_trip"] is not None else None
                ),
                "entered_at": r["entered_at"],
            }
            for r in rows
        ]

    # -- daemon ------------------------------------------------------------------------------

    def daemon_started(self, pid: int, mode: str, cycle_seconds: float, copy_mode: str | None = None) -> None:
        """Record that this process now runs the daemon."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO daemon VALUES (1, ?, ?, ?, ?, ?, NULL, ?)",
                (pid, mode, cycle_seconds, now, now, copy_mode),
            )

    def heartbeat(self) -> None:
        """Prove the daemon is alive."""
        with self._tx() as conn:
            conn.execute("UPDATE daemon SET heartbeat_at = ? WHERE id = 1", (utc_now().isoformat(),))

    def daemon_stopped(self) -> None:
        """Record a clean stop."""
        with self._tx() as conn:
            conn.execute("UPDATE daemon SET stopped_at = ? WHERE id = 1", (utc_now().isoformat(),))

    def daemon(self) -> DaemonRecord | None:
        """The daemon row, if a daemon ever ran on this store."""
        rows = self._query("SELECT * FROM daemon WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return DaemonRecord(
            pid=row["pid"], mode=row["mode"], cycle_seconds=row["cycle_seconds"],
            started_at=datetime.fromisoformat(row["started_at"]),
            heartbeat_at=datetime.fromisoformat(row["heartbeat_at"]), stopped_at=_ts(row["stopped_at"]),
            copy_mode=row["copy_mode"],
        )

    # -- paper ledger (the simulated venue's own books) ---------------------------------------

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
        """Store a paper market's current prices (one row per symbol, replaced each cycle)."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO paper_prices VALUES (?,?,?,?)",
                [(broker, symbol, str(price), market_ms) for symbol, price in prices.items()],
            )

    def paper_prices(self, broker: BrokerName) -> tuple[dict[str, Decimal], int]:
        """A paper market's latest published prices and their market time (ms; 0 if none)."""
        rows = self._query("SELECT symbol, price, market_ms FROM paper_prices WHERE broker = ?", (broker,))
        return {r["symbol"]: Decimal(r["price"]) for r in rows}, max((r["market_ms"] for r in rows), default=0)

    def paper_order(self, broker: BrokerName, account: str, client_order_id: str) -> ExecutionReport | None:
        """The simulated venue's record of an order, by client order id."""
        rows = self._query(
            "SELECT report FROM paper_orders WHERE broker = ? AND account = ? AND client_order_id = ?",
            (broker, account, client_order_id),
        )
        return ExecutionReport.model_validate_json(rows[0]["report"]) if rows else None


def _order(row: sqlite3.Row) -> Order:
    request = OrderRequest(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], side=Side(row["side"]),
        quantity=Decimal(row["quantity"]), unit=QuantityUnit(row["unit"]), client_order_id=row["client_order_id"],
        reason=row["reason"], stop_price=_dec(row["stop_price"]),
    )
    return Order(
        request=request, status=OrderStatus(row["status"]), exchange_order_id=row["exchange_order_id"],
        filled_qty=Decimal(row["filled_qty"]), avg_price=_dec(row["avg_price"]), fee=Decimal(row["fee"]),
        error=row["error"], created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _position(row: sqlite3.Row) -> Position:
    return Position(
        broker=row["broker"], account=row["account"], symbol=row["symbol"], qty=Decimal(row["qty"]),
        initial_qty=Decimal(row["initial_qty"]), entry_price=Decimal(row["entry_price"]),
        stop_price=Decimal(row["stop_price"]), risk_per_unit=Decimal(row["risk_per_unit"]),
        tp_stage=row["tp_stage"], trailing_stop=_dec(row["trailing_stop"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
    )
