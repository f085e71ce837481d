"""A copy user's account as the engine sees it: configuration, health, and a cached balance.

The hot path of a fan-out must be one venue round trip per user (the order itself), so entries
are sized from a cached balance (`CachedBalance`) instead of reading balance and tickers first. The book
is read when the engine starts and refreshed in the background; between reads it is moved by the
user's own copy fills (`CachedBalance.after_fill`) and by quote committed to buys acknowledged but not yet
settled (`reserved`), so back-to-back signals never spend the same cash twice. NIJA expects a
dedicated key per user, so the account changes only through these orders between reads; a
deposit or withdrawal shows at the next refresh, and a buy sized on a stale high balance is
refused by the venue (insufficient funds: recorded, never retried). Exits never use the cache:
they read the holding fresh (invariant 3 and 5: a sell is sized from what is actually held).

Health reuses the broker loops' `HealthTracker`: an auth error fails the user until restart, a
transient error degrades it, five in a row fail it until the tracker's backoff has passed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from nija.brokers.base import Broker
from nija.models import BalanceSnapshot, ExecutionReport, HealthStatus, Side, TradeSignal, utc_now
from nija.trading.health import HealthTracker

__all__ = ["BOOK_REFRESH_SECONDS", "BOOK_STALE_SECONDS", "CachedBalance", "Follower"]

BOOK_REFRESH_SECONDS: Final = 60.0  # background refresh period of a user's cached balance
BOOK_STALE_SECONDS: Final = 900.0  # older than this, an entry reads the balance inline first
_ZERO: Final = Decimal(0)


@dataclass
class CachedBalance:
    """A user's equity and free cash as last read, moved by the user's own copy fills since."""

    equity: Decimal
    available: Decimal
    read_at: datetime
    reserved: Decimal = _ZERO  # quote committed to acknowledged buys whose fill is not settled yet

    @classmethod
    def of(cls, snapshot: BalanceSnapshot) -> CachedBalance:
        """A fresh book from a balance read."""
        return cls(snapshot.total_equity, snapshot.available, snapshot.taken_at)

    def free_cash(self) -> Decimal:
        """Cash a new entry may spend: what was free less what acknowledged buys committed."""
        return max(self.available - self.reserved, _ZERO)

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the balance was read."""
        return (now - self.read_at).total_seconds()

    def after_fill(self, side: Side, report: ExecutionReport) -> None:
        """Move cash and equity by one settled fill: a buy spends cost + fee, a sell frees
        cost - fee; equity changes only by the fee (the asset is valued at the fill price)."""
        if report.filled_qty <= 0 or report.avg_price is None:
            return
        cost = report.filled_qty * report.avg_price
        if side is Side.BUY:
            self.available = max(self.available - cost - report.fee, _ZERO)
        else:
            self.available += cost - report.fee
        self.equity -= report.fee


@dataclass
class Follower:
    """One user account the engine copies to: its own broker client, used by one task at a time."""

    user_id: str
    broker: Broker
    risk_multiplier: Decimal = Decimal(1)
    disabled_symbols: frozenset[str] = frozenset()
    enabled: bool = True
    copy_from_master: bool = True
    balance: CachedBalance | None = None
    health: HealthTracker = field(init=False)
    read_tried_at: float = float("-inf")  # time.monotonic() of the last balance read attempt

    def __post_init__(self) -> None:
        self.lock = threading.Lock()  # one order at a time per user account
        self.health = HealthTracker(self.broker.name, self.user_id, BOOK_REFRESH_SECONDS)
        # CcxtBroker acknowledges an order without waiting for its fill; others fill in place_order.
        self.send = getattr(self.broker, "send_order", None) or self.broker.place_order

    def configured_for(self, signal: TradeSignal) -> bool:
        """Enabled, copying, same broker as the master, symbol allowed (what the config decides)."""
        return (
            self.enabled and self.copy_from_master and self.broker.name == signal.broker
            and signal.symbol not in self.disabled_symbols
        )

    def unavailable(self, now: datetime | None = None) -> str | None:
        """Why the account must not trade now (failed health), else None."""
        current = self.health.current
        if current.auth_failed:
            return f"account failed: {current.last_error or 'credentials refused'}"
        if current.status is HealthStatus.FAILED and current.retry_at is not None and (now or utc_now()) < current.retry_at:
            return f"account failed: {current.last_error or 'repeated errors'} (retry at {current.retry_at:%H:%M:%S})"
        return None

    def record_ok(self) -> bool:
        """A call to the account succeeded; returns whether the health state changed."""
        before = self.health.current
        funded = self.balance is None or self.balance.equity > 0
        if before.auth_failed or (before.status is HealthStatus.HEALTHY and before.funded == funded):
            return False  # nothing to move: skip rebuilding the record on every order
        after = self.health.cycle_ok(utc_now(), funded)
        return after.status is not before.status or after.last_error != before.last_error

    def record_error(self, error: str, *, auth: bool = False) -> bool:
        """A call failed (already redacted); returns whether the health state changed."""
        if self.health.current.auth_failed:
            return False
        self.health.cycle_failed(utc_now(), error, auth=auth)
        return True

    def state_row(self) -> dict[str, Any]:
        """The row `python -m nija.status` shows for this user (store.save_copy_users)."""
        current = self.health.current
        return {
            "user_id": self.user_id, "broker": str(self.broker.name), "state": str(current.status),
            "enabled": self.enabled and self.copy_from_master, "last_error": current.last_error,
            "equity": self.balance.equity if self.balance is not None else None,
            "available": self.balance.available if self.balance is not None else None,
            "equity_at": self.balance.read_at if self.balance is not None else None,
        }
