"""The store's schema, as the steps that build it: each migration moves a store from version i to
i + 1 (`Database._migrate` applies them in order), and the indexes only a throwaway store adds.
No aggregate's SQL lives here, only the schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Final

__all__ = ["MIGRATIONS", "THROWAWAY_INDEXES"]


def _backfill_order_base_fees(conn: sqlite3.Connection) -> None:
    totals: dict[str, Decimal] = {}
    for row in conn.execute("SELECT client_order_id, fee_in_base FROM fills WHERE fee_in_base != '0'"):
        totals[row[0]] = totals.get(row[0], Decimal(0)) + Decimal(row[1])
    conn.executemany(
        "UPDATE orders SET fee_in_base = ? WHERE client_order_id = ?", [(str(v), k) for k, v in totals.items()]
    )


# Each entry moves the schema from version i to i + 1: an SQL script, or a function of the
# connection for a data step SQL cannot do exactly. Never edit a shipped entry: append.
MIGRATIONS: Final[tuple[str | Callable[[sqlite3.Connection], None], ...]] = (
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
THROWAWAY_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS scratch_orders_by_symbol ON orders (symbol, broker, account, side, created_at)",
    "CREATE INDEX IF NOT EXISTS scratch_fills_by_trade ON fills (trade_id)",
)
