"""Configuration that does what it says (issue 11): a `.env` that cannot be parsed stops start-up
naming the file and line; DISABLED_PAIRS works and symbols are normalised or refused everywhere;
`--help` on every entry point starts nothing; bad input is one line, exit 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nija.build import Shared, build_loops
from nija.config import ConfigError, load_settings
from nija.logs import get_logger
from nija.store import Store, db_path
from nija.users import discover_users, environment_with_dotenv
from tests.reliability.test_quick_start import checkout, clean_env


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False)


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    line = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "\n" not in line and "Traceback" not in line, line
    for text in expected:
        assert text in line, line
    return line


# -- 2. a .env that cannot be parsed --------------------------------------------------------------


def test_a_dotenv_that_cannot_be_parsed_stops_every_entry_point_naming_file_and_line(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('NIJA_CYCLE_SECONDS=2\nENTRY_BLOCKING="true\nNIJA_PAPER_BROKERS=kraken\n')
    where = f"{dotenv}: line 2: cannot be parsed (the value of ENTRY_BLOCKING)"
    with pytest.raises(ConfigError, match=r"line 2: cannot be parsed"):  # was: a warning, entries left on
        load_settings()
    with pytest.raises(ConfigError, match=r"line 2: cannot be parsed"):
        environment_with_dotenv(dotenv)
    _one_line_exit_2(_run(tmp_path, sys.executable, "-m", "nija"), where)
    status = _run(tmp_path, sys.executable, "-m", "nija.status")
    assert status.returncode == 2 and where in status.stdout, (status.stdout, status.stderr)
    assert not (tmp_path / "data").exists()

    root = checkout(tmp_path)  # start.sh's own dotenv loading, before python -m nija
    (root / ".env").write_text(dotenv.read_text())
    _one_line_exit_2(_run(root, "./start.sh"), f"{root / '.env'}: line 2: cannot be parsed")
    (root / ".env").write_bytes(b"NIJA_MODE=paper\nNIJA_LOG_LEVEL=info\nKRAKEN_TIER=pro\xe9\n")
    _one_line_exit_2(_run(root, "./start.sh"), f"{root / '.env'}: line 3: not UTF-8 text")
    assert not (root / "data").exists()


# -- 3. DISABLED_PAIRS and symbols -------------------------------------------------------------------


def test_disabled_pairs_work_and_symbols_are_normalised_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIJA_PAPER_BROKERS", "kraken")
    monkeypatch.setenv("NIJA_SYNTHETIC_SYMBOLS", "btc-usd, ETH/USD,BTC/USD")
    monkeypatch.setenv("DISABLED_PAIRS", "BTC-USD")
    settings = load_settings()
    assert (settings.synthetic_symbols, settings.disabled_pairs) == (("BTC/USD", "ETH/USD"), ("BTC/USD",))
    store = Store(db_path(tmp_path / "data"))
    try:
        (loop,), failed = build_loops(settings, "paper", store, get_logger("test"), Shared())
        assert failed == []
        loop.broker.begin_cycle()
        assert loop.broker.symbols() == ["ETH/USD"]  # never scanned for an entry
        assert loop.broker.market.last_price("BTC/USD") > 0  # still priced: a held BTC is still valued and sold
    finally:
        store.close()

    users = tmp_path / "users"
    users.mkdir()
    (users / "ann.json").write_text(json.dumps(
        {"user_id": "ann", "name": "Ann", "broker": "kraken", "disabled_symbols": ["xrp-usd"]}))
    (users / "bob.json").write_text(json.dumps(
        {"user_id": "bob", "name": "Bob", "broker": "kraken", "disabled_symbols": ["XRPUSD"]}))
    found = discover_users(users, {})
    assert [(u.user_id, u.disabled_symbols) for u in found.users] == [("ann", frozenset({"XRP/USD"}))]
    (problem,) = found.problems
    assert problem.message.startswith(f"{users / 'bob.json'}: disabled_symbols: a symbol must look like BASE/QUOTE")

    for variable in ("NIJA_SYNTHETIC_SYMBOLS", "DISABLED_PAIRS", "NIJA_SYMBOLS_KRAKEN"):
        done = _run(tmp_path, sys.executable, "-m", "nija", env=clean_env(**{variable: "BTC/USD,FOO"}))
        _one_line_exit_2(done, f"config error: {variable}='BTC/USD,FOO': 'FOO': a symbol must look like BASE/QUOTE")
    trade = _run(tmp_path, sys.executable, "-m", "nija.trade", "buy", "BTCUSD", "10", "--broker", "kraken")
    _one_line_exit_2(trade, "nija trade: SYMBOL 'BTCUSD': a symbol must look like BASE/QUOTE")


# -- 4. --help ----------------------------------------------------------------------------------------


def test_help_on_every_entry_point_prints_usage_and_starts_nothing(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    commands = [
        [sys.executable, "-m", "nija", "--help"],
        [sys.executable, "-m", "nija.status", "--help"],
        [sys.executable, "-m", "nija.trade", "--help"],
        [sys.executable, "-m", "nija.trade", "halt", "--help"],
        ["./start.sh", "--help"],
    ]
    for command in commands:
        try:
            done = _run(root, *command, timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{command}: still running after 15 s (it started the daemon)")
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert done.stdout.startswith("usage: "), (command, done.stdout)
        assert not (root / "data").exists(), command
    unknown = _run(root, sys.executable, "-m", "nija", "--frobnicate")
    assert unknown.returncode == 2 and "unrecognized arguments: --frobnicate" in unknown.stderr
    assert not (root / "data").exists()


# -- 5. one line, exit 2, no traceback ------------------------------------------------------------------


def test_seed_amount_and_nested_user_file_are_one_line_errors(tmp_path: Path) -> None:
    done = _run(tmp_path, sys.executable, "-m", "nija", env=clean_env(NIJA_SYNTHETIC_SEED="-1"))
    _one_line_exit_2(done, "config error: NIJA_SYNTHETIC_SEED='-1': Input should be greater than or equal to 0")
    assert not (tmp_path / "data").exists()

    trade = _run(tmp_path, sys.executable, "-m", "nija.trade", "buy", "BTC/USD", "1e20", "--broker", "kraken")
    _one_line_exit_2(trade, "nija trade: AMOUNT 1E+20 is absurd: above 1,000,000,000,000")

    users = tmp_path / "users"
    users.mkdir()
    (users / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (users / "deeper.json").write_text('{"user_id": "cal", "name": "Cal", "broker": "kraken", "x": '
                                       + "[" * 200 + "]" * 200 + "}")
    (users / "ok.json").write_text(json.dumps({"user_id": "ann", "name": "Ann", "broker": "kraken"}))
    found = discover_users(users, {})
    assert [u.user_id for u in found.users] == ["ann"]  # the other users still load
    assert [p.message for p in found.problems] == [
        f"{users / name}: (file): nested deeper than 8 levels; a user file is one flat object"
        for name in ("deep.json", "deeper.json")
    ]
