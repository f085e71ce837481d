"""Paper and live never mix: a store belongs to one mode and, per live master, to one venue account.

Before issue 11, a paper run's positions, balances and high-water marks in `data/` carried into a
live run on the same data dir: the live daemon sold coins only the paper run had "bought" and the
kill switch tripped at once on the paper high-water mark. Live runs here are the real daemon with
its real ccxt client pointed at the local exchange simulator.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from nija.store import Store
from tests.e2e.support import daemon_pid, eventually, reading
from tests.sim.simulator import Simulator

ENV_PREFIXES = ("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        simulator.set_price("kraken", "BTC/USD", Decimal(60000))
        yield simulator


def _paper_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(NIJA_DATA_DIR=str(data), NIJA_CYCLE_SECONDS="0.25", NIJA_PAPER_BROKERS="kraken",
               NIJA_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    return env


def _live_env(sim: Simulator, data: Path, key: str) -> dict[str, str]:
    """Live mode with one Kraken master whose API key is `key` (an account at the simulator)."""
    secret = base64.b64encode(f"secret-of-{key}".encode()).decode()
    account = sim.add_account("kraken", key, secret, {"USD": Decimal(10000)})
    env = _paper_env(data)
    env.update(NIJA_MODE="live", KRAKEN_MASTER_API_KEY=key, KRAKEN_MASTER_API_SECRET=account.secret,
               NIJA_KRAKEN_API_URL=sim.url("kraken"), NIJA_SYMBOLS_KRAKEN="BTC/USD", NIJA_HTTP_TIMEOUT_SECONDS="1")
    return env


def _run_until_cycled(env: dict[str, str], data: Path, cwd: Path) -> None:
    """Start the daemon, wait for its Kraken master's first completed cycle, stop it cleanly."""
    log = open(cwd / "daemon.log", "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: _cycled_since_start(data, proc.pid), 40, "a kraken cycle of this run")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log.close()


def _cycled_since_start(data: Path, pid: int) -> bool:
    """This process runs the daemon on `data` and its Kraken master completed a cycle since."""
    with reading(data) as store:
        if store is None:
            return False
        try:
            daemon = store.daemon()
            if daemon is None or daemon.pid != pid:
                return False
            kraken = [h for h in store.health() if h.broker == "kraken"]
        except Exception:  # noqa: BLE001 - a write in progress: try again on the next poll
            return False
        return bool(kraken) and kraken[0].last_cycle_at is not None and kraken[0].last_cycle_at >= daemon.started_at


def _refused(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", *(args or ("nija",))], cwd=cwd, env=env, capture_output=True, check=False,
                          text=True, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_live_run_refuses_a_paper_store(tmp_path: Path, sim: Simulator) -> None:
    data = tmp_path / "data"
    _run_until_cycled(_paper_env(data), data, tmp_path)  # a paper run: paper balances, marks, prices
    reader = Store(data / "nija.db", readonly=True)
    paper_pid, paper_owner = reader.daemon().pid, reader.owner()
    reader.close()
    assert paper_owner.mode == "paper"

    line = _refused(_live_env(sim, data, "live-key-A"), tmp_path)
    assert line == (
        f"nija: store {data / 'nija.db'} holds a paper run's state and this run is live: paper and live never"
        f" share a data dir; set NIJA_DATA_DIR={data}-live (a new dir) for live, or run paper"
    ), line
    assert sim.orders("kraken") == []  # nothing traded on the paper run's positions
    reader = Store(data / "nija.db", readonly=True)
    assert reader.daemon().pid == paper_pid and reader.owner() == paper_owner  # the live run wrote nothing
    reader.close()

    # ... and on the dir the line names, the same live run starts.
    _run_until_cycled(_live_env(sim, tmp_path / "data-live", "live-key-A"), tmp_path / "data-live", tmp_path)


def test_live_store_refuses_another_account_and_paper(tmp_path: Path, sim: Simulator) -> None:
    data = tmp_path / "data"
    _run_until_cycled(_live_env(sim, data, "live-key-A"), data, tmp_path)
    reader = Store(data / "nija.db", readonly=True)
    owner = reader.owner()
    reader.close()
    assert owner.mode == "live" and set(owner.keys) == {("kraken", "master")}
    assert "live-key-A" not in (data / "nija.db").read_bytes().decode("latin-1")  # a fingerprint, not the key

    line = _refused(_live_env(sim, data, "live-key-B"), tmp_path)
    assert line.startswith(f"nija: store {data / 'nija.db'} holds kraken master state of another API key"), line
    assert f"set NIJA_DATA_DIR={data}-kraken-" in line, line

    line = _refused(_paper_env(data), tmp_path)  # NIJA_MODE=paper on the live store
    assert "holds a live run's state and this run is paper" in line, line
    assert f"NIJA_DATA_DIR={data}-paper" in line, line
    # a paper manual trade never lands in the live store either
    trade = _refused(_paper_env(data), tmp_path, "nija.trade", "buy", "BTC/USD", "10", "--broker", "kraken")
    assert trade.startswith("nija trade: store ") and "live run's state" in trade, trade
    pid = daemon_pid(data)
    _run_until_cycled(_live_env(sim, data, "live-key-A"), data, tmp_path)  # its own key still starts
    assert daemon_pid(data) != pid
