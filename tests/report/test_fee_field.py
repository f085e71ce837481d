"""The follower file's `performance_fee_pct`: optional, a percent within [0, 50]."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from nija.users import UserAccount, UserProblem, load_user_file


def _load(tmp_path: Path, **extra: object) -> UserAccount | UserProblem:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"user_id": "ann", "name": "Ann", "broker": "kraken", **extra}))
    return load_user_file(path)


def test_absent_means_no_fee_and_a_percent_is_kept_exactly(tmp_path: Path) -> None:
    assert isinstance(loaded := _load(tmp_path), UserAccount) and loaded.performance_fee_pct is None
    assert isinstance(loaded := _load(tmp_path, performance_fee_pct=12.5), UserAccount)
    assert loaded.performance_fee_pct == Decimal("12.5")


@pytest.mark.parametrize("value", [51, -1, "lots"])
def test_out_of_range_is_one_problem_line_naming_the_field(tmp_path: Path, value: object) -> None:
    problem = _load(tmp_path, performance_fee_pct=value)
    assert isinstance(problem, UserProblem)
    assert "performance_fee_pct" in problem.message and "accepted: a percent within [0, 50]" in problem.message
