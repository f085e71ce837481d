"""`python -m nija.doctor` as a user runs it: a separate process, every venue configured at once
through .env variables pointing the real clients at the simulator. One table per account, the
right exit code, no order placed and no secret printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.doctor.conftest import VENUES, Configure
from tests.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nija.doctor", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_every_venue_checked_in_one_run_from_the_command_line(sim: Simulator, configure: Configure) -> None:
    keys = {venue: configure(venue) for venue in VENUES}
    run = _doctor("--json")
    assert run.returncode == 0, run.stdout + run.stderr
    accounts = {a["broker"]: a for a in json.loads(run.stdout)["accounts"]}
    assert set(accounts) == set(VENUES)
    for venue, account in accounts.items():
        assert (account["account"], account["result"]) == ("master", "ok"), (venue, account)
        assert {c["check"] for c in account["checks"]} >= {"clock", "keys", "equity", "entry size", "dry-run order"}
        assert sim.orders(venue, keys[venue][0]) == []  # validate / test / preview only
    table = _doctor()  # the human table: one section per account
    assert table.returncode == 0
    for venue in VENUES:
        assert venue in table.stdout
    for _, secret in keys.values():
        assert secret not in run.stdout + run.stderr + table.stdout + table.stderr


def test_one_failing_account_fails_the_run_and_names_it(sim: Simulator, configure: Configure, monkeypatch) -> None:
    for venue in ("kraken", "binance"):
        configure(venue)
    monkeypatch.setenv("BINANCE_API_KEY", "doctor-unknown-key")
    run = _doctor("--json")
    assert run.returncode == 2, run.stdout + run.stderr
    results = {a["broker"]: a["result"] for a in json.loads(run.stdout)["accounts"]}
    assert results == {"kraken": "ok", "binance": "fail"}
