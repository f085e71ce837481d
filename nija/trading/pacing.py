"""Per-account call pacing by equity: trading policy on top of the venue's own rate budget.

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

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

__all__ = ["RATE_PROFILES", "AccountPacer", "Pace", "RateProfile", "rate_profile"]


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
