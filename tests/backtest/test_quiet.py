"""The held-candle skip (`backtest.quiet`): a candle judged quiet is one the daemon's loop cycle
leaves exactly as it found it, on synthetic and real candles and through a kill-switch trip; and
an account the scan cannot judge (a halt, an open order, a pending exit, ...) skips nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nija.backtest import engine
from nija.backtest.candles import load_candle_file, symbol_of
from nija.backtest.engine import RunSpec, SymbolJob, run_symbol
from nija.backtest.fills import FillModel
from nija.backtest.synthetic import synthetic_candles
from nija.models import BrokerName, Candles, HealthStatus, OrderRequest, QuantityUnit, Side
from nija.store import StrategyState
from nija.trading.pacing import RATE_PROFILES
from tests.backtest.support import crash_after
from tests.conftest import shared_candles_dir

SPEC = RunSpec(FillModel(BrokerName.KRAKEN), Decimal(1000))


def _run(candles: Candles, spec: RunSpec = SPEC, symbol: str = "ETH/USD", timeframe_ms: int = 300_000):
    return run_symbol(SymbolJob(spec, symbol, timeframe_ms, candles))


def _checking_replay(judged: list[int]) -> Callable[..., int]:
    """A `_replay` that runs the loop on every candle and, on each the scan judges quiet, checks
    the cycle wrote nothing: no order, fill, position, exit state, mark or halt (all go through
    a store write transaction, which moves `reads_epoch`)."""

    def replay(job, loop, broker, store, market, series, quiet, start, end) -> int:
        for index in range(start, end + 1):
            quiet_here = not engine._flat(store, broker) and quiet.next_loud(index, index) > index
            epoch = store.reads_epoch
            health = loop.run_cycle()
            assert health.status not in (HealthStatus.DEGRADED, HealthStatus.FAILED), health.last_error
            if quiet_here:
                judged.append(index)
                assert store.reads_epoch == epoch, f"candle {index} was judged quiet, but its cycle wrote"
        return end - start + 1

    return replay


def _real(name: str, rows: int) -> tuple[str, int, Candles]:
    path = shared_candles_dir() / name
    if not path.exists():
        pytest.skip(f"shared candles not found in {path.parent} (set NIJA_TEST_CANDLES_DIR)")
    file = load_candle_file(path)
    c = file.candles
    head = Candles(c.ts[:rows], c.open[:rows], c.high[:rows], c.low[:rows], c.close[:rows], c.volume[:rows])
    return file.symbol, file.timeframe_ms, head


def _synthetic() -> tuple[str, int, Candles]:
    return "ETH/USD", 300_000, synthetic_candles("ETH/USD", 4000)


def _crashed() -> tuple[str, int, Candles]:
    # -95 % two candles after a large entry: the kill switch trips while the position is held.
    symbol, timeframe_ms, eth = _synthetic()
    entry = next(f for f in _run(eth).fills if f.side is Side.BUY and f.qty * f.price > 60)
    return symbol, timeframe_ms, crash_after(eth, int(np.searchsorted(eth.ts, entry.ts_ms)) + 2, 0.05)


CASES = [
    pytest.param(_synthetic, id="synthetic"),
    pytest.param(_crashed, id="kill-switch-trip-while-held"),
    pytest.param(lambda: _real("ETH-BTC-5m.csv", 5000), id="real-ETH-BTC"),
    pytest.param(lambda: _real("XRP-USDT-5m.csv", 5000), id="real-XRP-USDT"),
]


@pytest.mark.parametrize("case", CASES)
def test_every_candle_judged_quiet_is_one_the_loop_leaves_unchanged(case, monkeypatch) -> None:
    symbol, timeframe_ms, candles = case()
    skipping = _run(candles, symbol=symbol, timeframe_ms=timeframe_ms)
    judged: list[int] = []
    monkeypatch.setattr(engine, "_replay", _checking_replay(judged))
    every = _run(candles, symbol=symbol, timeframe_ms=timeframe_ms)
    assert len(skipping.fills) >= 4
    assert len(judged) >= 100  # the check saw the scan at work, not an account it refused
    assert every.cycles - skipping.cycles >= len(judged)  # skipped: every quiet candle, and flat ones
    assert skipping.fills == every.fills
    assert skipping.final_equity == every.final_equity


def test_the_trip_while_held_is_a_loud_candle_and_sells() -> None:
    eth = synthetic_candles("ETH/USD", 1500)
    entry = next(f for f in _run(eth).fills if f.side is Side.BUY and f.qty * f.price > 60)
    crashed = crash_after(eth, int(np.searchsorted(eth.ts, entry.ts_ms)) + 2, 0.05)
    run = _run(crashed)
    tripped = [f for f in run.fills if f.reason.startswith("kill_switch")]
    assert len(tripped) == 1
    assert tripped[0].ts_ms == int(crashed.ts[int(np.searchsorted(eth.ts, entry.ts_ms)) + 2])  # the crash candle


def _holding_replay(perturb: Callable[..., None], seen: list[tuple[int, int]]) -> Callable[..., int]:
    """A `_replay` that cycles until a position is held and the next candle is judged quiet,
    then changes the account with `perturb` and records (candle, what the scan now answers)."""

    def replay(job, loop, broker, store, market, series, quiet, start, end) -> int:
        for index in range(start, end + 1):
            if not engine._flat(store, broker) and quiet.next_loud(index, end) > index:
                perturb(loop=loop, broker=broker, store=store)
                seen.append((index, quiet.next_loud(index, end)))
                return index - start
            loop.run_cycle()
        raise AssertionError("no held candle was judged quiet")

    return replay


def _halt(loop, broker, **_: Any) -> None:
    loop.config.switches.halt(broker.name, "halted by the test")


def _open_order(broker, store, **_: Any) -> None:
    store.insert_orders([OrderRequest(
        broker=broker.name, account=broker.account, symbol="ETH/USD", side=Side.SELL, quantity=Decimal("0.001"),
        unit=QuantityUnit.BASE, reason="test: an order still open", client_order_id="test-open-order",
    )])  # fmt: skip


def _pending_exit(broker, store, **_: Any) -> None:
    [stored] = store.strategy_states(broker.name, broker.account).values()
    store.save_strategy_state(broker.name, broker.account, "ETH/USD",
                              StrategyState(stored.state, "test-pending-exit", stored.state))  # fmt: skip


def _state_without_position(broker, store, **_: Any) -> None:
    [stored] = store.strategy_states(broker.name, broker.account).values()
    store.save_strategy_state(broker.name, broker.account, "SOL/USD", stored)


def _sold_outside(broker, monkeypatch: pytest.MonkeyPatch, **_: Any) -> None:
    held = dict(broker.holdings())
    monkeypatch.setattr(broker, "holdings", lambda: {asset: qty / 2 for asset, qty in held.items()})


@pytest.mark.parametrize(
    "perturb", [_halt, _open_order, _pending_exit, _state_without_position, _sold_outside],
    ids=["halt", "open-order", "pending-exit-state", "state-without-position", "fewer-units-than-recorded"],
)
def test_an_account_the_scan_cannot_judge_skips_nothing(perturb, monkeypatch) -> None:
    seen: list[tuple[int, int]] = []

    def with_monkeypatch(**parts: Any) -> None:
        perturb(monkeypatch=monkeypatch, **parts)

    monkeypatch.setattr(engine, "_replay", _holding_replay(with_monkeypatch, seen))
    _run(synthetic_candles("ETH/USD", 1500))
    [(index, answer)] = seen
    assert answer == index


def test_a_run_that_ends_held_is_valued_at_the_last_candle(monkeypatch) -> None:
    eth = synthetic_candles("ETH/USD", 1500)
    fills = _run(eth).fills
    # End the run a few candles after an entry, while held and quiet: the market must still
    # show the last candle, whose close the final equity is valued at.
    entry = next(f for f in fills if f.side is Side.BUY)
    after = [f for f in fills if f.ts_ms > entry.ts_ms]
    last_ms = int(eth.ts[int(np.searchsorted(eth.ts, entry.ts_ms)) + 3])
    assert not after or after[0].ts_ms > last_ms
    skipped = run_symbol(SymbolJob(SPEC, "ETH/USD", 300_000, eth, last_ms=last_ms))
    every = run_symbol(SymbolJob(replace(SPEC, every_candle=True), "ETH/USD", 300_000, eth, last_ms=last_ms))
    assert skipped.cycles < every.cycles
    assert skipped.final_equity == every.final_equity
    assert skipped.fills[-1].side is Side.BUY  # held at the end


def test_every_replayed_cycle_reads_the_account_afresh() -> None:
    # The scan asks the kill switch of every candle; the loop measures the marks only on a fresh
    # balance read. The shortest candle a file may hold must outlast the longest monitoring interval.
    shortest_ms = min(symbol_of(Path(f"ETH-USD-1{unit}.csv"))[1] for unit in "mhd")
    assert max(p.monitoring_interval_s for p in RATE_PROFILES) * 1000 < shortest_ms
