"""Signals the copy engine raises itself, for one follower: close its copied positions (master
flat, drawdown breach, disabled with `on_disable: close`) or join the master's open positions
(`copy_existing: enter`). Pure: positions in, `TradeSignal`s out.

They go through the same fan-out as a master fill, so they get the same guarantees: an intent
stored before anything is sent, one client order id per attempt, exits that never expire and are
sized from the copied position (fraction 1: all of it), entries that respect every entry rule.
Their ids are deterministic in the position they act on, so raising one twice (a restart, the
next pass) puts it in the outbox once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from nija.models import (
    MASTER_ACCOUNT,
    BrokerName,
    Position,
    Side,
    SignalKind,
    TradeSignal,
    client_order_id_for,
)

__all__ = ["close_signals", "join_signals"]


def close_signals(positions: Iterable[Position], kind: SignalKind, now: datetime) -> list[TradeSignal]:
    """One signal per copied position that sells all of it (fraction 1), for that follower only."""
    return [
        TradeSignal(
            signal_id=client_order_id_for(kind, p.broker, p.account, p.symbol, p.opened_at.isoformat()),
            broker=p.broker, master_account=MASTER_ACCOUNT, symbol=p.symbol, side=Side.SELL, qty=p.qty,
            price=p.entry_price, quote_value=p.qty * p.entry_price, master_equity=Decimal(0),
            master_position_before=p.qty, fill_time=now, trade_id=str(kind), kind=kind, target_user=p.account,
        )
        for p in positions
        if p.qty > 0
    ]


def join_signals(
    broker: BrokerName, user_id: str, master_positions: Iterable[Position], held: Iterable[str],
    master_equity: Decimal, now: datetime,
) -> list[TradeSignal]:
    """An entry into each position the master holds and the follower does not (`held`: symbols
    the follower already holds a copied position of): sized like the master's own entry (its
    position's value at entry against the master's equity now), priced at the master's entry so
    the fan-out's slippage guard compares the follower's price with it."""
    have = set(held)
    return [
        TradeSignal(
            signal_id=client_order_id_for(SignalKind.JOIN, broker, user_id, p.symbol, p.opened_at.isoformat()),
            broker=broker, master_account=MASTER_ACCOUNT, symbol=p.symbol, side=Side.BUY, qty=p.qty,
            price=p.entry_price, quote_value=p.qty * p.entry_price, master_equity=master_equity,
            master_position_before=Decimal(0), fill_time=now, trade_id=str(SignalKind.JOIN), kind=SignalKind.JOIN,
            target_user=user_id,
        )
        for p in master_positions
        if p.qty > 0 and p.symbol not in have
    ]
