"""Per-API-key rate budgets, modelled as the venue documents them. Never global.

Kraken gives every API key a counter: each private call adds its cost (1, or 2 for ledger and
trade-history queries), the counter decays continuously, and a call that would push it past the
tier's maximum is refused (docs.kraken.com, "Spot REST Rate Limits"):

    tier          max   decay per second
    starter        15   0.33
    intermediate   20   0.5
    pro            20   1.0

Order placement is limited separately per pair and costs nothing here. `KeyBudget.reserve`
books a call and says how long to wait before sending it, so the waiting happens in the caller's
own thread (with its stop flag), holding nothing another account needs. One budget is shared by
every client of the same key in this process (holds process-wide state under a lock).

Rate profiles (research note §5.5) pace one account by its equity, on top of the venue's
budget: a small account has less to gain from frequent calls and more to lose from a ban.

    profile       equity         between entry orders   between balance reads
    LOW_CAPITAL   < $100         3 s                    30 s
    STANDARD      < $1,000       2 s                    10 s
    AGGRESSIVE    ≥ $1,000       1 s                     5 s

`AccountPacer` applies them per account: it says how long until a category is allowed again,
and the account's own thread decides to wait (stop-aware) or to reuse what it read last.
Exits are never paced: a stop-loss must not wait for an entry interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

__all__ = [
    "KRAKEN_TIERS",
    "RATE_PROFILES",
    "AccountPacer",
    "KeyBudget",
    "Pace",
    "RateProfile",
    "kraken_budget",
    "rate_profile",
]

KRAKEN_TIERS: Final[dict[str, tuple[float, float]]] = {
    "starter": (15.0, 0.33),
    "intermediate": (20.0, 0.5),
    "pro": (20.0, 1.0),
}


class KeyBudget:
    """A leaky counter: `reserve(cost)` returns the seconds to wait before the call fits."""

    def __init__(self, max_count: float, decay_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_count <= 0 or decay_per_second <= 0:
            raise ValueError(f"max_count and decay_per_second must be > 0, were {max_count}, {decay_per_second}")
        self.max_count = max_count
        self.decay_per_second = decay_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0.0
        self._at = clock()

    def reserve(self, cost: float) -> float:
        """Book `cost` now; return how long the caller must wait before sending (0 when it fits)."""
        if cost <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._count = max(0.0, self._count - (now - self._at) * self.decay_per_second)
            self._at = now
            self._count += cost  # booked even when it must wait: later callers queue behind it
            excess = self._count - self.max_count
            return excess / self.decay_per_second if excess > 0 else 0.0

    @property
    def count(self) -> float:
        """The counter as of now (for tests and status)."""
        with self._lock:
            return max(0.0, self._count - (self._clock() - self._at) * self.decay_per_second)


_budgets: dict[tuple[str, str], KeyBudget] = {}
_budgets_lock = threading.Lock()


def kraken_budget(key_fingerprint: str, tier: str = "starter") -> KeyBudget:
    """The process-wide budget of one Kraken API key (by fingerprint, never the key itself)."""
    if tier not in KRAKEN_TIERS:
        raise ValueError(f"unknown Kraken tier {tier!r}; accepted: {', '.join(KRAKEN_TIERS)}")
    with _budgets_lock:
        budget = _budgets.get((key_fingerprint, tier))
        if budget is None:
            budget = _budgets[(key_fingerprint, tier)] = KeyBudget(*KRAKEN_TIERS[tier])
        return budget


class Pace(StrEnum):
    """Call categories an account paces."""

    ENTRY = "entry"  # entry (buy) orders
    MONITORING = "monitoring"  # balance and holdings reads


@dataclass(frozen=True, slots=True)
class RateProfile:
    """Minimum seconds between calls of each category for accounts below `equity_below`."""

    name: str
    equity_below: Decimal | None  # None: no upper bound
    entry_interval_s: float
    monitoring_interval_s: float

    def interval(self, pace: Pace) -> float:
        return self.entry_interval_s if pace is Pace.ENTRY else self.monitoring_interval_s


RATE_PROFILES: Final = (
    RateProfile("LOW_CAPITAL", Decimal(100), 3.0, 30.0),
    RateProfile("STANDARD", Decimal(1000), 2.0, 10.0),
    RateProfile("AGGRESSIVE", None, 1.0, 5.0),
)


def rate_profile(equity: Decimal) -> RateProfile:
    """The profile for an account of `equity` (total equity, not cash)."""
    return next(p for p in RATE_PROFILES if p.equity_below is None or equity < p.equity_below)


class AccountPacer:
    """One account's minimum intervals between calls, by category; used by that account's thread only."""

    def __init__(self, profile: RateProfile = RATE_PROFILES[0], clock: Callable[[], float] = time.monotonic) -> None:
        self.profile = profile
        self._clock = clock
        self._last: dict[Pace, float] = {}

    def wait_seconds(self, pace: Pace) -> float:
        """Seconds until a call of `pace` is allowed (0: now)."""
        last = self._last.get(pace)
        if last is None:
            return 0.0
        return max(0.0, last + self.profile.interval(pace) - self._clock())

    def record(self, pace: Pace) -> None:
        """A call of `pace` was made now."""
        self._last[pace] = self._clock()

    def forget(self, pace: Pace) -> None:
        """Allow the next call of `pace` at once (what was read is known to be stale)."""
        self._last.pop(pace, None)
