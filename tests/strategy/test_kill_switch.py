"""The kill switch's pure rules: high-water mark, the UTC day's start, and the two triggers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from nija.models import EquityMarks
from nija.strategy.risk import RiskLimits, advance_marks, kill_switch_reason

D = Decimal
DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
LIMITS = RiskLimits()  # 10 % drawdown, 5 % daily loss


def _path(equities: list[tuple[date, str]]) -> tuple[EquityMarks, str | None]:
    """Walk an equity path; return the last marks and the first trip reason."""
    marks = None
    for day, equity in equities:
        marks = advance_marks(marks, D(equity), day)
        if reason := kill_switch_reason(marks, D(equity), LIMITS):
            return marks, reason
    assert marks is not None
    return marks, None


def test_the_high_water_mark_only_rises_and_a_new_day_restarts_the_day() -> None:
    marks = advance_marks(None, D(1000), DAY1)
    assert marks == EquityMarks(D(1000), DAY1, D(1000))
    marks = advance_marks(marks, D(1100), DAY1)
    marks = advance_marks(marks, D(1050), DAY1)
    assert marks == EquityMarks(D(1100), DAY1, D(1000))
    marks = advance_marks(marks, D(1040), DAY2)
    assert marks == EquityMarks(D(1100), DAY2, D(1040))


@pytest.mark.parametrize(
    ("path", "trigger"),
    [
        # Exactly at a limit is inside it; beyond it trips.
        ([(DAY1, "1000"), (DAY1, "950")], None),
        ([(DAY1, "1000"), (DAY1, "949.99")], "daily loss 5.00%"),
        # Slow bleed over days: each day under 5 %, the drawdown from the peak trips at > 10 %.
        ([(DAY1, "1000"), (DAY1, "960"), (DAY2, "960"), (DAY2, "920"), (date(2026, 3, 3), "920"),
          (date(2026, 3, 3), "900")], None),
        ([(DAY1, "1000"), (DAY1, "960"), (DAY2, "960"), (DAY2, "920"), (date(2026, 3, 3), "920"),
          (date(2026, 3, 3), "899")], "drawdown 10.10% from high-water mark 1000.00"),
        # A gain first raises the mark: the drawdown is measured from the peak, not the start.
        ([(DAY1, "1000"), (DAY2, "1200"), (date(2026, 3, 3), "1200"), (date(2026, 3, 3), "1150"),
          (date(2026, 3, 4), "1150"), (date(2026, 3, 4), "1100"), (date(2026, 3, 5), "1100"),
          (date(2026, 3, 5), "1079")], "drawdown 10.08%"),
        # The day's gains count: up 3 % then down 4 % from the day start is a 1 % daily loss.
        ([(DAY1, "1000"), (DAY1, "1030"), (DAY1, "990")], None),
    ],
)
def test_triggers_on_constructed_equity_paths(path: list[tuple[date, str]], trigger: str | None) -> None:
    _, reason = _path(path)
    if trigger is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(trigger)


def test_reasons_name_the_setting_and_zero_equity_never_divides() -> None:
    marks = EquityMarks(D(0), DAY1, D(0))
    assert kill_switch_reason(marks, D(0), LIMITS) is None
    marks = EquityMarks(D(1000), DAY1, D(1000))
    assert "MAX_DRAWDOWN_PCT=3" in kill_switch_reason(marks, D(960), RiskLimits(D(3), D(50)))
    assert "MAX_DAILY_LOSS_PCT=2" in kill_switch_reason(marks, D(970), RiskLimits(D(50), D(2)))
