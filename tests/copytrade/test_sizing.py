"""Copy-trade sizing: entries scale by equity and are capped; exits mirror the user's own holding."""

from __future__ import annotations

import inspect
import random
from dataclasses import FrozenInstanceError
from decimal import Decimal
from typing import Any

import pytest

from nija.copytrade.sizing import (
    DEFAULT_MAX_USER_RISK,
    DEFAULT_MIN_POSITION_USD,
    DUST,
    NOTHING_TO_EXIT,
    CopySize,
    size_copy_entry,
    size_copy_exit,
)
from nija.models import MarketRules, QuantityUnit

D = Decimal


def _rules(
    min_amount: str = "0", min_cost: str = "0", amount_step: str = "0.00000001", symbol: str = "BTC-USD"
) -> MarketRules:
    base, quote = symbol.split("-")
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        min_amount=D(min_amount),
        min_cost=D(min_cost),
        amount_step=D(amount_step),
        price_step=D("0.01"),
    )


def _entry(**overrides: Any) -> dict[str, Any]:
    # The seed's master: $10,000 equity buying $500; the user has $1,000 equity, all of it cash.
    args: dict[str, Any] = {
        "master_quote_value": D("500"),
        "master_equity": D("10000"),
        "user_equity": D("1000"),
        "user_available": D("1000"),
    }
    args.update(overrides)
    return args


# (id, size_copy_entry keyword arguments, expected quote amount, expected skip reason prefix or None)
ENTRY_CASES = [
    ("seed_user_1k_gets_50", _entry(), "50.00", None),
    # 500 × 50,000/10,000 = 2,500; the 10 % cap is 5,000, so it does not bind.
    ("seed_user_50k_gets_2500", _entry(user_equity=D("50000"), user_available=D("50000")), "2500.00", None),
    ("seed_20_buy_user_100_is_dust", _entry(master_quote_value=D("20"), user_equity=D("100"),
                                            user_available=D("100")), "0", "below min_position_usd: 0.20 < 1.0"),
    # master puts 30 % of its equity in: 300 wanted, 10 % of 1,000 = 100 allowed
    ("risk_cap_binds", _entry(master_quote_value=D("3000")), "100.00", None),
    ("risk_cap_custom", _entry(master_quote_value=D("3000"), max_user_risk=D("0.25")), "250.00", None),
    # 50 wanted, cash 30 with a 0.4 % taker fee: 30 / 1.004 = 29.880… → 29.88
    ("cash_cap_leaves_room_for_fee", _entry(user_available=D("30"), fee_rate=D("0.004")), "29.88", None),
    ("equity_not_cash_is_the_base", _entry(user_available=D("60")), "50.00", None),
    ("risk_multiplier_half", _entry(risk_multiplier=D("0.5")), "25.00", None),
    ("risk_multiplier_one_is_allowed", _entry(risk_multiplier=D("1")), "50.00", None),
    ("risk_multiplier_zero_rejected", _entry(risk_multiplier=D("0")), "0",
     "risk_multiplier must be in (0, 1], was 0"),
    ("risk_multiplier_1_5_rejected", _entry(risk_multiplier=D("1.5")), "0",
     "risk_multiplier must be in (0, 1], was 1.5"),
    ("risk_multiplier_negative_rejected", _entry(risk_multiplier=D("-0.5")), "0", "risk_multiplier must be in"),
    ("master_equity_zero_rejected", _entry(master_equity=D("0")), "0", "master equity must be > 0, was 0"),
    ("master_equity_negative_rejected", _entry(master_equity=D("-5")), "0", "master equity must be > 0, was -5"),
    ("master_equity_nan_rejected", _entry(master_equity=D("NaN")), "0", "invalid input"),
    ("master_quote_value_zero_rejected", _entry(master_quote_value=D("0")), "0", "master quote value must be > 0"),
    ("user_equity_zero_rejected", _entry(user_equity=D("0")), "0", "user equity must be > 0"),
    ("negative_fee_rejected", _entry(fee_rate=D("-0.001")), "0", "fee_rate must be ≥ 0"),
    ("max_user_risk_above_one_rejected", _entry(max_user_risk=D("1.5")), "0", "max_user_risk must be in (0, 1]"),
    ("no_cash_available", _entry(user_available=D("0")), "0", "no cash available"),
    ("negative_cash_is_no_cash", _entry(user_available=D("-3")), "0", "no cash available"),
    ("cash_below_min_position", _entry(user_available=D("0.50")), "0", "below min_position_usd: 0.50 < 1.0"),
    # Kraken's $10.50 minimum (§3.4): 5.00 is too small, 50.00 is fine
    ("market_min_cost_skip", _entry(master_quote_value=D("50"), rules=_rules(min_cost="10.50")), "0",
     "below market minimum cost: 5.00 < 10.50"),
    ("market_min_cost_met", _entry(rules=_rules(min_cost="10.50")), "50.00", None),
    ("min_position_custom", _entry(master_quote_value=D("50"), min_position_usd=D("10")), "0",
     "below min_position_usd: 5.00 < 10"),
    # 333.39 × 1000/10000 = 33.339 → cents rounded down
    ("quote_rounded_down_to_cents", _entry(master_quote_value=D("333.39")), "33.33", None),
]


@pytest.mark.parametrize(("kwargs", "amount", "reason"), [c[1:] for c in ENTRY_CASES], ids=[c[0] for c in ENTRY_CASES])
def test_size_copy_entry_table(kwargs: dict[str, Any], amount: str, reason: str | None) -> None:
    size = size_copy_entry(**kwargs)
    assert size.unit is QuantityUnit.QUOTE
    assert size.quantity == D(amount)
    if reason is None:
        assert size.skip_reason is None and not size.skipped
    else:
        assert size.skipped and size.skip_reason is not None
        assert size.skip_reason.startswith(reason), size.skip_reason
    assert size.detail


def test_entry_detail_shows_the_computation() -> None:
    size = size_copy_entry(**_entry())
    assert size.detail.startswith("500 × 1000/10000 × 1 = 50.00; risk cap 0.10 × 1000 = 100.00")
    assert "formula binds: 50.00" in size.detail
    capped = size_copy_entry(**_entry(master_quote_value=D("3000"), rules=_rules()))
    assert "risk cap binds: 100.00 USD" in capped.detail


def test_entry_defaults() -> None:
    assert DEFAULT_MAX_USER_RISK == D("0.10")
    assert DEFAULT_MIN_POSITION_USD == D("1.0")
    params = inspect.signature(size_copy_entry).parameters
    assert params["max_user_risk"].default == D("0.10")
    assert params["min_position_usd"].default == D("1.0")
    assert params["risk_multiplier"].default == D(1)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def _exit(**overrides: Any) -> dict[str, Any]:
    # The master held 2 BTC and sold 1 (50 %); the user holds a different amount, 0.3 BTC.
    args: dict[str, Any] = {"master_sold_qty": D("1"), "master_position_before": D("2"), "user_holding": D("0.3")}
    args.update(overrides)
    return args


# (id, size_copy_exit keyword arguments, expected base quantity, expected skip reason or None, text in detail)
EXIT_CASES = [
    ("half_of_own_holding", _exit(), "0.15", None, "f = 1/2"),
    ("half_rounded_to_step", _exit(user_holding=D("0.12345"), rules=_rules(amount_step="0.0001")), "0.0617", None,
     "0.0617 BTC"),
    ("quarter", _exit(master_sold_qty=D("0.5"), user_holding=D("0.4")), "0.1", None, "f = 0.5/2"),
    ("f_0_995_sells_all", _exit(master_sold_qty=D("0.995"), master_position_before=D("1"), user_holding=D("0.37")),
     "0.37", None, "whole holding"),
    ("f_0_99_sells_all", _exit(master_sold_qty=D("0.99"), master_position_before=D("1")), "0.3", None,
     "whole holding"),
    ("f_0_98_is_partial", _exit(master_sold_qty=D("0.98"), master_position_before=D("1"), user_holding=D("1")),
     "0.98", None, "× holding 1"),
    ("full_exit_at_custom", _exit(master_sold_qty=D("0.9"), master_position_before=D("1"), full_exit_at=D("0.9")),
     "0.3", None, "whole holding"),
    ("full_exit_at_invalid_falls_back_to_1", _exit(full_exit_at=D("0")), "0.15", None, "using 1"),
    ("user_holds_none", _exit(user_holding=D("0")), "0", NOTHING_TO_EXIT, "user holds 0"),
    ("user_holding_negative", _exit(user_holding=D("-0.1")), "0", NOTHING_TO_EXIT, "user holds -0.1"),
    ("f_above_one_clamps", _exit(master_sold_qty=D("3")), "0.3", None, "clamped to 1"),
    ("master_position_zero_full_exit", _exit(master_position_before=D("0")), "0.3", None,
     "treated as a full exit"),
    ("master_position_negative_full_exit", _exit(master_position_before=D("-1")), "0.3", None,
     "treated as a full exit"),
    ("master_position_nan_full_exit", _exit(master_position_before=D("NaN")), "0.3", None, "treated as a full exit"),
    ("master_sold_zero_is_no_exit", _exit(master_sold_qty=D("0")), "0", "master sold quantity must be > 0, was 0",
     "was 0"),
    # 1.23456789 / 3 = 0.41152263 → step 0.001 → 0.411
    ("partial_rounded_down_to_step", _exit(master_sold_qty=D("1"), master_position_before=D("3"),
                                           user_holding=D("1.23456789"), rules=_rules(amount_step="0.001")),
     "0.411", None, "0.411 BTC"),
    ("full_rounded_down_to_step", _exit(master_sold_qty=D("2"), user_holding=D("0.123456"),
                                        rules=_rules(amount_step="0.001")), "0.123", None, "0.123 BTC"),
    # 0.0003 / 2 = 0.00015 → 0.0001 < min 0.0002, so sell the whole 0.0003
    ("partial_below_min_amount_sells_all", _exit(user_holding=D("0.0003"),
                                                 rules=_rules(min_amount="0.0002", amount_step="0.0001")),
     "0.0003", None, "selling the whole holding"),
    # 5 % of 0.001 BTC at 60,000 = $3 < $5; the whole holding is worth $60
    ("partial_below_min_cost_sells_all", _exit(master_sold_qty=D("0.1"), user_holding=D("0.001"),
                                               rules=_rules(min_cost="5"), price=D("60000")),
     "0.001", None, "selling the whole holding"),
    ("full_below_min_amount_is_dust", _exit(master_sold_qty=D("2"), user_holding=D("0.00005"),
                                            rules=_rules(min_amount="0.0001")), "0", DUST, "< min_amount 0.0001"),
    ("partial_and_whole_below_min_is_dust", _exit(user_holding=D("0.00015"), rules=_rules(min_amount="0.0002")),
     "0", DUST, "< min_amount 0.0002"),
    ("full_below_min_cost_is_dust", _exit(master_sold_qty=D("2"), user_holding=D("0.00005"),
                                          rules=_rules(min_cost="5"), price=D("60000")), "0", DUST, "< min_cost 5"),
    ("holding_below_step_is_dust", _exit(master_sold_qty=D("2"), user_holding=D("0.00004"),
                                         rules=_rules(amount_step="0.0001")), "0", DUST, "rounds to 0"),
    ("no_price_checks_only_min_amount", _exit(rules=_rules(min_cost="1000")), "0.15", None, "0.15 BTC"),
    ("bad_price_checks_only_min_amount", _exit(rules=_rules(min_cost="1000"), price=D("0")), "0.15", None,
     "min_cost not checked"),
]


@pytest.mark.parametrize(
    ("kwargs", "quantity", "reason", "in_detail"), [c[1:] for c in EXIT_CASES], ids=[c[0] for c in EXIT_CASES]
)
def test_size_exit_table(kwargs: dict[str, Any], quantity: str, reason: str | None, in_detail: str) -> None:
    size = size_copy_exit(**kwargs)
    assert size.unit is QuantityUnit.BASE
    assert size.quantity == D(quantity)
    assert size.skip_reason == reason
    assert size.skipped is (reason is not None)
    assert in_detail in size.detail, size.detail


def test_exit_takes_no_cash_and_cannot_be_capped() -> None:
    # A user with zero cash still exits: the function has nothing that could block it.
    params = inspect.signature(size_copy_exit).parameters
    assert set(params) == {
        "master_sold_qty", "master_position_before", "user_holding", "rules", "price", "full_exit_at"
    }  # fmt: skip
    for word in ("cash", "available", "equity", "risk", "slippage", "cap"):
        assert not any(word in name for name in params), word
    with pytest.raises(TypeError):
        size_copy_exit(**_exit(), user_available=D("0"))  # type: ignore[call-arg]
    assert size_copy_exit(**_exit()).quantity == D("0.15")


def test_copy_size_is_frozen_and_consistent() -> None:
    size = size_copy_entry(**_entry())
    with pytest.raises(FrozenInstanceError):
        size.quantity = D("1")  # type: ignore[misc]
    with pytest.raises(ValueError):
        CopySize(D("0"), QuantityUnit.QUOTE, None, "nothing to send but no reason")
    with pytest.raises(ValueError):
        CopySize(D("1"), QuantityUnit.BASE, "skipped", "a skip with a quantity")


def _random_rules(rng: random.Random) -> MarketRules | None:
    if rng.random() < 0.3:
        return None
    return _rules(
        min_amount=rng.choice(["0", "0.0001", "0.01", "1"]),
        min_cost=rng.choice(["0", "1", "5", "10.50"]),
        amount_step=rng.choice(["0.00000001", "0.0001", "0.01", "1"]),
    )


def _amount(rng: random.Random, high: float) -> Decimal:
    return D(str(round(rng.uniform(0, high), rng.choice([0, 2, 8]))))


def test_entry_never_exceeds_risk_cap_or_cash() -> None:
    rng = random.Random(20240611)
    for _ in range(500):
        user_equity = _amount(rng, rng.choice([100, 10_000, 100_000]))
        kwargs = {
            "master_quote_value": _amount(rng, rng.choice([50, 5_000, 50_000])),
            "master_equity": _amount(rng, rng.choice([10_000, 200_000])) * rng.choice([1, 1, 1, 1, 1, 0, -1]),
            "user_equity": user_equity,
            "user_available": _amount(rng, float(user_equity) + 1),
            "risk_multiplier": D(rng.choice(["0", "0.1", "0.5", "1", "1.2"])),
            "max_user_risk": D(rng.choice(["0.05", "0.10", "0.5", "1"])),
            "fee_rate": D(rng.choice(["0", "0.001", "0.0026", "0.006"])),
            "rules": _random_rules(rng),
        }
        size = size_copy_entry(**kwargs)
        assert size.unit is QuantityUnit.QUOTE
        assert size.quantity >= 0
        assert size.quantity <= kwargs["max_user_risk"] * kwargs["user_equity"], kwargs
        assert size.quantity <= kwargs["user_available"], kwargs
        assert size.skipped is (size.quantity == 0)
        if not size.skipped:
            assert size.quantity >= DEFAULT_MIN_POSITION_USD
            assert size.quantity * (1 + kwargs["fee_rate"]) <= kwargs["user_available"]


def test_exit_stays_within_the_holding() -> None:
    rng = random.Random(20240612)
    for _ in range(500):
        before = _amount(rng, 10) * rng.choice([1, 1, 1, 1, 0, -1])
        sold = before * D(str(rng.choice([0.1, 0.25, 0.5, 0.98, 0.995, 1, 1.5]))) if before > 0 else _amount(rng, 10)
        kwargs = {
            "master_sold_qty": sold + D("0.00000001"),
            "master_position_before": before,
            "user_holding": _amount(rng, 5) - D(rng.choice([0, 0, 0, 0.5])),
            "rules": _random_rules(rng),
            "price": rng.choice([None, _amount(rng, 70_000)]),
        }
        size = size_copy_exit(**kwargs)
        assert size.unit is QuantityUnit.BASE
        assert 0 <= size.quantity <= max(kwargs["user_holding"], D(0)), kwargs
        assert size.skipped is (size.quantity == 0)
        if kwargs["user_holding"] <= 0:
            assert size.skip_reason == NOTHING_TO_EXIT
        rules = kwargs["rules"]
        if not size.skipped and rules is not None:
            assert size.quantity % rules.amount_step == 0
            assert size.quantity >= rules.min_amount
