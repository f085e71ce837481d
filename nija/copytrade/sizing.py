"""Copy-trade sizing: what one user sends when the master trades (research note §3.4, §3.6, §8.4–5).

Pure: Decimal in, `CopySize` out; no I/O, no clock, no logging, no state. Bad input is a skip
reason, never an exception.

Entries (buys) are sized in QUOTE currency from equity on both sides, never cash (§3.4 used cash):
    wanted = master_quote_value × user_equity / master_equity × risk_multiplier
    amount = min(wanted, max_user_risk × user_equity, available / (1 + fee_rate)), cents, down.
The risk cap is the scale-factor cap the original lacked (§8.5: a user with 5× the master's
balance got a 5× order); the cash cap leaves room for the taker fee. An amount below
`min_position_usd` or the market's min_cost is skipped with the reason.

Exits (sells) are sized in BASE units from the user's own holding (§3.6: the original sold the
master's quantity scaled by cash, or capped it at 10 %, so users could fail to exit):
    f = min(master_sold_qty / master_position_before, 1);  quantity = f × user_holding,
    or the whole holding when f ≥ full_exit_at (0.99), so no dust is left behind.
Nothing here shrinks or blocks an exit: no entry cap, no cash check, no slippage gate. A master
position before the fill ≤ 0 (it should not happen) counts as a full exit. After rounding down to
the amount step, a partial exit under the market minimum sells the whole holding if that clears
the minimum; otherwise it is skipped as dust.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Final

from nija.models import MarketRules, QuantityUnit, round_down

__all__ = [
    "DEFAULT_FULL_EXIT_AT",
    "DEFAULT_MAX_USER_RISK",
    "DEFAULT_MIN_POSITION_USD",
    "DUST",
    "NOTHING_TO_EXIT",
    "CopySize",
    "size_copy_entry",
    "size_copy_exit",
]

DEFAULT_MAX_USER_RISK: Final = Decimal("0.10")  # §3.5 MAX_USER_RISK, now of equity and on entries only
DEFAULT_MIN_POSITION_USD: Final = Decimal("1.0")  # §3.3: quote sizes below $1.00 are dust
DEFAULT_FULL_EXIT_AT: Final = Decimal("0.99")  # master sold ≥ 99 %: sell it all rather than keep dust
NOTHING_TO_EXIT: Final = "nothing to exit"  # exit skip reason: the user holds none of the asset
DUST: Final = "below market minimum (dust)"  # exit skip reason: even the whole holding is too small

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_CENT: Final = Decimal("0.01")
_BOUND_FORMULA: Final = "formula"
_BOUND_RISK: Final = "risk cap"
_BOUND_CASH: Final = "cash cap"


@dataclass(frozen=True, slots=True)
class CopySize:
    """One user's copy of one master trade: what to send, or why nothing is sent.

    `quantity` counts `unit`: QUOTE currency for entries, BASE asset for exits. A skipped copy has
    quantity 0 and a `skip_reason`; `detail` always says how the number came out, for the ledger.
    """

    quantity: Decimal  # 0 when skipped
    unit: QuantityUnit  # QUOTE for entries, BASE for exits
    skip_reason: str | None  # None when there is something to send
    detail: str  # how it was computed

    def __post_init__(self) -> None:
        # Consumers rely on "a reason, or a positive quantity", never both and never neither.
        if self.skip_reason is None and not self.quantity > 0:
            raise ValueError(f"a copy to send needs a quantity > 0, was {self.quantity}")
        if self.skip_reason is not None and self.quantity != 0:
            raise ValueError(f"a skipped copy has quantity 0, was {self.quantity}")

    @property
    def skipped(self) -> bool:
        """True when nothing is sent for this user (the reason is in `skip_reason`)."""
        return self.skip_reason is not None


def size_copy_entry(
    *,
    master_quote_value: Decimal,
    master_equity: Decimal,
    user_equity: Decimal,
    user_available: Decimal,
    risk_multiplier: Decimal = _ONE,
    max_user_risk: Decimal = DEFAULT_MAX_USER_RISK,
    min_position_usd: Decimal = DEFAULT_MIN_POSITION_USD,
    rules: MarketRules | None = None,
    fee_rate: Decimal = _ZERO,
) -> CopySize:
    """Size a user's copy of a master buy in quote currency, scaled by equity and capped.

    The amount is rounded down to cents and never exceeds max_user_risk × user_equity nor
    user_available / (1 + fee_rate). Invalid input (master equity ≤ 0, risk_multiplier outside
    (0, 1], …) and amounts below min_position_usd or rules.min_cost give a skip with the reason.
    The market's min_amount (base) is not checked here: an entry has no price to convert with.
    """
    problem = _entry_problem(
        master_quote_value, master_equity, user_equity, user_available,
        risk_multiplier, max_user_risk, min_position_usd, fee_rate,
    )  # fmt: skip
    if problem is not None:
        return CopySize(_ZERO, QuantityUnit.QUOTE, problem, problem)
    wanted = master_quote_value * user_equity / master_equity * risk_multiplier
    risk_cap = max_user_risk * user_equity
    cash_cap = max(user_available, _ZERO) / (_ONE + fee_rate)
    amount = _cents(min(wanted, risk_cap, cash_cap))
    if wanted <= min(risk_cap, cash_cap):
        bound = _BOUND_FORMULA
    else:
        bound = _BOUND_RISK if risk_cap <= cash_cap else _BOUND_CASH
    detail = (
        f"{master_quote_value} × {user_equity}/{master_equity} × {risk_multiplier} = {_cents(wanted)}; "
        f"risk cap {max_user_risk} × {user_equity} = {_cents(risk_cap)}; "
        f"cash cap {user_available}/(1 + {fee_rate}) = {_cents(cash_cap)}; "
        f"{bound} binds: {amount} {_quote_name(rules)}"
    )
    if amount <= 0 and bound == _BOUND_CASH:
        reason = f"no cash available: available {user_available}"
    elif amount <= 0:
        reason = f"rounds to 0.00: wanted {wanted}"
    elif amount < min_position_usd:
        reason = f"below min_position_usd: {amount} < {min_position_usd}"
    elif rules is not None and amount < rules.min_cost:
        reason = f"below market minimum cost: {amount} < {rules.min_cost}"
    else:
        return CopySize(amount, QuantityUnit.QUOTE, None, detail)
    return CopySize(_ZERO, QuantityUnit.QUOTE, reason, detail)


def size_copy_exit(
    *,
    master_sold_qty: Decimal,
    master_position_before: Decimal,
    user_holding: Decimal,
    rules: MarketRules | None = None,
    price: Decimal | None = None,
    full_exit_at: Decimal = DEFAULT_FULL_EXIT_AT,
) -> CopySize:
    """Size a user's copy of a master sell in base units: the master's sold fraction of the user's holding.

    There is deliberately no cash, equity or cap parameter: nothing may shrink or block an exit.
    The quantity is rounded down to rules.amount_step (when rules are given) and always lies in
    [0, user_holding]. `price` lets the result be checked against rules.min_cost; without it only
    rules.min_amount is checked. An invalid full_exit_at (outside (0, 1]) falls back to 1.
    """
    if not master_sold_qty.is_finite() or master_sold_qty <= 0:
        reason = f"master sold quantity must be > 0, was {master_sold_qty}"
        return CopySize(_ZERO, QuantityUnit.BASE, reason, reason)
    if not user_holding.is_finite():
        reason = f"user holding must be a number, was {user_holding}"
        return CopySize(_ZERO, QuantityUnit.BASE, reason, reason)
    if user_holding <= 0:
        return CopySize(_ZERO, QuantityUnit.BASE, NOTHING_TO_EXIT, f"user holds {user_holding}")
    notes: list[str] = []
    if not (full_exit_at.is_finite() and _ZERO < full_exit_at <= _ONE):
        notes.append(f"full_exit_at must be in (0, 1], was {full_exit_at}: using 1")
        full_exit_at = _ONE
    if price is not None and not (price.is_finite() and price > 0):
        notes.append(f"price must be > 0, was {price}: min_cost not checked")
        price = None
    fraction = _sold_fraction(master_sold_qty, master_position_before, notes)
    base = rules.base if rules is not None else "base"
    whole = _round_base(user_holding, rules)
    if fraction >= full_exit_at:
        quantity = whole
        notes.append(f"f {fraction:.6f} ≥ {full_exit_at}: whole holding {user_holding} → {whole} {base}")
    else:
        quantity = _round_base(fraction * user_holding, rules)
        notes.append(f"{fraction:.6f} × holding {user_holding} → {quantity} {base}")
    shortfall = _below_minimum(quantity, rules, price)
    if shortfall is None:
        return CopySize(quantity, QuantityUnit.BASE, None, "; ".join(notes))
    if quantity != whole and _below_minimum(whole, rules, price) is None:
        notes.append(f"partial exit below market minimum ({shortfall}): selling the whole holding {whole} {base}")
        return CopySize(whole, QuantityUnit.BASE, None, "; ".join(notes))
    notes.append(shortfall)
    return CopySize(_ZERO, QuantityUnit.BASE, DUST, "; ".join(notes))


def _entry_problem(
    master_quote_value: Decimal,
    master_equity: Decimal,
    user_equity: Decimal,
    user_available: Decimal,
    risk_multiplier: Decimal,
    max_user_risk: Decimal,
    min_position_usd: Decimal,
    fee_rate: Decimal,
) -> str | None:
    # First failing check wins; non-finite values go first because NaN cannot be compared.
    named = {
        "master_quote_value": master_quote_value,
        "master_equity": master_equity,
        "user_equity": user_equity,
        "user_available": user_available,
        "risk_multiplier": risk_multiplier,
        "max_user_risk": max_user_risk,
        "min_position_usd": min_position_usd,
        "fee_rate": fee_rate,
    }
    bad = [f"{name} {value}" for name, value in named.items() if not value.is_finite()]
    if bad:
        return f"invalid input, not a finite number: {', '.join(bad)}"
    if master_equity <= 0:
        return f"master equity must be > 0, was {master_equity}"
    if not _ZERO < risk_multiplier <= _ONE:
        return f"risk_multiplier must be in (0, 1], was {risk_multiplier}"
    if not _ZERO < max_user_risk <= _ONE:
        return f"max_user_risk must be in (0, 1], was {max_user_risk}"
    if master_quote_value <= 0:
        return f"master quote value must be > 0, was {master_quote_value}"
    if user_equity <= 0:
        return f"user equity must be > 0, was {user_equity}"
    if fee_rate < 0:
        return f"fee_rate must be ≥ 0, was {fee_rate}"
    if min_position_usd < 0:
        return f"min_position_usd must be ≥ 0, was {min_position_usd}"
    return None


def _sold_fraction(sold: Decimal, before: Decimal, notes: list[str]) -> Decimal:
    # Never block an exit: an unknown or impossible master position means "the master sold it all".
    if not before.is_finite() or before <= 0:
        notes.append(f"master position before the fill was {before} (should not happen): treated as a full exit, f = 1")
        return _ONE
    fraction = sold / before
    if fraction > _ONE:
        notes.append(f"f = {sold}/{before} > 1: clamped to 1")
        return _ONE
    notes.append(f"f = {sold}/{before}")
    return fraction


def _below_minimum(quantity: Decimal, rules: MarketRules | None, price: Decimal | None) -> str | None:
    # Why `quantity` (base) cannot be sent, or None when it can.
    if quantity <= 0:
        return f"rounds to {quantity}"
    if rules is None:
        return None
    if quantity < rules.min_amount:
        return f"{quantity} < min_amount {rules.min_amount}"
    if price is not None and quantity * price < rules.min_cost:
        return f"cost {quantity} × {price} = {_cents(quantity * price)} < min_cost {rules.min_cost}"
    return None


def _round_base(quantity: Decimal, rules: MarketRules | None) -> Decimal:
    # Without market rules there is no precision to round to: keep the exact value.
    return round_down(quantity, rules.amount_step) if rules is not None else quantity


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_DOWN)


def _quote_name(rules: MarketRules | None) -> str:
    return rules.quote if rules is not None else "quote"
