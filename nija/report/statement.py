"""A follower's statement for one calendar month: the copied positions' opening and closing value,
P&L and fees, and the performance fee due on profit above the follower's high-water mark.

The mark is measured on the copied positions' cumulative P&L after trading fees (not on equity),
so a deposit or a withdrawal never moves it. It starts at 0 (no fee until the follower is in
profit), and each committed period raises it to that period's cumulative P&L when higher: it is
never lowered. A plain statement only computes; `--commit` stores the period's mark (once).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from nija.report.figures import AccountTotals, Mark, fold_fills, settle
from nija.store import FeeMark, Store

__all__ = ["FeeTerms", "Statement", "fee_terms", "mark_to_commit", "parse_period", "period_bounds", "statement"]

_PERIOD: Final = re.compile(r"(\d{4})-(\d{2})")
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)


def parse_period(text: str) -> str:
    """A period as YYYY-MM; ValueError naming the accepted form otherwise."""
    match = _PERIOD.fullmatch(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"expected a month as YYYY-MM, was {text!r}")
    return match.group(0)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a YYYY-MM period, UTC."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(frozen=True, slots=True)
class FeeTerms:
    """The performance fee of one period: the mark before, the profit above it, the fee, the mark after."""

    fee_pct: Decimal
    mark_before: Decimal
    profit_above_mark: Decimal
    fee_due: Decimal
    mark_after: Decimal


def fee_terms(cumulative_end: Decimal, earlier: Sequence[FeeMark], fee_pct: Decimal) -> FeeTerms:
    """The fee on cumulative copied-position P&L above the highest mark committed before."""
    mark_before = max([_ZERO, *(m.high_water_mark for m in earlier)])
    above = max(cumulative_end - mark_before, _ZERO)
    return FeeTerms(
        fee_pct=fee_pct, mark_before=mark_before, profit_above_mark=above, fee_due=above * fee_pct / _HUNDRED,
        mark_after=max(mark_before, cumulative_end),
    )


@dataclass(frozen=True, slots=True)
class Statement:
    """One follower's month."""

    broker: str
    user_id: str
    period: str
    start: datetime
    end: datetime
    totals: AccountTotals  # the copied positions over the month (settled at the marks)
    marks: Mapping[str, Mark]  # each symbol held at the end, and its mark
    fee_pct: Decimal | None  # the follower file's performance_fee_pct; None: no fee agreed
    terms: FeeTerms  # the mark before and after this period (a fee of 0 when no fee is agreed)
    committed: FeeMark | None  # this period's stored mark, when committed


def _marks(last: Mapping[tuple[str, str], tuple[str, Decimal]]) -> dict[tuple[str, str], Mark]:
    return {key: Mark(price, "last fill", datetime.fromisoformat(ts)) for key, (ts, price) in last.items()}


def statement(store: Store, broker: str, user_id: str, period: str, fee_pct: Decimal | None) -> Statement:
    """Compute a follower's statement for `period` from the store (reads only)."""
    start, end = period_bounds(period)
    start_key, end_key = start.isoformat(), end.isoformat()
    totals = fold_fills(store.fill_tape(start_key, end_key, only=(broker, user_id)))[0]
    acct = totals.get((broker, user_id)) or AccountTotals()
    start_marks = _marks(store.last_prices(start_key, broker))
    end_marks = _marks(store.last_prices(end_key, broker))
    settle(acct, broker, start_marks, end_marks)
    marks = store.fee_marks(broker, user_id)
    committed = next((m for m in marks if m.period == period), None)
    earlier = [m for m in marks if m.period < period]
    terms = fee_terms(acct.cumulative_end, earlier, fee_pct or _ZERO)
    held = {s: end_marks[(broker, s)] for s, b in acct.books.items() if b.qty and (broker, s) in end_marks}
    return Statement(
        broker=broker, user_id=user_id, period=period, start=start, end=end, totals=acct, marks=held,
        fee_pct=fee_pct, terms=terms, committed=committed,
    )


def mark_to_commit(stmt: Statement, now: datetime) -> FeeMark:
    """The row `--commit` stores for a statement: its cumulative P&L, the raised mark, the fee."""
    terms = stmt.terms
    return FeeMark(
        broker=stmt.broker, user_id=stmt.user_id, period=stmt.period, cumulative_pnl=stmt.totals.cumulative_end,
        high_water_mark=terms.mark_after, fee_pct=terms.fee_pct, fee_due=terms.fee_due, committed_at=now,
    )

