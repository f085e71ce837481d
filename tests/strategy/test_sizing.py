"""Sizing (the S0 ADX × strength table, clamp, cash cap, minimums) and entry selection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nija.strategy.apex import EntryDecision
from nija.strategy.risk import SizingDecision, position_pct, select_entries, size_master_entry

D = Decimal


@pytest.mark.parametrize(
    ("adx", "strong", "medium", "weak"),
    [
        # ADX band: base × 1.0 (≥ 4 conditions), × 0.9 (3), × 0.8 (fewer); clamped to [2 %, 10 %].
        (20.0, "0.02", "0.02", "0.02"),  # 2 % × 0.9 = 1.8 % and × 0.8 = 1.6 % clamp up to 2 %
        (24.99, "0.02", "0.02", "0.02"),
        (25.0, "0.04", "0.036", "0.032"),
        (29.9, "0.04", "0.036", "0.032"),
        (30.0, "0.06", "0.054", "0.048"),
        (39.9, "0.06", "0.054", "0.048"),
        (40.0, "0.08", "0.072", "0.064"),
        (49.9, "0.08", "0.072", "0.064"),
        (50.0, "0.10", "0.09", "0.08"),
        (99.0, "0.10", "0.09", "0.08"),
    ],
)
def test_position_pct_table(adx: float, strong: str, medium: str, weak: str) -> None:
    assert position_pct(adx, 5) == D(strong)
    assert position_pct(adx, 4) == D(strong)
    assert position_pct(adx, 3) == D(medium)
    assert position_pct(adx, 2) == D(weak)
    assert position_pct(adx, 0) == D(weak)


@pytest.mark.parametrize("adx", [0.0, 10.0, 19.99, float("nan")])
def test_position_pct_zero_below_adx_20(adx: float) -> None:
    assert position_pct(adx, 5) == 0


def test_size_from_equity_example() -> None:
    # §1.8: $10,000 at ADX 35 with 4 conditions → 6 % → $600.
    sizing = size_master_entry(D("10000"), D("10000"), 35.0, 4, D("5"), D("0.004"))
    assert sizing == SizingDecision(D("600.00"), D("0.06"), None)


def test_size_uses_equity_not_cash() -> None:
    # Equity 10,000 with 2,000 cash: 6 % of equity (600) is affordable from cash.
    sizing = size_master_entry(D("10000"), D("2000"), 35.0, 4, D("5"), D("0.004"))
    assert sizing.quote_amount == D("600.00")


def test_size_capped_by_cash_including_the_fee() -> None:
    # Wants 800 (8 % of 10,000); cash 500 with a 1 % fee pays for 500 / 1.01 = 495.049… → 495.04.
    sizing = size_master_entry(D("10000"), D("500"), 45.0, 4, D("5"), D("0.01"))
    assert sizing.quote_amount == D("495.04")
    assert sizing.pct == D("0.08")
    assert sizing.skip_reason is None
    assert sizing.quote_amount * (1 + D("0.01")) <= D("500")


def test_size_rounds_down_to_cents() -> None:
    sizing = size_master_entry(D("123.456"), D("1000"), 35.0, 4, D("1"), D("0"))  # 6 % = 7.40736
    assert sizing.quote_amount == D("7.40")


def test_below_market_minimum_is_skipped() -> None:
    sizing = size_master_entry(D("60"), D("60"), 22.0, 3, D("5"), D("0.004"))  # 2 % of 60 = 1.20
    assert sizing == SizingDecision(D("0"), D("0.02"), "below market minimum: 1.20 < 5")


def test_exactly_the_minimum_passes() -> None:
    sizing = size_master_entry(D("250"), D("250"), 22.0, 3, D("5"), D("0"))  # 2 % of 250 = 5.00
    assert sizing.quote_amount == D("5.00")
    assert sizing.skip_reason is None


@pytest.mark.parametrize("equity", ["0", "-10"])
def test_no_equity_is_skipped(equity: str) -> None:
    sizing = size_master_entry(D(equity), D("100"), 35.0, 4, D("5"), D("0.004"))
    assert sizing.quote_amount == 0
    assert sizing.skip_reason == f"no equity: {equity}"


def test_weak_adx_is_skipped() -> None:
    sizing = size_master_entry(D("10000"), D("10000"), 15.0, 5, D("5"), D("0.004"))
    assert sizing == SizingDecision(D("0"), D("0"), "ADX 15.0 below 20: no position")


def test_no_cash_is_skipped() -> None:
    sizing = size_master_entry(D("10000"), D("0"), 35.0, 4, D("0"), D("0.004"))
    assert sizing.quote_amount == 0
    assert sizing.skip_reason == "no cash available: 0"


def test_non_finite_input_is_skipped() -> None:
    sizing = size_master_entry(D("NaN"), D("100"), 35.0, 4, D("5"), D("0.004"))
    assert sizing.quote_amount == 0
    assert sizing.skip_reason is not None and sizing.skip_reason.startswith("invalid input")


def entry(score: int, met: int = 3, enter: bool = True) -> EntryDecision:
    return EntryDecision(enter, "test", score, met, 30.0, 1.0, 100.0, 99.0, 1.0)


def test_select_best_score_first_within_free_slots() -> None:
    candidates = [("AAA", entry(60)), ("BBB", entry(90)), ("CCC", entry(75)), ("DDD", entry(80))]
    chosen = select_entries(candidates, held_symbols=set(), open_positions=5, max_positions=8)
    assert [symbol for symbol, _ in chosen] == ["BBB", "DDD", "CCC"]


def test_select_skips_refusals_and_held_symbols() -> None:
    candidates = [("AAA", entry(95, enter=False)), ("BBB", entry(90)), ("CCC", entry(70))]
    chosen = select_entries(candidates, held_symbols={"BBB"}, open_positions=0, max_positions=8)
    assert [symbol for symbol, _ in chosen] == ["CCC"]


def test_select_ties_by_conditions_then_symbol() -> None:
    candidates = [("ZZZ", entry(80, 4)), ("MMM", entry(80, 3)), ("AAA", entry(80, 3)), ("QQQ", entry(80, 5))]
    chosen = select_entries(candidates, held_symbols=(), open_positions=0, max_positions=10)
    assert [symbol for symbol, _ in chosen] == ["QQQ", "ZZZ", "AAA", "MMM"]


def test_select_one_position_per_symbol() -> None:
    candidates = [("AAA", entry(70)), ("AAA", entry(85)), ("BBB", entry(60))]
    chosen = select_entries(candidates, held_symbols=(), open_positions=0, max_positions=10)
    assert [(symbol, decision.score) for symbol, decision in chosen] == [("AAA", 85), ("BBB", 60)]


@pytest.mark.parametrize(("open_positions", "max_positions", "expected"), [(8, 8, 0), (9, 8, 0), (7, 8, 1), (0, 0, 0)])
def test_select_respects_the_position_cap(open_positions: int, max_positions: int, expected: int) -> None:
    candidates = [("AAA", entry(70)), ("BBB", entry(85))]
    chosen = select_entries(candidates, held_symbols=(), open_positions=open_positions, max_positions=max_positions)
    assert len(chosen) == expected
    if expected:
        assert chosen[0][0] == "BBB"
