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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from nija.brokers.base import (
    AuthError,
    Broker,
    InsufficientFunds,
    MarketDataError,
    OrderRejected,
    TransientError,
)
from nija.logs import redact_text
from nija.models import BalanceSnapshot, HealthStatus, Order, Side, TradeSignal, utc_now
from nija.trading.health import HealthTracker

__all__ = ["BOOK_REFRESH_SECONDS", "BOOK_STALE_SECONDS", "CachedBalance", "Follower"]

BOOK_REFRESH_SECONDS: Final = 60.0  # background refresh period of a user's cached balance
BOOK_STALE_SECONDS: Final = 900.0  # older than this, an entry reads the balance inline first
_ZERO: Final = Decimal(0)
T = TypeVar("T")


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

    def after_fill(self, order: Order) -> None:
        """Move cash and equity by an order's settled fill: a buy spends cost + fee, a sell frees
        cost - fee; equity changes only by the fee (the asset is valued at the fill price)."""
        if order.filled_qty <= 0 or order.avg_price is None:
            return
        cost = order.filled_qty * order.avg_price
        if order.request.side is Side.BUY:
            self.available = max(self.available - cost - order.fee, _ZERO)
        else:
            self.available += cost - order.fee
        self.equity -= order.fee


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

    def call(self, fn: Callable[[], T]) -> T:
        """A call to the follower's account, its outcome recorded in the follower's health: an
        auth error fails the follower until restart, a transient or garbled answer degrades it.
        A refused order (minimum, funds) says nothing about the account's health."""
        try:
            result = fn()
        except AuthError as exc:
            self.record_error(redact_text(str(exc)), auth=True)
            raise
        except (TransientError, MarketDataError) as exc:
            self.record_error(redact_text(f"{type(exc).__name__}: {exc}"))
            raise
        self.record_ok()
        return result

    def record_result(self, error: Exception | None) -> None:
        """Record an order send's outcome in health: a definitive refusal (minimum, funds) says
        nothing about the account; refused keys fail it; anything else degrades it."""
        if error is None:
            self.record_ok()
        elif isinstance(error, AuthError):
            self.record_error(redact_text(str(error)), auth=True)
        elif not isinstance(error, (OrderRejected, InsufficientFunds)):
            self.record_error(redact_text(f"{type(error).__name__}: {error}"))

    def read_balance(self) -> None:
        """Read the account's balance into the cache, keeping what acknowledged buys reserved."""
        with self.lock:
            self.read_tried_at = time.monotonic()  # a failing account is retried once a period, not every poll
            snapshot = self.call(self.broker.balance_snapshot)
            reserved = self.balance.reserved if self.balance is not None else _ZERO
            self.balance = CachedBalance.of(snapshot)
            self.balance.reserved = reserved

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
