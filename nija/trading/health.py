"""Broker health as an explicit state machine, plus the retry backoff of failed brokers.

    starting ─ok─► healthy ─error─► degraded ─5 errors in a row─► failed ─ok─► healthy
        │             ▲  └─auth error (any state)─► failed (auth: no retry until restart)
        └─unfunded────┴──► unfunded ─funded & ok─► healthy        any ─stop─► stopped
    any but stopped ─ok while the kill switch holds─► halted ─ok after an operator resume─► healthy

`note` carries why the account is halted or makes no entries; it is replaced every cycle.

Pure: the caller passes the time; nothing here sleeps or logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from nija.models import BrokerHealth, BrokerName, HealthStatus, InvalidTransition

__all__ = ["FAILED_AFTER", "MAX_BACKOFF_SECONDS", "HealthTracker", "backoff_seconds"]

FAILED_AFTER: Final = 5  # consecutive failed cycles before a broker counts as failed
MAX_BACKOFF_SECONDS: Final = 600.0  # a failed broker is retried at least every 10 minutes
_ERROR_TEXT_LIMIT: Final = 300

S = HealthStatus
_NEXT: Final[dict[HealthStatus, frozenset[HealthStatus]]] = {
    S.STARTING: frozenset({S.HEALTHY, S.DEGRADED, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.HEALTHY: frozenset({S.HEALTHY, S.DEGRADED, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.DEGRADED: frozenset({S.HEALTHY, S.DEGRADED, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.FAILED: frozenset({S.HEALTHY, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.UNFUNDED: frozenset({S.HEALTHY, S.DEGRADED, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.HALTED: frozenset({S.HEALTHY, S.DEGRADED, S.FAILED, S.UNFUNDED, S.HALTED, S.STOPPED}),
    S.STOPPED: frozenset({S.STARTING}),
}


def backoff_seconds(consecutive_errors: int, cycle_seconds: float) -> float:
    """Wait before the next try of a failed broker: doubles per extra error, capped at 10 min."""
    extra = max(0, consecutive_errors - FAILED_AFTER)
    return min(cycle_seconds * (2.0 ** min(extra, 20)), MAX_BACKOFF_SECONDS)


class HealthTracker:
    """Owns one account's `BrokerHealth` and moves it only along the table above."""

    def __init__(self, broker: BrokerName, account: str, cycle_seconds: float) -> None:
        self.cycle_seconds = cycle_seconds
        self.current = BrokerHealth(broker=broker, account=account, status=S.STARTING)

    def _move(self, status: HealthStatus, **changes: object) -> BrokerHealth:
        if self.current.auth_failed and status is not S.STOPPED:
            raise InvalidTransition(f"{self.current.status} -> {status}: credentials were refused")
        if status not in _NEXT[self.current.status]:
            raise InvalidTransition(f"{self.current.status} -> {status}")
        self.current = self.current.model_copy(update={"status": status, **changes})
        return self.current

    def cycle_ok(self, at: datetime, funded: bool, *, halted: bool = False, note: str | None = None) -> BrokerHealth:
        """A cycle completed; `halted` while the kill switch holds, `note` says why entries stop."""
        return self._move(
            S.HALTED if halted else S.HEALTHY if funded else S.UNFUNDED,
            funded=funded,
            note=note,
            cycles_total=self.current.cycles_total + 1,
            cycles_ok=self.current.cycles_ok + 1,
            consecutive_errors=0,
            last_cycle_at=at,
            retry_at=None,
        )

    def cycle_failed(self, at: datetime, error: str, *, auth: bool = False) -> BrokerHealth:
        """A cycle ended in an error (already redacted by the caller's logger config)."""
        errors = self.current.consecutive_errors + 1
        failed = auth or errors >= FAILED_AFTER
        retry_at = None if auth or not failed else at + timedelta(seconds=backoff_seconds(errors, self.cycle_seconds))
        return self._move(
            S.FAILED if failed else S.DEGRADED,
            cycles_total=self.current.cycles_total + 1,
            consecutive_errors=errors,
            last_error=error[:_ERROR_TEXT_LIMIT],
            last_cycle_at=at,
            retry_at=retry_at,
            auth_failed=auth,
        )

    def unfunded(self, note: str | None = None) -> BrokerHealth:
        """Equity is below the funding minimum: the broker is not traded (no thread yet); `note`
        says where the user's money is when the venue holds it outside the tradable account."""
        return self._move(S.UNFUNDED, funded=False, note=note)

    def stopped(self) -> BrokerHealth:
        """The daemon is shutting down."""
        return self._move(S.STOPPED, retry_at=None)

    @property
    def can_trade(self) -> bool:
        """False once credentials were refused: that account stops until restart."""
        return not self.current.auth_failed

    def next_wait(self) -> float:
        """Seconds until the next cycle: the cycle period, or the backoff of a failed broker."""
        if self.current.status is S.FAILED:
            return backoff_seconds(self.current.consecutive_errors, self.cycle_seconds)
        return self.cycle_seconds
