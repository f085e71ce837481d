"""`nija.trade` never fakes a live fill (issue 11): in live mode a manual trade goes to that
broker's live master account or is refused (exit 2, naming the missing credentials), never to a
paper book a live daemon would copy to real followers; with no daemon running, a paper trade on
prices published more than 3 cycles ago is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from nija.brokers.base import BrokerError
from nija.build import Shared, build_loops, manual_master_broker
from nija.config import load_settings
from nija.logs import get_logger
from nija.models import MASTER_ACCOUNT, BrokerName
from nija.store import Store, db_path
from tests.reliability.test_quick_start import clean_env


def _published_paper_prices(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paper run's store: the kraken master's market published its prices once."""
    for key, value in {"NIJA_PAPER_BROKERS": "kraken", "NIJA_SYNTHETIC_SYMBOLS": "BTC/USD", "NIJA_DATA_DIR": str(data)}.items():
        monkeypatch.setenv(key, value)
    store = Store(db_path(data))
    try:
        (loop,), _ = build_loops(load_settings(), "paper", store, get_logger("test"), Shared())
        loop.broker.begin_cycle()
        assert store.paper_prices(BrokerName.KRAKEN)[0]
    finally:
        store.close()


def _trade(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nija.trade", "buy", "BTC/USD", "100", "--broker", "kraken", "--quote"],
                          cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=30, check=False)


def _master_fills(data: Path) -> list:
    store = Store(db_path(data), readonly=True)
    try:
        return store.fills(BrokerName.KRAKEN, MASTER_ACCOUNT)
    finally:
        store.close()


def test_live_mode_without_that_brokers_keys_refuses_instead_of_a_paper_fill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    _published_paper_prices(data, monkeypatch)  # fresh prices a paper book would happily fill at
    live = {"NIJA_MODE": "live", "NIJA_DATA_DIR": str(data), "COINBASE_API_KEY": "cb-key", "COINBASE_API_SECRET": "cb-secret"}
    done = _trade(tmp_path, **live)
    line = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "\n" not in line and "Traceback" not in line, line
    assert "NIJA_MODE=live but kraken has no master credentials" in line
    assert "KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET not set" in line
    assert done.stdout == "" and _master_fills(data) == []  # no paper fill for a live daemon to copy

    for key, value in live.items():
        monkeypatch.setenv(key, value)
    store = Store(db_path(data))
    try:
        with pytest.raises(BrokerError, match="kraken has no master credentials"):
            manual_master_broker(load_settings(), BrokerName.KRAKEN, store, Shared(), get_logger("test"))
    finally:
        store.close()


def test_without_a_daemon_a_paper_price_older_than_3_cycles_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    _published_paper_prices(data, monkeypatch)
    time.sleep(0.2)  # 3 cycles of 0.05 s
    stale = _trade(tmp_path, NIJA_DATA_DIR=str(data), NIJA_CYCLE_SECONDS="0.05")
    assert stale.returncode == 1, (stale.returncode, stale.stdout, stale.stderr[-2000:])
    assert "kraken's paper prices were published" in stale.stderr and "more than 3 cycles" in stale.stderr
    assert _master_fills(data) == []

    fresh = _trade(tmp_path, NIJA_DATA_DIR=str(data), NIJA_CYCLE_SECONDS="150")  # within 3 cycles: it fills
    assert fresh.returncode == 0, (fresh.stdout, fresh.stderr[-2000:])
    assert fresh.stdout.startswith("filled buy ") and len(_master_fills(data)) == 1
