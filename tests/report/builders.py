"""Fixture stores for the report's tests, built through the store's own API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from nija.models import (
    BalanceSnapshot,
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    Fill,
    Side,
    TradeSignal,
    client_order_id_for,
)
from nija.store import Recording, Store, db_path

KRAKEN = BrokerName.KRAKEN
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def fill(account: str, side: str, qty: str, price: str, trade_id: str, at: datetime, *, fee: str = "0",
         fee_in_base: str = "0", symbol: str = "BTC/USD") -> Fill:
    """One fill of `account` on Kraken."""
    return Fill(
        broker=KRAKEN, account=account, symbol=symbol, side=Side(side), trade_id=trade_id,
        client_order_id=client_order_id_for("test", account, trade_id), qty=Decimal(qty), price=Decimal(price),
        fee=Decimal(fee), fee_in_base=Decimal(fee_in_base), ts_exchange=at, ts_seen=at,
    )


def new_store(data_dir: Path) -> Store:
    """A new, empty store in `data_dir`."""
    return Store(db_path(data_dir))


def record_fills(store: Store, fills: Sequence[Fill]) -> None:
    """Store fills as execution does (one recording)."""
    store.record(Recording(fills=list(fills)))


def master_fill(store: Store, f: Fill, position_before: str = "0", equity: str = "1000") -> TradeSignal:
    """Store a master fill with its copy signal, as execution does; return the signal."""
    signal = TradeSignal.from_fill(f, Decimal(equity), Decimal(position_before))
    store.record(Recording(fills=[f], signals=[signal]))
    store.record_equity(KRAKEN, f.account, BalanceSnapshot.from_parts(Decimal(equity), Decimal(0), f.ts_exchange))
    return signal


def copy(store: Store, signal: TradeSignal, user: str, f: Fill | None, *, status: CopyStatus = CopyStatus.FILLED,
         reason: str | None = None, slippage_bps: str | None = None, ack_ms: float | None = None,
         fill_ms: float | None = None, equity: str | None = None) -> None:
    """One follower's ledger row for `signal` and, when filled, its fill."""
    cid = client_order_id_for("copy", signal.signal_id, user)
    store.open_copy_rows(signal.signal_id, KRAKEN, {user: cid})
    f = f.model_copy(update={"client_order_id": cid}) if f else None  # the copy's order, as the fan-out sends it
    entry = CopyLedgerEntry(
        signal_id=signal.signal_id, user_id=user, status=status, reason=reason,
        size_filled=f.qty if f else None, price=f.price if f else None, master_price=signal.price,
        slippage_bps=None if slippage_bps is None else Decimal(slippage_bps), ack_latency_ms=ack_ms,
        fill_latency_ms=fill_ms, user_equity=None if equity is None else Decimal(equity),
    )
    store.record(Recording(fills=[f] if f else [], ledger=[entry]))
