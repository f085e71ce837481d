"""Walk-forward split boundaries, and a sweep ranked by its train period with the test beside it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from nija.backtest.candles import load_candle_file
from nija.backtest.engine import RunSpec
from nija.backtest.fills import FillModel
from nija.backtest.params import ParamError
from nija.backtest.sweep import parse_sweep, sweep, walk_forward_split
from nija.models import BrokerName
from tests.backtest.support import synthetic_csv


def test_split_boundaries() -> None:
    assert walk_forward_split(301, 1300, 0.7) == ((301, 1000), (1001, 1300))  # 700 train, 300 test
    assert walk_forward_split(0, 1, 0.5) == ((0, 0), (1, 1))
    assert walk_forward_split(0, 9, 0.01) == ((0, 0), (1, 9))  # at least one candle each side
    assert walk_forward_split(0, 9, 0.99) == ((0, 8), (9, 9))
    with pytest.raises(ParamError, match="between 0 and 1"):
        walk_forward_split(0, 9, 1.0)
    with pytest.raises(ParamError, match="at least 2 candles"):
        walk_forward_split(5, 5, 0.7)


def test_parse_sweep() -> None:
    assert parse_sweep(["adx_min=20,25", "emergency_loss_pct=0.01, 0.02"], "apex") == {
        "adx_min": ["20", "25"], "emergency_loss_pct": ["0.01", "0.02"],
    }
    with pytest.raises(ParamError, match="needs values"):
        parse_sweep(["adx_min="], "apex")


def test_sweep_ranks_by_train_and_tests_on_the_rest(tmp_path: Path) -> None:
    files = [load_candle_file(synthetic_csv(tmp_path, "ETH/USD", 1300))]
    spec = RunSpec(FillModel(BrokerName.KRAKEN), Decimal(1000))
    rows = sweep(files, spec, {"emergency_loss_pct": ["0.01", "0.03"]}, 0.7, workers=2)
    assert [dict(r.setting) for r in rows] in (
        [{"emergency_loss_pct": "0.01"}, {"emergency_loss_pct": "0.03"}],
        [{"emergency_loss_pct": "0.03"}, {"emergency_loss_pct": "0.01"}],
    )
    assert rows[0].train.total.return_pct >= rows[1].train.total.return_pct
    ts = files[0].candles.ts
    for row in rows:
        train, test = row.train.symbols[0].run, row.test.symbols[0].run
        # decided candles 301..1299 (after the replay's 300-candle warm-up): 699 train, 300 test
        assert int(train.ts[0]) == int(ts[301]) and int(train.ts[-1]) == int(ts[999])
        assert int(test.ts[0]) == int(ts[1000]) and int(test.ts[-1]) == int(ts[1299])
        assert all(f.ts_ms <= int(ts[999]) for f in train.fills)
        assert all(f.ts_ms >= int(ts[1000]) for f in test.fills)
