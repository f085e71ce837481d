"""Entry sizing and selection for APEX (canonical S0 formula, research note §1.8), and the
per-broker loss kill switch.

Pure: Decimal in, Decimal out; no I/O, no clock, no state (the caller passes the day and keeps
the marks).

Size = equity × clamp(base(ADX) × strength(conditions met), 2 %, 10 %), where
  base(ADX): < 20 → 0 (no trade); [20, 25) → 2 %; [25, 30) → 4 %; [30, 40) → 6 %;
             [40, 50) → 8 %; ≥ 50 → 10 %;
  strength:  ≥ 4 conditions → 1.0; 3 → 0.9; fewer → 0.8.
Nothing multiplies the size after the clamp (S2 did, reaching 14.4 %). The base is EQUITY, not
cash (DESIGN invariant 2); cash only caps the amount, fee included. Example (§1.8): $10,000 at
ADX 35 with 4 conditions → 6 % → $600.

Kill switch (per master broker, on total equity = cash + positions marked to market):
  drawdown   = (high-water mark − equity) / high-water mark > MAX_DRAWDOWN_PCT (10 %), or
  daily loss = (day's starting equity − equity) / day's starting equity > MAX_DAILY_LOSS_PCT (5 %),
the day being the UTC day; its starting equity is the first equity seen that day. Unrealised
losses count because equity marks open positions. Either trips the broker into reduce-only.
A deposit or withdrawal scales both marks (`reweighted_marks`): moving money is not trading.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Final

from nija.models import EquityMarks
from nija.strategy.base import EntryDecision

__all__ = [
    "MAX_PCT",
    "MIN_PCT",
    "EquityMarks",
    "RiskLimits",
    "SizingDecision",
    "advance_marks",
    "kill_switch_reason",
    "position_pct",
    "reweighted_marks",
    "select_entries",
    "transfer_ratio",
    "size_master_entry",
]

_ZERO: Final = Decimal(0)
_CENT: Final = Decimal("0.01")
MIN_PCT: Final = Decimal("0.02")  # clamp floor (§1.8 S0 `min_position_pct`)
MAX_PCT: Final = Decimal("0.10")  # clamp ceiling (§1.8 S0 `max_position_pct`)
# (ADX at least, base fraction of equity), highest band first (§1.8 S0); below 20 → 0.
_ADX_BANDS: Final = (
    (50.0, Decimal("0.10")),
    (40.0, Decimal("0.08")),
    (30.0, Decimal("0.06")),
    (25.0, Decimal("0.04")),
    (20.0, Decimal("0.02")),
)
_STRONG: Final = Decimal("1.0")  # ≥ 4 of 5 entry conditions
_MEDIUM: Final = Decimal("0.9")  # exactly 3
_WEAK: Final = Decimal("0.8")  # fewer (APEX never enters on those; kept for the formula)


@dataclass(frozen=True, slots=True)
class SizingDecision:
    """Quote amount to spend on an entry; 0 with a reason when the entry is skipped."""

    quote_amount: Decimal  # quote currency, rounded down to cents; 0 when skipped
    pct: Decimal  # fraction of equity the formula asked for (before the cash cap)
    skip_reason: str | None


def position_pct(adx: float, conditions_met: int) -> Decimal:
    """Return the fraction of equity to put in an entry: base(ADX) × strength, clamped to [2 %, 10 %].

    ADX below 20 (or not a number) gives 0: no trade.
    """
    if not math.isfinite(adx):
        return _ZERO
    base = next((pct for floor, pct in _ADX_BANDS if adx >= floor), _ZERO)
    if base == 0:
        return _ZERO
    strength = _STRONG if conditions_met >= 4 else _MEDIUM if conditions_met == 3 else _WEAK
    return min(max(base * strength, MIN_PCT), MAX_PCT)


def size_master_entry(
    equity: Decimal, available: Decimal, adx: float, conditions_met: int, min_cost: Decimal, fee_rate: Decimal
) -> SizingDecision:
    """Size an entry in quote currency from total equity, capped by the cash that can pay for it.

    The cap is available / (1 + fee_rate): the taker fee comes out of the same cash. The amount is
    rounded down to cents and skipped (0, with a reason) when it is below the market's min_cost.
    """
    pct = position_pct(adx, conditions_met)
    if not all(value.is_finite() for value in (equity, available, min_cost, fee_rate)):
        return SizingDecision(_ZERO, pct, f"invalid input: equity {equity}, available {available}, fee {fee_rate}")
    if not equity > 0:
        return SizingDecision(_ZERO, pct, f"no equity: {equity}")
    if pct == 0:
        return SizingDecision(_ZERO, pct, f"ADX {adx:.1f} below 20: no position")
    wanted = equity * pct
    affordable = max(available, _ZERO) / (1 + max(fee_rate, _ZERO))
    amount = min(wanted, affordable).quantize(_CENT, rounding=ROUND_DOWN)
    if amount <= 0:
        return SizingDecision(_ZERO, pct, f"no cash available: {available}")
    if amount < min_cost:
        return SizingDecision(_ZERO, pct, f"below market minimum: {amount} < {min_cost}")
    return SizingDecision(amount, pct, None)


def select_entries(
    candidates: Sequence[tuple[str, EntryDecision]],
    held_symbols: Collection[str],
    open_positions: int,
    max_positions: int,
) -> list[tuple[str, EntryDecision]]:
    """Pick the entries to open this cycle: best score first, one position per symbol, within the cap.

    Ties on score go to more entry conditions met, then to the symbol name, so the choice is
    deterministic. A symbol listed twice counts once (its best decision).
    """
    slots = max(0, max_positions - open_positions)
    ranked = sorted(
        (item for item in candidates if item[1].enter and item[0] not in held_symbols),
        key=lambda item: (-item[1].score, -item[1].conditions_met, item[0]),
    )
    chosen: list[tuple[str, EntryDecision]] = []
    seen: set[str] = set()
    for symbol, decision in ranked:
        if len(chosen) >= slots:
            break
        if symbol not in seen:
            seen.add(symbol)
            chosen.append((symbol, decision))
    return chosen


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Loss limits of one master broker, in percent of equity (10 = 10 %)."""

    max_drawdown_pct: Decimal = Decimal(10)
    max_daily_loss_pct: Decimal = Decimal(5)


def transfer_ratio(equity: Decimal, transfer: Decimal) -> Decimal | None:
    """What a mark is multiplied by after a deposit (`transfer` > 0) or withdrawal (< 0) that left
    `equity`: equity / (equity - transfer), so a drawdown from the mark reads the same percent
    after the transfer as just before it. None when equity before it was not positive (nothing to
    scale: measure afresh)."""
    before = equity - transfer
    return equity / before if before > 0 else None


def reweighted_marks(marks: EquityMarks, equity: Decimal, transfer: Decimal) -> EquityMarks | None:
    """The kill switch's marks scaled to a transfer (`transfer_ratio`); None: measure afresh."""
    ratio = transfer_ratio(equity, transfer)
    if ratio is None:
        return None
    return EquityMarks(marks.high_water_mark * ratio, marks.day, marks.day_start_equity * ratio)


def advance_marks(marks: EquityMarks | None, equity: Decimal, today: date) -> EquityMarks:
    """Raise the high-water mark to `equity`; a new UTC day starts from `equity`."""
    if marks is None:
        return EquityMarks(equity, today, equity)
    if today != marks.day:
        return EquityMarks(max(marks.high_water_mark, equity), today, equity)
    return EquityMarks(max(marks.high_water_mark, equity), marks.day, marks.day_start_equity)


def kill_switch_reason(marks: EquityMarks, equity: Decimal, limits: RiskLimits) -> str | None:
    """Why this broker must stop trading and flatten, or None while it is within its limits."""
    checks = (
        (marks.high_water_mark, limits.max_drawdown_pct, "drawdown {loss:.2f}% from high-water mark {ref:.2f}",
         "MAX_DRAWDOWN_PCT"),
        (marks.day_start_equity, limits.max_daily_loss_pct,
         "daily loss {loss:.2f}% of the day's starting equity {ref:.2f}", "MAX_DAILY_LOSS_PCT"),
    )
    for reference, limit, what, setting in checks:
        if reference > 0 and (loss := (reference - equity) / reference * 100) > limit:
            return f"{what.format(loss=loss, ref=reference)} exceeds {setting}={limit}"
    return None
