"""Kraken's per-key counter under a fake clock, and its use by the Kraken adapter."""

from __future__ import annotations

import pytest

from nija.brokers.ccxt.kraken_budget import KRAKEN_TIERS, KeyBudget, kraken_budget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_counter_fills_then_makes_callers_wait_by_the_decay() -> None:
    clock = FakeClock()
    budget = KeyBudget(15, 0.33, clock)
    assert [budget.reserve(1) for _ in range(15)] == [0.0] * 15
    assert budget.reserve(1) == pytest.approx(1 / 0.33)  # one over: wait for one unit to decay
    assert budget.reserve(2) == pytest.approx(3 / 0.33)  # history calls cost 2, queued behind it
    clock.now += 100
    assert budget.count == 0.0
    assert budget.reserve(1) == 0.0


def test_orders_cost_nothing_and_keys_are_separate() -> None:
    budget = KeyBudget(*KRAKEN_TIERS["pro"], clock=FakeClock())
    assert budget.reserve(0) == 0.0 and budget.count == 0.0
    assert kraken_budget("aaaa", "starter") is kraken_budget("aaaa", "starter")
    assert kraken_budget("aaaa", "starter") is not kraken_budget("bbbb", "starter")
    with pytest.raises(ValueError, match="accepted: starter, intermediate, pro"):
        kraken_budget("aaaa", "platinum")
