"""The follower risk envelope's pure rules, on exact numbers: drawdown from the follower's own
high-water mark, the per-symbol position cap, the entry slippage guard and the circuit breaker's
transition table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nija.copytrade.envelope import (
    Breaker,
    BreakerEvent,
    BreakerState,
    RiskEnvelope,
    breaker_after,
    cap_entry_by_position,
    drawdown_breach,
    drawdown_pct,
    entry_slippage_problem,
    raised_high_water_mark,
)
from nija.models import InvalidTransition, Side

D = Decimal


# --- drawdown -------------------------------------------------------------------------------

def test_high_water_mark_only_rises_and_never_starts_from_nothing() -> None:
    assert raised_high_water_mark(None, D("1000")) == D("1000")
    assert raised_high_water_mark(D("1000"), D("1200.50")) == D("1200.50")
    assert raised_high_water_mark(D("1200.50"), D("900")) == D("1200.50")  # never lowered
    assert raised_high_water_mark(None, D("0")) is None  # an empty account sets no mark
    assert raised_high_water_mark(D("500"), D("-3")) == D("500")


def test_drawdown_is_percent_of_the_mark() -> None:
    assert drawdown_pct(D("1000"), D("750")) == D("25")
    assert drawdown_pct(D("1200"), D("900")) == D("25")
    assert drawdown_pct(D("1000"), D("1100")) == D("0")  # above the mark is no drawdown
    assert drawdown_pct(D("0"), D("10")) == D("0")


def test_drawdown_breach_only_beyond_the_limit() -> None:
    assert drawdown_breach(D("1000"), D("750"), D("25")) is None  # exactly at the limit: not a breach
    assert drawdown_breach(D("1000"), D("749.99"), D("25")) == (
        "drawdown 25.00% below the high-water mark 1000 (equity 749.99), above max_drawdown_pct 25"
    )
    assert drawdown_breach(D("800"), D("700"), D("10")) == (
        "drawdown 12.50% below the high-water mark 800 (equity 700), above max_drawdown_pct 10"
    )
    assert drawdown_breach(None, D("1"), D("10")) is None  # no mark yet: nothing to measure from
    assert drawdown_breach(D("1000"), D("0"), D("99.9")) is not None  # an emptied account breaches


# --- position cap ---------------------------------------------------------------------------

def test_position_cap_leaves_an_entry_within_room_untouched() -> None:
    # Equity 2000 at 50 %: 1000 allowed; 600 copied leaves 400 of room.
    assert cap_entry_by_position(D("400"), D("2000"), D("600"), D("50")) == (D("400"), None)
    assert cap_entry_by_position(D("150"), D("2000"), D("0"), D("10")) == (D("150"), None)


def test_position_cap_shrinks_an_entry_to_the_room_left_in_cents() -> None:
    amount, reason = cap_entry_by_position(D("500"), D("2000"), D("600"), D("50"))
    assert amount == D("400.00")
    assert reason == "capped by max_position_pct 50%: 500 -> 400.00 (copied 600 of 1000.00 allowed)"
    # 333.333... of room is rounded down to the cent, never up.
    amount, _ = cap_entry_by_position(D("1000"), D("1000"), D("0"), D("33.3333333"))
    assert amount == D("333.33")


def test_position_cap_skips_an_entry_when_the_position_is_full() -> None:
    assert cap_entry_by_position(D("50"), D("2000"), D("1000"), D("50")) == (
        D("0"), "position cap: copied position worth 1000 already at max_position_pct 50% of equity 2000 (1000.00)",
    )
    amount, reason = cap_entry_by_position(D("50"), D("2000"), D("999.995"), D("50"))
    assert (amount, reason is not None) == (D("0"), True)  # less than a cent of room is none
    amount, reason = cap_entry_by_position(D("50"), D("0"), D("0"), D("50"))
    assert amount == D("0") and reason == "position cap: no equity to size against (equity 0)"


def test_position_cap_of_100_percent_caps_nothing() -> None:
    assert cap_entry_by_position(D("5000"), D("2000"), D("1900"), D("100")) == (D("5000"), None)


# --- slippage guard -------------------------------------------------------------------------

def test_a_buy_above_the_masters_fill_by_more_than_the_limit_is_refused() -> None:
    assert entry_slippage_problem(Side.BUY, D("50000"), D("50500"), D("1")) is None  # exactly 1 %
    assert entry_slippage_problem(Side.BUY, D("50000"), D("50500.01"), D("1")) == (
        "entry price 50500.01 is 1.00% worse than the master's fill 50000, above max_entry_slippage_pct 1"
    )
    assert entry_slippage_problem(Side.BUY, D("100"), D("103"), D("2.5")) == (
        "entry price 103 is 3.00% worse than the master's fill 100, above max_entry_slippage_pct 2.5"
    )


def test_a_better_price_is_never_refused() -> None:
    assert entry_slippage_problem(Side.BUY, D("100"), D("80"), D("0")) is None
    assert entry_slippage_problem(Side.SELL, D("100"), D("120"), D("0")) is None


def test_a_sell_entry_is_worse_when_lower() -> None:
    assert entry_slippage_problem(Side.SELL, D("200"), D("196"), D("1.5")) == (
        "entry price 196 is 2.00% worse than the master's fill 200, above max_entry_slippage_pct 1.5"
    )


def test_zero_tolerance_refuses_any_worse_price_and_no_price_refuses_the_entry() -> None:
    assert entry_slippage_problem(Side.BUY, D("100"), D("100.0001"), D("0")) is not None
    assert entry_slippage_problem(Side.BUY, D("100"), D("100"), D("0")) is None
    assert entry_slippage_problem(Side.BUY, D("0"), D("100"), D("1")) == (
        "slippage guard: no price to compare (master fill 0, now 100)"
    )


# --- circuit breaker ------------------------------------------------------------------------

def _fail(breaker: Breaker, times: int, threshold: int = 3) -> Breaker:
    for n in range(times):
        breaker = breaker_after(breaker, BreakerEvent.COPY_FAILED, threshold, f"error {n + 1}")
    return breaker


def test_the_nth_failure_in_a_row_opens_the_breaker_with_the_last_reason() -> None:
    assert _fail(Breaker(), 2) == Breaker(BreakerState.CLOSED, 2)
    opened = _fail(Breaker(), 3)
    assert opened == Breaker(BreakerState.OPEN, 3, "circuit breaker open: 3 copies failed in a row (last: error 3)")
    assert opened.is_open
    again = breaker_after(opened, BreakerEvent.COPY_FAILED, 3, "exit refused")  # exits still go while open
    assert again == Breaker(BreakerState.OPEN, 4, "circuit breaker open: 4 copies failed in a row (last: exit refused)")


def test_a_success_ends_the_run_and_a_read_alone_does_not() -> None:
    two = _fail(Breaker(), 2)
    assert breaker_after(two, BreakerEvent.READ_OK, 3) == two  # a read is not a copy
    assert breaker_after(two, BreakerEvent.COPY_OK, 3) == Breaker()
    assert _fail(breaker_after(two, BreakerEvent.COPY_OK, 3), 2) == Breaker(BreakerState.CLOSED, 2)


@pytest.mark.parametrize("event", [BreakerEvent.READ_OK, BreakerEvent.COPY_OK, BreakerEvent.RESET])
def test_an_open_breaker_closes_when_the_account_reads_healthy_or_is_reset(event: BreakerEvent) -> None:
    assert breaker_after(_fail(Breaker(), 3), event, 3) == Breaker()


def test_a_threshold_of_one_opens_at_the_first_failure() -> None:
    assert _fail(Breaker(), 1, threshold=1).is_open


def test_the_breaker_restores_from_its_stored_columns() -> None:
    assert Breaker.restored(2, None) == Breaker(BreakerState.CLOSED, 2)
    assert Breaker.restored(5, "circuit breaker open: x") == Breaker(BreakerState.OPEN, 5, "circuit breaker open: x")


def test_every_state_and_event_has_a_row_and_a_missing_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from nija.copytrade import envelope

    assert set(envelope._BREAKER_NEXT) == {(s, e) for s in BreakerState for e in BreakerEvent}
    monkeypatch.delitem(envelope._BREAKER_NEXT, (BreakerState.OPEN, BreakerEvent.RESET))
    with pytest.raises(InvalidTransition, match="breaker open -> reset"):
        breaker_after(_fail(Breaker(), 3), BreakerEvent.RESET, 3)


def test_the_default_envelope_matches_the_documented_defaults() -> None:
    assert RiskEnvelope() == RiskEnvelope(D("25"), D("100"), D("1.0"), False, 5)
