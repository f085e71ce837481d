"""The engine replays through the daemon's loop: same input, same fingerprint; one changed rule or
parameter, a different one; skipping flat candles, worker processes and symbol order change
nothing; the fill model is the one stated."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from nija.backtest import engine
from nija.backtest.candles import load_candle_file
from nija.backtest.engine import RunSpec, SymbolJob, run_symbol
from nija.backtest.fills import FillModel
from nija.backtest.runner import analyse, backtest
from nija.backtest.synthetic import synthetic_candles
from nija.brokers.fees import fee_schedule
from nija.models import BrokerName, Side
from nija.trading.halt import SwitchFiles, halt_path, read_halt
from tests.backtest.support import crash_after, synthetic_csv

SPEC = RunSpec(FillModel(BrokerName.KRAKEN), Decimal(1000))


@pytest.fixture(scope="module")
def eth():
    return synthetic_candles("ETH/USD", 1500)


def _run(candles, spec: RunSpec = SPEC, symbol: str = "ETH/USD"):
    return run_symbol(SymbolJob(spec, symbol, 300_000, candles))


def test_same_input_same_fingerprint_and_it_trades(eth) -> None:
    first, second = analyse([_run(eth)], SPEC), analyse([_run(eth)], SPEC)
    assert first.total.trades >= 5
    assert first.fingerprint == second.fingerprint
    assert first.total == second.total


@pytest.mark.parametrize(
    "spec",
    [
        replace(SPEC, overrides=(("emergency_loss_pct", "0.02"),)),  # one strategy parameter
        replace(SPEC, fill=FillModel(BrokerName.KRAKEN, fee_pct=Decimal("0.1"))),  # the fee rule
        replace(SPEC, fill=FillModel(BrokerName.COINBASE)),  # another broker's fee row
    ],
)
def test_one_changed_rule_changes_the_fingerprint(eth, spec: RunSpec) -> None:
    assert analyse([_run(eth, spec)], spec).fingerprint != analyse([_run(eth)], SPEC).fingerprint


def test_skipping_flat_signal_free_candles_changes_nothing(eth) -> None:
    skipped, every = _run(eth), _run(eth, replace(SPEC, every_candle=True))
    assert skipped.cycles < every.cycles
    assert skipped.fills == every.fills
    assert skipped.final_equity == every.final_equity


def test_precomputed_indicators_change_nothing(eth) -> None:
    # The strategy's whole-series evaluation against its per-window calls, each cycle as live.
    fast, live = _run(eth), _run(eth, replace(SPEC, precomputed=False, every_candle=True))
    assert fast.fills == live.fills
    assert fast.final_equity == live.final_equity


def test_curve_ends_at_the_paper_brokers_own_equity(eth) -> None:
    run = _run(eth)
    assert analyse([run], SPEC).curve.equity[-1] == run.final_equity


def test_zero_spread_and_slippage_fill_at_the_close_with_the_fee_given(eth) -> None:
    spec = replace(SPEC, fill=FillModel(BrokerName.KRAKEN, spread_bps=Decimal(0), slippage_bps=Decimal(0), fee_pct=Decimal("0.1")))
    run = _run(eth, spec)
    closes = {int(t): c for t, c in zip(eth.ts.tolist(), eth.close.tolist(), strict=True)}
    assert run.fills
    for fill in run.fills:
        # exactly the close, at the paper venue's price precision (12 places; real files have fewer)
        assert fill.price == Decimal(str(closes[fill.ts_ms])).quantize(Decimal("1e-12"))
        assert fill.fee >= fill.qty * fill.price * Decimal("0.001")  # the paper broker rounds fees up
        assert fill.fee - fill.qty * fill.price * Decimal("0.001") < Decimal("1e-12")
    assert fee_schedule(BrokerName.KRAKEN).taker == Decimal("0.0026")  # restored after the run


def test_default_fill_model_is_the_daemons_paper_model(eth) -> None:
    run = _run(eth)
    closes = {int(t): c for t, c in zip(eth.ts.tolist(), eth.close.tolist(), strict=True)}
    for fill in run.fills:
        close = Decimal(str(closes[fill.ts_ms]))
        sign = 1 if fill.side is Side.BUY else -1
        expected = close * (1 + sign * Decimal("0.0005")) * (1 + sign * Decimal("0.0005"))  # half 10 bps, 5 bps
        assert abs(fill.price - expected) < Decimal("1e-10")
    assert "10 bps spread ± 5 bps slippage, paying 0.26% taker fee" in SPEC.fill.describe()


def test_processes_and_symbol_order_leave_the_fingerprint_unchanged(tmp_path: Path) -> None:
    paths = [synthetic_csv(tmp_path, symbol, 1200) for symbol in ("ETH/USD", "SOL/USD", "BTC/USD")]
    files = [load_candle_file(p) for p in paths]
    sequential = backtest(files, SPEC, workers=1)
    parallel = backtest(list(reversed(files)), SPEC, workers=2)
    assert sequential.total.trades > 0
    assert parallel.fingerprint == sequential.fingerprint
    assert parallel.total == sequential.total


def test_date_range_limits_the_candles_decided_on(eth) -> None:
    first, last = int(eth.ts[700]), int(eth.ts[1099])
    run = run_symbol(SymbolJob(SPEC, "ETH/USD", 300_000, eth, first, last))
    assert int(run.ts[0]) == first and int(run.ts[-1]) == last
    assert all(first <= f.ts_ms <= last for f in run.fills)


def test_a_kill_switch_trip_halts_the_rest_of_the_run_as_with_halt_files(eth, tmp_path: Path, monkeypatch) -> None:
    # The run's switches live in memory (no operator reaches a run); the halt the kill switch
    # sets there must act exactly as the HALT_ file the daemon writes and reads back.
    entry = next(f for f in _run(eth).fills if f.side is Side.BUY and f.qty * f.price > 60)  # > 6 % of equity
    crashed = crash_after(eth, int(np.searchsorted(eth.ts, entry.ts_ms)) + 2, 0.05)  # -95 %: > 5 % daily loss
    in_memory = _run(crashed)
    tripped = [f for f in in_memory.fills if f.reason.startswith("kill_switch")]
    assert len(tripped) == 1 and tripped[0].side is Side.SELL
    assert not [f for f in in_memory.fills if f.ts_ms > tripped[0].ts_ms]  # halted: no entry after it
    assert _run(crashed, replace(SPEC, every_candle=True)).fills == in_memory.fills
    monkeypatch.setattr(engine, "_ScratchSwitches", lambda: SwitchFiles(tmp_path))
    assert _run(crashed).fills == in_memory.fills
    assert read_halt(halt_path(tmp_path, BrokerName.KRAKEN)) == tripped[0].reason.removeprefix("kill_switch: flatten: ")
