"""Kraken's per-API-key rate budget, modelled as the venue documents it. Never global.

Kraken gives every API key a counter: each private call adds its cost (1, or 2 for ledger and
trade-history queries), the counter decays continuously, and a call that would push it past the
tier's maximum is refused (docs.kraken.com, "Spot REST Rate Limits"):

    tier          max   decay per second
    starter        15   0.33
    intermediate   20   0.5
    pro            20   1.0

Order placement is limited separately per pair and costs nothing here. When Kraken answers
`EAPI:Rate limit exceeded` the counter is booked full (`saturate`); after `EGeneral:Temporary
lockout` the key makes no call for 15 minutes (`lock_out`), failing at once instead of queueing. `KeyBudget.reserve`
books a call and says how long to wait before sending it, so the waiting happens in the caller's
own thread (with its stop flag), holding nothing another account needs. One budget is shared by
every client of the same key in this process (holds process-wide state under a lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["KRAKEN_TIERS", "KeyBudget", "kraken_budget"]

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
        self._locked_until = float("-inf")

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

    def saturate(self) -> None:
        """Kraken said the key's counter is full (`EAPI:Rate limit exceeded`): book it full, so
        later calls wait for it to decay instead of extending the venue's count."""
        with self._lock:
            self._count = max(self._count, self.max_count)
            self._at = self._clock()

    def lock_out(self, seconds: float) -> None:
        """Kraken locked the key out (`EGeneral:Temporary lockout`): no call for `seconds`."""
        with self._lock:
            self._locked_until = max(self._locked_until, self._clock() + seconds)

    def locked_seconds(self) -> float:
        """Seconds left of a lockout (0: none); calls fail at once meanwhile, never queue."""
        with self._lock:
            return max(0.0, self._locked_until - self._clock())

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
