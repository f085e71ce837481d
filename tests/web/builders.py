"""A store as a paper run leaves it, built through the store's own API: a Kraken master that
bought and sold BTC today with its equity snapshots and health, and three followers (alice and
bob copied every fill, carol's copy was skipped), the open positions their fills left."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final

from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    BrokerName,
    CopyLedgerEntry,
    CopyStatus,
    Fill,
    HealthStatus,
    Position,
    Side,
    TradeSignal,
    client_order_id_for,
    utc_now,
)
from nija.store import PositionChange, Recording, Store, db_path

KRAKEN: Final = BrokerName.KRAKEN
SYMBOL: Final = "BTC/USD"
FOLLOWERS: Final = {"alice": Decimal("0.1"), "bob": Decimal("0.2")}  # user -> share of the master's size
SKIPPED: Final = "carol"
CANARY: Final = "canary-secret-0123456789abcdef"  # the master's key in the server's environment
FOLLOWER_CANARY: Final = "follower-canary-fedcba9876543210"  # carol's key, beside her user file


def _fill(account: str, side: Side, qty: str, price: str, trade_id: str, at: datetime, cid: str | None = None) -> Fill:
    q, p = Decimal(qty), Decimal(price)
    return Fill(
        broker=KRAKEN, account=account, symbol=SYMBOL, side=side, trade_id=trade_id,
        client_order_id=cid or client_order_id_for("web", account, trade_id), qty=q, price=p,
        fee=(q * p * Decimal("0.0026")).quantize(Decimal("0.0001")), fee_in_base=Decimal(0), fee_currency="USD",
        ts_exchange=at, ts_seen=at,
    )


def _position(account: str, qty: Decimal, price: str, at: datetime) -> PositionChange:
    return PositionChange(KRAKEN, account, SYMBOL, Position(
        broker=KRAKEN, account=account, symbol=SYMBOL, qty=qty, entry_price=Decimal(price), opened_at=at,
    ))


def _master_trade(
    store: Store, side: Side, qty: str, price: str, n: int, at: datetime, held: Decimal, copied_at: datetime
) -> None:
    """A master fill, its signal, the followers' copies (filled at `copied_at`) and carol's skipped row."""
    fill = _fill("master", side, qty, price, f"m{n}", at)
    signal = TradeSignal.from_fill(fill, Decimal("10000"), held)
    store.record(Recording(fills=[fill], signals=[signal]))
    users = [*FOLLOWERS, SKIPPED]
    store.open_copy_rows(signal.signal_id, KRAKEN, {u: client_order_id_for("copy", signal.signal_id, u) for u in users})
    copies, ledger = [], []
    for offset, (user, share) in enumerate(FOLLOWERS.items()):
        copied = str(Decimal(qty) * share)
        price_paid = str(Decimal(price) + offset + 1)
        cid = client_order_id_for("copy", signal.signal_id, user)
        copies.append(_fill(user, side, copied, price_paid, f"{user}-{n}", copied_at, cid))
        ledger.append(CopyLedgerEntry(
            signal_id=signal.signal_id, user_id=user, status=CopyStatus.FILLED, size_filled=Decimal(copied),
            price=Decimal(price_paid), user_equity=Decimal(1000) * (offset + 1), master_price=Decimal(price),
            ack_latency_ms=120.0, fill_latency_ms=250.0 + offset, slippage_bps=Decimal(offset + 1),
        ))
    ledger.append(CopyLedgerEntry(
        signal_id=signal.signal_id, user_id=SKIPPED, status=CopyStatus.SKIPPED,
        reason=f"below minimum: 0.4 < 1 (keys {CANARY} {FOLLOWER_CANARY})",
    ))
    store.record(Recording(fills=copies, ledger=ledger))


def build_paper_store(data_dir: Path) -> None:
    """Fill a new store in `data_dir` as a paper run today would (the daemon row names this
    process, so the dashboard reads the daemon as running)."""
    store = Store(db_path(data_dir))
    (data_dir / "users").mkdir()
    (data_dir / "users" / f"{SKIPPED}.json").write_text(json.dumps({"user_id": SKIPPED, "name": "Carol",
                                                                     "broker": "kraken"}))
    now = utc_now()
    store.claim("paper", {})
    store.daemon_started(os.getpid(), "paper", 30.0, "MASTER_FOLLOW")
    # The run's last 30 minutes, squeezed into what has passed of today (UTC) just after midnight:
    # the pages' "today" figures must see every trade, whenever the test runs.
    span = min(timedelta(minutes=30), now - now.replace(hour=0, minute=0, second=0, microsecond=0))
    start = now - span

    def minute(m: float) -> datetime:
        return start + span * (m / 30)

    for i, equity in enumerate(("10000", "10020.5", "10050")):
        store.record_equity(KRAKEN, "master", BalanceSnapshot.from_parts(Decimal(equity), Decimal(0), minute(10 * i)))
    _master_trade(store, Side.BUY, "0.1", "60000", 1, minute(1), Decimal(0), minute(1 + 1 / 60))
    _master_trade(store, Side.SELL, "0.04", "61000", 2, minute(20), Decimal("0.1"), minute(20 + 1 / 60))
    store.record(Recording(positions=[
        _position("master", Decimal("0.06"), "60000", start),
        *(_position(u, Decimal("0.06") * share, "60001", start) for u, share in FOLLOWERS.items()),
    ]))
    store.save_health(BrokerHealth(broker=KRAKEN, account="master", status=HealthStatus.HEALTHY, funded=True,
                                   cycles_total=12, cycles_ok=12, last_cycle_at=now))
    store.save_copy_users([
        {"broker": KRAKEN, "user_id": u, "state": "ok", "enabled": True, "equity": str(1000 * (i + 1)),
         "available": str(900 * (i + 1)), "equity_at": now.isoformat(),
         "last_error": f"rejected once: key {CANARY}" if u == SKIPPED else None}
        for i, u in enumerate([*FOLLOWERS, SKIPPED])
    ])
    store.close()
