"""The daemon's replay mode (NIJA_REPLAY_DIR, run as a subprocess) and the backtest trade the
same shared candle file identically: every fill's candle, side, quantity, price and fee."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from nija.backtest.candles import load_candle_file
from nija.backtest.engine import RunSpec, SymbolJob, run_symbol
from nija.backtest.fills import FillModel
from nija.models import BrokerName
from tests.e2e.support import eventually, reading, stop_daemon

ROWS = 1600  # 300 warm-up candles, then 1,299 decided: a few seconds of daemon cycles
SOURCE = "ETH-BTC-5m.csv"


def _daemon_fills(tmp_path: Path, replay: Path, last_ms: int) -> list[tuple[int, str, Decimal, Decimal, Decimal]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(
        NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_CYCLE_SECONDS="0.001", NIJA_LOG_FORMAT="json",
        NIJA_PAPER_BROKERS="kraken", NIJA_REPLAY_DIR=str(replay), PYTHONUNBUFFERED="1",
    )
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            def clock() -> int:
                with reading(tmp_path / "data") as store:
                    try:
                        return store.paper_prices(BrokerName.KRAKEN)[1] if store is not None else 0
                    except Exception:  # noqa: BLE001 - a write in progress: the next poll reads it
                        return 0

            eventually(lambda: clock() == last_ms, 60, "the daemon's replay to reach the last candle")
        finally:
            stop_daemon(proc)
    with reading(tmp_path / "data") as store:
        assert store is not None
        fills = store.fills(BrokerName.KRAKEN, "master")
    return [(int(f.ts_exchange.timestamp() * 1000), str(f.side), f.qty, f.price, f.fee) for f in fills]


def test_daemon_replay_and_backtest_agree_trade_for_trade(tmp_path: Path) -> None:
    from tests.conftest import shared_candles_dir

    source = shared_candles_dir() / SOURCE
    if not source.exists():
        pytest.skip(f"shared candles not found in {source.parent} (set NIJA_TEST_CANDLES_DIR)")
    lines = source.read_text().splitlines()[: ROWS + 1]
    replay = tmp_path / "replay"
    replay.mkdir()
    (replay / SOURCE).write_text("\n".join(lines) + "\n")  # a prefix, in the test's temp dir only
    last_ms = int(lines[-1].split(",")[0])

    candles = load_candle_file(replay / SOURCE)
    spec = RunSpec(FillModel(BrokerName.KRAKEN), Decimal(1000))  # the daemon's paper defaults
    run = run_symbol(SymbolJob(spec, candles.symbol, candles.timeframe_ms, candles.candles))
    ours = [(f.ts_ms, str(f.side), f.qty, f.price, f.fee) for f in run.fills]

    # The daemon keeps cycling on the frozen last candle; fills before it are the comparable ones.
    theirs = [f for f in _daemon_fills(tmp_path, replay, last_ms) if f[0] < last_ms]
    assert len(ours) >= 10
    assert [f for f in ours if f[0] < last_ms] == theirs
