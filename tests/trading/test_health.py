"""Health state machine: every transition, thresholds, backoff, auth stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nija.models import BrokerName, HealthStatus, InvalidTransition
from nija.trading.health import FAILED_AFTER, MAX_BACKOFF_SECONDS, HealthTracker, backoff_seconds

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = HealthStatus


def _tracker(cycle: float = 150.0) -> HealthTracker:
    return HealthTracker(BrokerName.KRAKEN, "master", cycle)


def test_ok_cycle_is_healthy_and_counted() -> None:
    t = _tracker()
    h = t.cycle_ok(T0, funded=True)
    assert (h.status, h.cycles_total, h.cycles_ok, h.success_rate, h.last_cycle_at) == (S.HEALTHY, 1, 1, 100.0, T0)


def test_one_failure_degrades_five_fail_then_one_good_cycle_heals() -> None:
    t = _tracker()
    t.cycle_ok(T0, funded=True)
    for n in range(1, FAILED_AFTER):
        h = t.cycle_failed(T0, "TransientError: timeout")
        assert h.status is S.DEGRADED and h.consecutive_errors == n
    h = t.cycle_failed(T0 + timedelta(seconds=1), "TransientError: timeout")
    assert h.status is S.FAILED
    assert h.retry_at == T0 + timedelta(seconds=1 + 150)
    assert (h.cycles_total, h.cycles_ok, h.last_error) == (6, 1, "TransientError: timeout")
    assert h.success_rate == pytest.approx(100 / 6)
    h = t.cycle_ok(T0, funded=True)
    assert (h.status, h.consecutive_errors, h.retry_at) == (S.HEALTHY, 0, None)


def test_auth_error_fails_at_once_and_stops_trading() -> None:
    t = _tracker()
    h = t.cycle_failed(T0, "AuthError: invalid key", auth=True)
    assert h.status is S.FAILED and h.auth_failed and h.retry_at is None
    assert t.can_trade is False
    with pytest.raises(InvalidTransition):
        t.cycle_ok(T0, funded=True)
    assert t.stopped().status is S.STOPPED


def test_unfunded_then_funded() -> None:
    t = _tracker()
    assert t.unfunded().status is S.UNFUNDED
    assert t.cycle_ok(T0, funded=False).status is S.UNFUNDED
    assert t.cycle_ok(T0, funded=True).status is S.HEALTHY


def test_stopped_only_restarts() -> None:
    t = _tracker()
    t.stopped()
    with pytest.raises(InvalidTransition, match="stopped -> healthy"):
        t.cycle_ok(T0, funded=True)


def test_backoff_doubles_and_is_capped_at_ten_minutes() -> None:
    assert backoff_seconds(FAILED_AFTER, 2.0) == 2.0
    assert backoff_seconds(FAILED_AFTER + 1, 2.0) == 4.0
    assert backoff_seconds(FAILED_AFTER + 3, 2.0) == 16.0
    assert backoff_seconds(FAILED_AFTER + 50, 150.0) == MAX_BACKOFF_SECONDS
    t = _tracker(2.0)
    assert t.next_wait() == 2.0
    for _ in range(FAILED_AFTER + 2):
        t.cycle_failed(T0, "x")
    assert t.next_wait() == 8.0
