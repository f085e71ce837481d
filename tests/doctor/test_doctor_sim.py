"""`python -m nija.doctor` against the simulator, every venue through its real client: all OK,
and each failure it reports (bad key, withdrawals allowed, no trade permission, clock skew, a
missing or cancel-only market, a Kraken key used at a larger nonce scale, a refused dry run),
with the exit code each one gives. The doctor never places an order and never prints a secret."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.ccxt.nonce import key_fingerprint
from tests.doctor.conftest import VENUES, Configure, run_doctor
from tests.sim.simulator import Simulator

ALL = tuple(VENUES)
CCXT = ("kraken", "binance", "okx", "coinbase")
DRY_RUN = {"kraken": "ok", "binance": "ok", "coinbase": "ok", "okx": "info", "alpaca": "info"}


@pytest.mark.parametrize("venue", ALL)
def test_a_healthy_account_passes_every_check_and_places_no_order(sim: Simulator, configure: Configure, venue: str) -> None:
    key, _ = configure(venue)
    run = run_doctor("--json")
    assert run.code == 0, run.out
    [account] = run.doc["accounts"]
    assert (account["broker"], account["account"], account["result"]) == (venue, "master", "ok")
    assert account["environment"].startswith("custom URL (http://127.0.0.1")
    checks = run.checks()
    for name in ("clock", "keys", "equity", f"market {VENUES[venue][2]}", "entry size"):
        assert checks[name][0] == "ok", (name, checks[name])
    assert checks["dry-run order"][0] == DRY_RUN[venue], checks["dry-run order"]
    assert Decimal(account["equity"]) == Decimal(10000)
    assert "1000.00" in checks["entry size"][1]  # 10 % of equity: APEX's largest entry
    assert sim.orders(venue, key) == []  # validate / test / preview only


@pytest.mark.parametrize("venue", ALL)
def test_a_refused_key_is_a_failure(monkeypatch: pytest.MonkeyPatch, configure: Configure, venue: str) -> None:
    configure(venue)
    variable = VENUES[venue][0][0]
    monkeypatch.setenv(variable, "PKUNKNOWN0000" if venue == "alpaca" else "doctor-unknown-key")
    run = run_doctor("--json")
    assert run.code == 2
    result, detail = run.checks()["keys"]
    assert result == "fail" and "refused" in detail
    assert "dry-run order" not in run.checks()  # nothing is asked after a refused key


@pytest.mark.parametrize("venue", CCXT)
def test_withdrawals_allowed_is_a_loud_warning(sim: Simulator, configure: Configure, venue: str) -> None:
    key, _ = configure(venue)
    sim.set_key_permissions(venue, key, withdraw=True)
    run = run_doctor()
    assert run.code == 1, run.out
    assert "!!! WITHDRAWALS ARE ALLOWED" in run.out


def test_alpaca_says_permissions_are_not_exposed(configure: Configure) -> None:
    configure("alpaca")
    result, detail = run_doctor("--json").checks()["withdrawals"]
    assert result == "info" and "not exposed" in detail


@pytest.mark.parametrize("venue", ("binance", "okx", "coinbase"))
def test_a_key_that_cannot_trade_is_a_failure(sim: Simulator, configure: Configure, venue: str) -> None:
    key, _ = configure(venue)
    sim.set_key_permissions(venue, key, trade=False)
    run = run_doctor("--json")
    assert run.code == 2
    assert run.checks()["trade permission"][0] == "fail"


def test_clock_skew_warns_and_fails_where_requests_are_signed_with_time(sim: Simulator, configure: Configure) -> None:
    configure("kraken")
    sim.set_clock_offset("kraken", 4)  # Kraken signs with a nonce: a skew is worth fixing, not fatal
    run = run_doctor("--json")
    assert run.code == 1
    result, detail = run.checks()["clock"]
    assert result == "warn" and "ahead of this machine" in detail and "NTP" in detail

    configure("binance")
    sim.set_clock_offset("binance", -30)  # Binance refuses a timestamp outside its recvWindow
    run = run_doctor("--json", "--account", "binance")
    assert run.code == 2
    result, detail = run.checks()["clock"]
    assert result == "fail" and "behind this machine" in detail


def test_a_missing_market_is_a_failure(configure: Configure) -> None:
    configure("kraken", symbols="BTC/USD,NOPE/USD")
    run = run_doctor("--json")
    assert run.code == 2
    checks = run.checks()
    assert checks["market NOPE/USD"][0] == "fail" and "NIJA_SYMBOLS_KRAKEN" in checks["market NOPE/USD"][1]
    assert checks["market BTC/USD"][0] == "ok"
    assert checks["dry-run order"][0] == "ok"  # the entry is still checked on the market that exists


def test_a_cancel_only_market_warns(sim: Simulator, configure: Configure) -> None:
    if not hasattr(sim, "set_market_status"):
        pytest.skip("the simulator has no Kraken market status yet")
    configure("kraken", symbols="BTC/USD,ETH/USD")
    sim.set_market_status("kraken", "ETH/USD", "cancel_only")
    run = run_doctor("--json")
    assert run.code == 1
    result, detail = run.checks()["market ETH/USD"]
    assert result == "warn" and "cancel_only" in detail


def test_a_kraken_key_saved_at_a_larger_nonce_scale_is_explained(configure: Configure, tmp_path: Path) -> None:
    key, _ = configure("kraken")
    nonce_dir = tmp_path / "data" / "nonce"
    nonce_dir.mkdir(parents=True)
    (nonce_dir / key_fingerprint(key)).write_text(str(time.time_ns()))  # the original's nanosecond counter
    run = run_doctor("--json")
    assert run.code == 1
    result, detail = run.checks()["nonce"]
    assert result == "warn" and "nanoseconds" in detail and "new API key" in detail
    assert run.checks()["keys"][0] == "ok"  # only saved, never sent: the converted mark works


def test_a_kraken_key_that_really_sent_larger_nonces_fails_with_the_fix(sim: Simulator, configure: Configure) -> None:
    key, _ = configure("kraken")
    with sim._lock:  # the venue's mark for this key is in nanoseconds: every ms nonce is refused
        sim.venue("kraken").book.account(key).last_nonce = time.time_ns()
    run = run_doctor("--json")
    assert run.code == 2
    result, detail = run.checks()["keys"]
    assert result == "fail" and "create a new API key" in detail


def test_a_refused_dry_run_is_a_failure(sim: Simulator, configure: Configure) -> None:
    configure("kraken")
    sim.inject("kraken", "AddOrder", "insufficient_funds")
    run = run_doctor("--json")
    assert run.code == 2
    result, detail = run.checks()["dry-run order"]
    assert result == "fail" and "refused" in detail


def test_equity_is_broken_down_by_asset(sim: Simulator, configure: Configure) -> None:
    configure("kraken", cash="4000", holdings={"BTC": "0.1"})
    sim.set_price("kraken", "BTC/USD", Decimal(60000))
    run = run_doctor("--json")
    [account] = run.doc["accounts"]
    rows = {row["asset"]: row for row in account["holdings"]}
    assert Decimal(rows["BTC"]["value"]) == Decimal("6000.00")
    assert Decimal(rows["USD,USDC"]["value"]) == Decimal(4000)
    assert Decimal(account["equity"]) == Decimal(10000)


def test_an_unfunded_account_warns(configure: Configure) -> None:
    configure("binance", cash="5")
    run = run_doctor("--json")
    assert run.code == 1
    assert run.checks()["equity"][0] == "warn" and "MINIMUM_FUNDED_BALANCE" in run.checks()["equity"][1]
    assert run.checks()["entry size"][0] == "warn"  # 10 % of $5 is below the market minimum


def test_followers_are_checked_and_sized_by_the_copy_formula(
    sim: Simulator, configure: Configure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure("kraken")
    users = tmp_path / "users"
    users.mkdir()
    (users / "ann.json").write_text(json.dumps({"user_id": "ann", "name": "Ann", "broker": "kraken", "risk_multiplier": 0.5}))
    (users / "bob.json").write_text(json.dumps({"user_id": "bob", "name": "Bob", "broker": "kraken"}))
    monkeypatch.setenv("NIJA_USERS_DIR", str(users))
    account = sim.add_account("kraken", "doctor-ann-key", balances={"USD": Decimal(2000)})
    monkeypatch.setenv("KRAKEN_USER_ANN_API_KEY", "doctor-ann-key")
    monkeypatch.setenv("KRAKEN_USER_ANN_API_SECRET", account.secret)
    run = run_doctor("--json")
    assert run.code == 2  # bob has no credentials
    by_account = {a["account"]: a for a in run.doc["accounts"]}
    assert set(by_account) == {"master", "ann", "bob"}
    ann = {c["check"]: c for c in by_account["ann"]["checks"]}
    assert ann["keys"]["result"] == "ok" and ann["dry-run order"]["result"] == "ok"
    assert "100.00 USD" in ann["entry size"]["detail"]  # 10 % × 2000 × risk 0.5
    assert "KRAKEN_USER_BOB_API_KEY" in {c["check"]: c for c in by_account["bob"]["checks"]}["keys"]["detail"]

    only = run_doctor("--json", "--account", "ann")
    assert only.code == 0 and [a["account"] for a in only.doc["accounts"]] == ["ann"]


def test_no_secret_is_ever_printed(sim: Simulator, configure: Configure, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = []
    for venue in ALL:
        key, secret = configure(venue)
        secrets += [key, secret, "doctor-pass-phrase"]
    # A venue error page that echoes the credentials back (a proxy, a debug page).
    echo = f"<html>bad gateway {' '.join(secrets)}</html>"
    sim.inject("binance", r"/api/v3/account", "http_5xx", times=None, body=echo)
    sim.inject("kraken", "AddOrder", "http_5xx", times=None, body=echo)
    for args in ((), ("--json",)):
        run = run_doctor(*args)
        assert run.code == 2
        printed = run.out + run.err
        assert "bad gateway" in printed  # the echo reached the output, redacted
        for secret in secrets:
            for fragment in [secret, *(line for line in secret.splitlines() if len(line) >= 8 and "---" not in line)]:
                assert fragment not in printed


def test_bad_settings_are_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_MODE", "sometimes")
    run = run_doctor()
    assert run.code == 2
    assert run.err.count("\n") == 1 and "NIJA_MODE" in run.err


def test_no_configured_account_is_a_failure() -> None:
    run = run_doctor()
    assert run.code == 2 and "no account with API keys" in run.err


def test_help_works() -> None:
    done = subprocess.run([sys.executable, "-m", "nija.doctor", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "--account" in done.stdout and "--json" in done.stdout and "withdrawals" in done.stdout


def test_the_doctor_says_which_environment_it_talked_to(monkeypatch: pytest.MonkeyPatch, configure: Configure) -> None:
    configure("binance")
    monkeypatch.setenv("NIJA_BINANCE_SANDBOX", "true")  # the testnet's URLs, here redirected to the simulator
    run = run_doctor("--json")
    assert run.code == 0, run.out
    assert run.doc["accounts"][0]["environment"].startswith("sandbox: Binance spot testnet (127.0.0.1:")
    assert run.checks()["withdrawals"][0] == "info"  # the testnet has no /sapi


def test_a_kraken_key_without_trade_permission_fails_the_dry_run(sim: Simulator, configure: Configure) -> None:
    configure("kraken")
    sim.inject("kraken", "AddOrder", "auth_error")  # Kraken has no permissions endpoint: the order tells
    run = run_doctor("--json")
    assert run.code == 2
    result, detail = run.checks()["dry-run order"]
    assert result == "fail" and "cannot place orders" in detail
