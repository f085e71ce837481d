"""End-to-end in live mode: the daemon as a subprocess, its real ccxt clients pointed at the
local simulator. One venue fails (timeouts, then 5xx, then HTML-200) for several cycles: the
others complete every cycle, the failing one goes degraded → failed and back to healthy once the
fault clears. An auth error stops only its broker. Canary secrets never leave.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.support import brokers, eventually, stop_daemon
from tests.sim.simulator import Simulator

CYCLE = 0.5
# Venue -> (credential variables, cash currency, one symbol to trade)
LIVE = {
    "kraken": (("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET"), "USD", "BTC/USD"),
    "binance": (("BINANCE_API_KEY", "BINANCE_API_SECRET"), "USDT", "BTC/USDT"),
    "okx": (("OKX_API_KEY", "OKX_API_SECRET", "OKX_PASSPHRASE"), "USDT", "BTC/USDT"),
    "coinbase": (("COINBASE_API_KEY", "COINBASE_API_SECRET"), "USD", "BTC/USD"),
    "alpaca": (("ALPACA_API_KEY", "ALPACA_API_SECRET"), "USD", "AAPL"),
}
SECRETS: list[str] = []  # every credential value handed to the daemon, for the leak check


def _canary(venue: str, part: str) -> str:
    return f"canary-{venue}-{part}-0123456789"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator






def _start(sim: Simulator, tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(NIJA_MODE="live", NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_CYCLE_SECONDS=str(CYCLE),
               NIJA_LOG_FORMAT="json", NIJA_STATUS_SUMMARY_SECONDS="2", PYTHONUNBUFFERED="1",
               NIJA_HTTP_TIMEOUT_SECONDS="1")
    for venue, (variables, cash, symbol) in LIVE.items():
        key = _canary(venue, "key")
        # Coinbase signs with an EC key the simulator makes (PEM); the others take any secret.
        secret = None if venue == "coinbase" else base64.b64encode(_canary(venue, "secret").encode()).decode()
        passphrase = _canary(venue, "pass")
        account = sim.add_account(venue, key, secret, {cash: Decimal("10000")}, passphrase=passphrase)
        sim.set_price(venue, symbol, Decimal("200") if venue == "alpaca" else Decimal("60000"))
        values = (key, account.secret, passphrase)[: len(variables)]
        env.update(zip(variables, values, strict=True))
        SECRETS.extend(values)
        env[f"NIJA_{venue.upper()}_API_URL"] = sim.url(venue)
        env[f"NIJA_SYMBOLS_{venue.upper()}"] = symbol
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed by the caller's process end
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, env, tmp_path / "data"


def test_failing_venue_degrades_fails_and_heals_while_the_other_trades_on(sim: Simulator, tmp_path: Path) -> None:
    proc, env, data = _start(sim, tmp_path)
    try:
        eventually(lambda: len(b := brokers(data)) == len(LIVE) and all(x["cycles_ok"] >= 2 for x in b.values()), 60, "cycles")
        assert {b["status"] for b in brokers(data).values()} == {"healthy"}
        assert brokers(data)["kraken"]["total_equity"] == 10000

        # Binance breaks: timeouts, then 5xx, then HTML-200 on the balance call.
        sim.inject("binance", r"/api/v3/account", "timeout", times=3, delay_ms=1_500, drop=True)
        sim.inject("binance", r"/api/v3/account", "http_5xx", times=6)
        sim.inject("binance", r"/api/v3/account", "html_200", times=None)
        failed = eventually(lambda: (b := brokers(data).get("binance")) and b["status"] == "failed" and b, 120, "binance failed")
        assert failed["consecutive_errors"] >= 5
        kraken = brokers(data)["kraken"]
        assert kraken["status"] == "healthy" and kraken["cycles_ok"] == kraken["cycles_total"]
        alpaca = brokers(data)["alpaca"]
        assert alpaca["status"] == "healthy" and alpaca["cycles_ok"] == alpaca["cycles_total"]

        # The fault clears: healthy again within two cycles of the backoff.
        sim.clear_faults("binance")
        eventually(lambda: brokers(data).get("binance", {}).get("status") == "healthy", 60, "binance healthy")
        kraken_after = eventually(
            lambda: (k := brokers(data)["kraken"])["cycles_ok"] > kraken["cycles_ok"] and k, 30, "kraken cycles on"
        )
        assert kraken_after["cycles_ok"] == kraken_after["cycles_total"]  # never missed a cycle

        # An auth error stops only that broker.
        sim.inject("kraken", r"BalanceEx", "auth_error", times=None)
        dead = eventually(lambda: (b := brokers(data).get("kraken")) and b["status"] == "failed" and b, 60, "kraken auth")
        assert "AuthError" in dead["last_error"]
        binance_then = brokers(data)["binance"]["cycles_ok"]
        eventually(lambda: brokers(data)["binance"]["cycles_ok"] >= binance_then + 3, 60, "binance goes on")
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0

    status = subprocess.run(
        [sys.executable, "-m", "nija.status", "--json", "--data-dir", str(data)], capture_output=True, text=True, env=env, timeout=30
    )
    log = (tmp_path / "daemon.log").read_text()
    store_bytes = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert json.loads(log.splitlines()[0])  # JSON lines
    fragments = {line for secret in SECRETS for line in secret.splitlines() if len(line) >= 8 and "-----" not in line}
    for fragment in fragments | {_canary(venue, "secret") for venue in LIVE}:
        for text in (log, status.stdout, status.stderr):
            assert fragment not in text
        assert fragment.encode() not in store_bytes
