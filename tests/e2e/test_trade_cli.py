"""`python -m nija.trade`: a manual master trade through the running daemon's store, copied to
the users like any master fill; clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nija.store import Store
from tests.e2e.support import eventually, reading
from tests.e2e.test_daemon import _env


def _trade(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nija.trade", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_manual_trade_is_recorded_and_copied(tmp_path: Path) -> None:
    env = _env(tmp_path, NIJA_CYCLE_SECONDS="1", NIJA_PAPER_BROKERS="kraken", NIJA_SYNTHETIC_SYMBOLS="BTC/USD")
    assert _trade(tmp_path, env, "buy", "BTC/USD", "100", "--broker", "kraken").returncode == 3  # no store yet
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            db = tmp_path / "data" / "nija.db"

            def prices_published() -> bool:
                with reading(tmp_path / "data") as store:
                    return store is not None and bool(store.paper_prices("kraken")[0])

            eventually(prices_published, 30, "paper prices")
            bought = _trade(tmp_path, env, "buy", "BTC/USD", "100", "--broker", "kraken", "--quote")
            assert bought.returncode == 0, bought.stderr
            assert bought.stdout.startswith("filled buy ") and "BTC/USD" in bought.stdout
            cid = bought.stdout.strip().rsplit("client_order_id=", 1)[1]

            def copied() -> list:
                store = Store(db, readonly=True)
                try:
                    return [r for r in store.copy_rows() if r["status"] == "filled" and r["user_id"] == "demo_alice"]
                finally:
                    store.close()

            eventually(copied, 30, "the copy of the manual buy")
            store = Store(db, readonly=True)
            assert store.get_order(cid).request.reason.startswith("manual trade")
            store.close()
            assert _trade(tmp_path, env, "buy", "DOGE/EUR", "10", "--broker", "kraken").stderr.strip() == (
                "nija trade: kraken has no market DOGE/EUR"
            )
            bad = _trade(tmp_path, env, "buy", "BTC/USD", "-5", "--broker", "kraken")
            assert bad.returncode == 2 and "AMOUNT must be > 0, was -5" in bad.stderr
            unknown = _trade(tmp_path, env, "buy", "BTC/USD", "5", "--broker", "ftx")
            assert unknown.returncode == 2 and "invalid choice: 'ftx'" in unknown.stderr
        finally:
            proc.terminate()
            proc.wait(timeout=10)
