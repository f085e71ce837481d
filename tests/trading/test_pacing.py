"""Rate profiles by equity and the per-account pacer, under a fake clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nija.trading.pacing import AccountPacer, Pace, rate_profile


@pytest.mark.parametrize(
    ("equity", "profile", "entry_s", "monitoring_s"),
    [
        ("0", "LOW_CAPITAL", 3.0, 30.0),
        ("99.99", "LOW_CAPITAL", 3.0, 30.0),
        ("100", "STANDARD", 2.0, 10.0),
        ("999.99", "STANDARD", 2.0, 10.0),
        ("1000", "AGGRESSIVE", 1.0, 5.0),
        ("250000", "AGGRESSIVE", 1.0, 5.0),
    ],
)
def test_profile_by_equity(equity: str, profile: str, entry_s: float, monitoring_s: float) -> None:
    chosen = rate_profile(Decimal(equity))
    assert (chosen.name, chosen.entry_interval_s, chosen.monitoring_interval_s) == (profile, entry_s, monitoring_s)


def test_pacer_intervals_under_a_fake_clock() -> None:
    now = [0.0]
    pacer = AccountPacer(rate_profile(Decimal(500)), clock=lambda: now[0])  # STANDARD: 2 s / 10 s
    assert pacer.wait_seconds(Pace.ENTRY) == 0 and pacer.wait_seconds(Pace.MONITORING) == 0
    pacer.record(Pace.ENTRY)
    pacer.record(Pace.MONITORING)
    now[0] = 0.5
    assert pacer.wait_seconds(Pace.ENTRY) == pytest.approx(1.5)
    assert pacer.wait_seconds(Pace.MONITORING) == pytest.approx(9.5)
    now[0] = 2.0
    assert pacer.wait_seconds(Pace.ENTRY) == 0  # categories are paced independently
    assert pacer.wait_seconds(Pace.MONITORING) == pytest.approx(8.0)
    pacer.profile = rate_profile(Decimal(5000))  # equity grew: AGGRESSIVE, 5 s between reads
    assert pacer.wait_seconds(Pace.MONITORING) == pytest.approx(3.0)
    pacer.forget(Pace.MONITORING)
    assert pacer.wait_seconds(Pace.MONITORING) == 0


def test_pacers_are_per_account() -> None:
    now = [0.0]
    master, user = AccountPacer(clock=lambda: now[0]), AccountPacer(clock=lambda: now[0])
    master.record(Pace.ENTRY)
    assert master.wait_seconds(Pace.ENTRY) == 3.0 and user.wait_seconds(Pace.ENTRY) == 0
