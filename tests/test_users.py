"""User discovery: files load with defaults, keys by the full user id, one line per bad file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import nija.users as users_module
from nija.users import (
    CopyExisting,
    DiscoveredUsers,
    OnDisable,
    UserAccount,
    alpaca_paper_variable,
    credential_variables,
    demo_users,
    discover_users,
    environment_with_dotenv,
    load_user_file,
)
from nija.config import _CREDENTIAL_VARS
from nija.models import BrokerName

CANARY = "CANARY-s3cr3t-value-0451"  # must never appear in a problem line or a repr


def _status(found: DiscoveredUsers, user_id: str) -> str:
    """Whether a loaded user can trade, as the daemon decides it from what discovery found."""
    user = next(u for u in found.users if u.user_id == user_id)
    if not user.enabled:
        return "disabled"
    return "missing_credentials" if user_id in found.missing_credentials else "ready"


def write(folder: Path, filename: str, content: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def user(user_id: str, broker: str = "kraken", **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "name": user_id.replace("_", " ").title(), "broker": broker, **extra}


def keys(broker: str, user_id: str, **values: str) -> dict[str, str]:
    names = credential_variables(BrokerName(broker), user_id)
    return {names[part]: value for part, value in values.items()}


def assert_one_line(found: DiscoveredUsers) -> None:
    for problem in found.problems:
        assert "\n" not in problem.message
        assert problem.message.startswith(f"{problem.path}: ")
        assert CANARY not in problem.message


# --- loading ---------------------------------------------------------------------------------

def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "alice.json", user("alice"))
    found = discover_users(tmp_path, {})
    assert found.problems == ()
    (alice,) = found.users
    assert alice == UserAccount(
        user_id="alice", name="Alice", broker=BrokerName.KRAKEN, enabled=True, copy_from_master=True,
        disabled_symbols=frozenset(), risk_multiplier=Decimal(1), paper_equity=None, source=path,
    )
    assert found.credentials == {"alice": None}
    assert found.missing_credentials == ()
    assert _status(found, "alice") == "ready"


def test_every_field_is_read_exactly(tmp_path: Path) -> None:
    write(tmp_path, "bob.json", '{"user_id": "bob_2", "name": " Bob ", "broker": "OKX", "enabled": false,'
          ' "copy_from_master": false, "disabled_symbols": ["xrp-usd", " Doge-USD "],'
          ' "risk_multiplier": 0.1, "paper_equity": 1234.56}')
    (bob,) = discover_users(tmp_path, {}).users
    assert bob.name == "Bob"
    assert bob.broker is BrokerName.OKX
    assert (bob.enabled, bob.copy_from_master) == (False, False)
    assert bob.disabled_symbols == frozenset({"XRP/USD", "DOGE/USD"})  # normalised like the master's symbols
    assert bob.risk_multiplier == Decimal("0.1")  # exact: JSON floats are parsed as Decimal
    assert bob.paper_equity == Decimal("1234.56")


def test_envelope_and_lifecycle_fields_default_to_skip_keep_and_the_env_limits(tmp_path: Path) -> None:
    write(tmp_path, "alice.json", user("alice"))
    (alice,) = discover_users(tmp_path, {}).users
    assert (alice.copy_existing, alice.on_disable) == (CopyExisting.SKIP, OnDisable.KEEP)
    assert alice.flatten_on_breach is False
    # None: the .env default (FOLLOWER_*) applies where the follower is built.
    assert (alice.max_drawdown_pct, alice.max_position_pct, alice.max_entry_slippage_pct) == (None, None, None)


def test_envelope_and_lifecycle_fields_are_read_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, "ann.json", '{"user_id": "ann", "name": "Ann", "broker": "kraken",'
                 ' "copy_existing": " Enter", "on_disable": "CLOSE", "max_drawdown_pct": 12.5,'
                 ' "flatten_on_breach": true, "max_position_pct": 100, "max_entry_slippage_pct": 0}')
    found = discover_users(tmp_path, {})
    assert found.problems == ()
    (ann,) = found.users
    assert (ann.copy_existing, ann.on_disable, ann.flatten_on_breach) == (CopyExisting.ENTER, OnDisable.CLOSE, True)
    assert (ann.max_drawdown_pct, ann.max_position_pct, ann.max_entry_slippage_pct) == (
        Decimal("12.5"), Decimal(100), Decimal(0))
    assert load_user_file(path) == ann  # the daemon's re-read of a changed file reads the same


def test_files_are_read_in_sorted_order_and_only_json(tmp_path: Path) -> None:
    for name in ("carol", "alice", "bob"):
        write(tmp_path, f"{name}.json", user(name))
    write(tmp_path, "README.md", "not a user")
    write(tmp_path, "dave.json.bak", user("dave"))
    write(tmp_path, "erin.json.example", user("erin"))
    found = discover_users(tmp_path, {})
    assert [u.user_id for u in found.users] == ["alice", "bob", "carol"]
    assert found.problems == ()


def test_missing_folder_is_no_users_and_no_problem(tmp_path: Path) -> None:
    found = discover_users(tmp_path / "nope", {})
    assert (found.users, found.problems, found.missing_credentials) == ((), (), ())
    assert dict(found.credentials) == {}


def test_folder_that_is_a_file_is_one_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "users", "x")
    found = discover_users(path, {})
    assert found.users == ()
    assert len(found.problems) == 1
    assert found.problems[0].message.startswith(f"{path}: (folder): not a folder")


def test_user_account_is_frozen_and_rejects_unknown_fields() -> None:
    alice = UserAccount(user_id="alice", name="A", broker=BrokerName.KRAKEN)
    with pytest.raises(ValidationError):
        alice.enabled = False  # type: ignore[misc]
    with pytest.raises(ValidationError):
        UserAccount(user_id="alice", name="A", broker=BrokerName.KRAKEN, role="user")  # type: ignore[call-arg]


# --- bad files -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "field", "problem"),
    [
        ('{"user_id": "bad", "name": "B", ', "(file)", "not valid JSON"),
        (user("bad", broker="ftx"), "broker", "was 'ftx'"),
        ({"user_id": "bad", "broker": "kraken"}, "name", "required, missing"),
        ({"name": "Bad", "broker": "kraken"}, "user_id", "required, missing"),
        (user("bad", enabled="yes"), "enabled", "Input should be a valid boolean, was 'yes'"),
        (user("bad", copy_from_master=1), "copy_from_master", "valid boolean"),
        (user("bad", risk_multiplier=1.5), "risk_multiplier", "was 1.5; accepted: a number within (0, 1]"),
        (user("bad", risk_multiplier=0), "risk_multiplier", "greater than 0"),
        (user("bad", risk_multiplier=-0.5), "risk_multiplier", "greater than 0"),
        (user("bad", risk_multiplier="lots"), "risk_multiplier", "was 'lots'"),
        (user("bad", risk_multiplier=True), "risk_multiplier", "Decimal input"),
        (user("bad", paper_equity=0), "paper_equity", "greater than 0"),
        (user("bad", disabled_symbols="XRP-USD"), "disabled_symbols", "valid frozenset"),
        (user("bad", disabled_symbols=["XRP-USD", 3]), "disabled_symbols[1]", "valid string"),
        (user("bad", disabled_symbols=[" "]), "disabled_symbols", "must not be empty"),
        ({**user("bad"), "user_id": "Bad Id"}, "user_id", "was 'Bad Id'; accepted: 1 to 64"),
        ({**user("bad"), "user_id": "x" * 65}, "user_id", "1 to 64"),
        ({**user("bad"), "user_id": 7}, "user_id", "valid string"),
        ({**user("bad"), "name": "   "}, "name", "must not be empty"),
        (user("bad", role="user"), "role", "unknown field; accepted: user_id, name, broker"),
        (user("bad", source="/etc/passwd"), "source", "set by the loader"),
        ([user("bad")], "(file)", "one file per user, not a list of users"),
        ('{"user_id": "bad", "user_id": "bad2", "name": "B", "broker": "kraken"}', "user_id", "appears twice"),
        (user("bad", copy_existing="join"), "copy_existing", "was 'join'; accepted: skip or enter"),
        (user("bad", copy_existing=True), "copy_existing", "accepted: skip or enter"),
        (user("bad", on_disable="sell"), "on_disable", "was 'sell'; accepted: keep or close"),
        (user("bad", max_drawdown_pct=0), "max_drawdown_pct", "than 0, was 0; accepted: a percent within (0, 100]"),
        (user("bad", max_drawdown_pct=150), "max_drawdown_pct", "less than or equal to 100, was 150"),
        (user("bad", max_drawdown_pct="lots"), "max_drawdown_pct", "was 'lots'"),
        ('{"user_id": "bad", "name": "B", "broker": "kraken", "max_drawdown_pct": NaN}', "max_drawdown_pct",
         "finite number"),
        (user("bad", flatten_on_breach="yes"), "flatten_on_breach", "boolean, was 'yes'; accepted: true or false"),
        (user("bad", max_position_pct=-5), "max_position_pct", "greater than 0, was -5"),
        (user("bad", max_position_pct=100.5), "max_position_pct", "was 100.5; accepted: a percent within (0, 100]"),
        (user("bad", max_entry_slippage_pct=-0.1), "max_entry_slippage_pct",
         "greater than or equal to 0, was -0.1; accepted: a percent within [0, 100]"),
        (user("bad", max_entry_slippage_pct=True), "max_entry_slippage_pct", "Decimal input"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_field(tmp_path: Path, content: Any, field: str, problem: str) -> None:
    write(tmp_path, "alice.json", user("alice"))
    bad = write(tmp_path, "bad.json", content)
    write(tmp_path, "carol.json", user("carol"))
    found = discover_users(tmp_path, {})
    assert [u.user_id for u in found.users] == ["alice", "carol"]
    assert len(found.problems) == 1
    assert found.problems[0].path == bad
    assert found.problems[0].message.startswith(f"{bad}: {field}: ")
    assert problem in found.problems[0].message
    assert_one_line(found)


def test_several_errors_in_one_file_stay_one_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.json", {"user_id": "BAD", "broker": "ftx", "zzz": 1})
    (problem,) = discover_users(tmp_path, {}).problems
    assert "(and 3 more)" in problem.message
    assert "\n" not in problem.message


def test_unreadable_entries_are_problems_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "latin.json").write_bytes(b'{"name": "Ren\xe9"}')
    found = discover_users(tmp_path, {})
    assert found.users == ()
    assert [p.path.name for p in found.problems] == ["folder.json", "latin.json"]
    assert "not UTF-8" in found.problems[1].message
    assert_one_line(found)


def test_duplicate_user_id_keeps_the_first_file(tmp_path: Path) -> None:
    first = write(tmp_path, "a_john.json", user("john", broker="kraken"))
    second = write(tmp_path, "b_john.json", user("john", broker="okx"))
    found = discover_users(tmp_path, {})
    (john,) = found.users
    assert (john.broker, john.source) == (BrokerName.KRAKEN, first)
    (problem,) = found.problems
    assert problem.path == second
    assert problem.message == f"{second}: user_id: duplicate 'john', already declared in {first}; file ignored"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"api_key": CANARY}, "api_key"),
        ({"API_SECRET": CANARY}, "API_SECRET"),
        ({"PassPhrase": CANARY}, "PassPhrase"),
        ({"exchange": {"password": CANARY}}, "exchange.password"),
        ({"accounts": [{"name": "x"}, {"apiKey": CANARY}]}, "accounts[1].apiKey"),
        ({"private-key": CANARY}, "private-key"),
        ({"key": CANARY}, "key"),
    ],
)
def test_secrets_in_a_file_reject_it_without_echoing_them(tmp_path: Path, extra: dict[str, Any], field: str) -> None:
    path = write(tmp_path, "john_smith.json", {**user("john_smith"), **extra})
    found = discover_users(tmp_path, {})
    assert found.users == ()
    (problem,) = found.problems
    assert problem.message.startswith(f"{path}: {field}: looks like a secret")
    assert "KRAKEN_USER_JOHN_SMITH_API_KEY and KRAKEN_USER_JOHN_SMITH_API_SECRET" in problem.message
    assert_one_line(found)


def test_secret_as_a_field_name_or_free_value_is_not_echoed(tmp_path: Path) -> None:
    write(tmp_path, "a.json", {**user("a"), CANARY * 2: 1})
    write(tmp_path, "b.json", {**user("b"), "name": ["Name", CANARY]})
    write(tmp_path, "c.json", {**user("c"), "disabled_symbols": {"x": CANARY}})
    found = discover_users(tmp_path, {})
    assert len(found.problems) == 3
    assert_one_line(found)


# --- credentials ------------------------------------------------------------------------------

def test_credential_variables_use_the_full_user_id() -> None:
    assert credential_variables(BrokerName.KRAKEN, "john_smith") == {
        "api_key": "KRAKEN_USER_JOHN_SMITH_API_KEY", "api_secret": "KRAKEN_USER_JOHN_SMITH_API_SECRET",
    }
    assert credential_variables(BrokerName.OKX, "ann")["passphrase"] == "OKX_USER_ANN_PASSPHRASE"
    assert alpaca_paper_variable("ann_lee") == "ALPACA_USER_ANN_LEE_PAPER"
    with pytest.raises(ValueError):
        credential_variables(BrokerName.KRAKEN, "John")


@pytest.mark.parametrize("broker", list(BrokerName))
def test_users_need_the_same_parts_as_the_master(broker: BrokerName) -> None:
    assert set(credential_variables(broker, "x")) == set(_CREDENTIAL_VARS[broker])


def test_john_smith_and_john_doe_never_share_keys(tmp_path: Path) -> None:
    write(tmp_path, "john_smith.json", user("john_smith"))
    write(tmp_path, "john_doe.json", user("john_doe"))
    env = {
        **keys("kraken", "john_smith", api_key="smith-key", api_secret="smith-secret"),
        **keys("kraken", "john_doe", api_key="doe-key", api_secret="doe-secret"),
    }
    found = discover_users(tmp_path, env, live=True)
    smith, doe = found.credentials["john_smith"], found.credentials["john_doe"]
    assert smith is not None and doe is not None
    assert smith["api_key"].get_secret_value() == "smith-key"
    assert doe["api_key"].get_secret_value() == "doe-key"
    assert doe["api_secret"].get_secret_value() == "doe-secret"
    assert (found.problems, found.missing_credentials) == ((), ())
    assert sorted(found.secret_values()) == ["doe-key", "doe-secret", "smith-key", "smith-secret"]


def test_first_name_keys_are_not_used_and_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "john_smith.json", user("john_smith"))
    env = {"KRAKEN_USER_JOHN_API_KEY": CANARY, "KRAKEN_USER_JOHN_API_SECRET": CANARY}
    found = discover_users(tmp_path, env, live=True)
    assert found.credentials["john_smith"] is None
    assert found.missing_credentials == ("john_smith",)
    assert _status(found, "john_smith") == "missing_credentials"
    (problem,) = found.problems
    assert problem.path == tmp_path
    assert "KRAKEN_USER_JOHN_API_KEY, KRAKEN_USER_JOHN_API_SECRET: set but read by no loaded user" in problem.message
    assert_one_line(found)


def test_keys_without_any_user_file_are_reported_even_without_the_folder(tmp_path: Path) -> None:
    env = {f"KRAKEN_USER_U{i}_API_KEY": CANARY for i in range(7)} | {"KRAKEN_USER_AGENT": "x", "OKX_API_KEY": "m"}
    found = discover_users(tmp_path / "users", env)
    assert found.users == ()
    (problem,) = found.problems
    assert problem.path == tmp_path / "users"
    assert "KRAKEN_USER_U0_API_KEY, " in problem.message
    assert " and 2 more: set but read by no loaded user" in problem.message
    assert "AGENT" not in problem.message and "OKX_API_KEY" not in problem.message  # not user credentials
    assert_one_line(found)


def test_credentials_are_secret_strings_that_never_print(tmp_path: Path) -> None:
    write(tmp_path, "ann.json", user("ann"))
    found = discover_users(tmp_path, keys("kraken", "ann", api_key=CANARY, api_secret=CANARY + "2"))
    assert CANARY not in repr(found)
    assert CANARY not in str(found.credentials)


def test_partial_credentials_name_the_missing_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "ann.json", user("ann"))
    found = discover_users(tmp_path, keys("kraken", "ann", api_key=CANARY), live=True)
    assert found.credentials["ann"] is None
    assert found.missing_credentials == ("ann",)
    (problem,) = found.problems
    assert problem.message == (
        f"{path}: credentials: KRAKEN_USER_ANN_API_SECRET missing, while KRAKEN_USER_ANN_API_KEY is set"
        " (set every credential of kraken or none)"
    )


def test_okx_needs_a_passphrase(tmp_path: Path) -> None:
    write(tmp_path, "ann.json", user("ann", broker="okx"))
    env = keys("okx", "ann", api_key=CANARY, api_secret=CANARY)
    found = discover_users(tmp_path, env, live=True)
    assert found.credentials["ann"] is None
    assert found.missing_credentials == ("ann",)
    (problem,) = found.problems
    assert "OKX_USER_ANN_PASSPHRASE missing" in problem.message
    assert_one_line(found)

    found = discover_users(tmp_path, {**env, "OKX_USER_ANN_PASSPHRASE": "pass-phrase"}, live=True)
    creds = found.credentials["ann"]
    assert creds is not None and set(creds) == {"api_key", "api_secret", "passphrase"}
    assert (found.problems, found.missing_credentials) == ((), ())


def test_blank_values_mean_not_configured(tmp_path: Path) -> None:
    write(tmp_path, "ann.json", user("ann"))
    found = discover_users(tmp_path, keys("kraken", "ann", api_key="  ", api_secret=""), live=True)
    assert found.problems == ()
    assert found.missing_credentials == ("ann",)


def test_live_mode_lists_enabled_users_without_credentials(tmp_path: Path) -> None:
    write(tmp_path, "ann.json", user("ann"))
    write(tmp_path, "bea.json", user("bea", broker="coinbase"))
    write(tmp_path, "cal.json", user("cal", enabled=False))
    found = discover_users(tmp_path, keys("kraken", "ann", api_key="k", api_secret="s"), live=True)
    assert [u.user_id for u in found.users] == ["ann", "bea", "cal"]  # none dropped
    assert found.missing_credentials == ("bea",)
    assert [_status(found, u) for u in ("ann", "bea", "cal")] == ["ready", "missing_credentials", "disabled"]
    assert found.credentials["bea"] is None and found.credentials["cal"] is None


def test_paper_mode_needs_no_credentials(tmp_path: Path) -> None:
    write(tmp_path, "ann.json", user("ann"))
    write(tmp_path, "bea.json", user("bea", broker="okx"))
    found = discover_users(tmp_path, {})
    assert [u.user_id for u in found.users] == ["ann", "bea"]
    assert found.missing_credentials == ()
    assert found.problems == ()
    assert {_status(found, "ann"), _status(found, "bea")} == {"ready"}


def test_alpaca_paper_flag(tmp_path: Path) -> None:
    for name in ("ann", "bea", "cal"):
        write(tmp_path, f"{name}.json", user(name, broker="alpaca"))
    write(tmp_path, "dan.json", user("dan"))
    env = {alpaca_paper_variable("bea"): "False", alpaca_paper_variable("cal"): "maybe"}
    found = discover_users(tmp_path, env)
    assert dict(found.alpaca_paper) == {"ann": True, "bea": False, "cal": True}  # a typo stays on paper
    (problem,) = found.problems
    assert problem.message.startswith(f"{tmp_path / 'cal.json'}: ALPACA_USER_CAL_PAPER: must be true or false")


def test_environment_with_dotenv_lets_the_process_environment_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("KRAKEN_USER_ANN_API_KEY=from-file\nKRAKEN_USER_ANN_API_SECRET=file-secret\n")
    monkeypatch.setenv("KRAKEN_USER_ANN_API_KEY", "from-process")
    env = environment_with_dotenv(tmp_path / ".env")
    assert env["KRAKEN_USER_ANN_API_KEY"] == "from-process"
    assert env["KRAKEN_USER_ANN_API_SECRET"] == "file-secret"
    assert "KRAKEN_USER_ANN_API_SECRET" not in environment_with_dotenv(tmp_path / "missing.env")


def test_default_environment_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "ann.json", user("ann"))
    monkeypatch.setenv("KRAKEN_USER_ANN_API_KEY", "k")
    monkeypatch.setenv("KRAKEN_USER_ANN_API_SECRET", "s")
    assert discover_users(tmp_path).credentials["ann"] is not None


# --- demo users -------------------------------------------------------------------------------

def test_demo_users_are_valid_and_documented() -> None:
    alice, bob = demo_users()
    assert (alice.user_id, alice.broker, alice.paper_equity, alice.risk_multiplier) == (
        "demo_alice", BrokerName.KRAKEN, Decimal(500), Decimal(1))
    assert (bob.user_id, bob.broker, bob.paper_equity, bob.risk_multiplier) == (
        "demo_bob", BrokerName.COINBASE, Decimal(2500), Decimal("0.5"))
    for demo in (alice, bob):
        assert demo.enabled and demo.copy_from_master and demo.source is None
        assert UserAccount.model_validate(demo.model_dump()) == demo
        assert demo.user_id in (users_module.__doc__ or "")


def test_demo_users_round_trip_through_a_file(tmp_path: Path) -> None:
    for demo in demo_users():
        write(tmp_path, f"{demo.user_id}.json", demo.model_dump_json(exclude={"source"}))
    found = discover_users(tmp_path, {})
    assert found.problems == ()
    assert [u.model_copy(update={"source": None}) for u in found.users] == list(demo_users())


def test_the_daemon_redacts_every_users_keys_before_any_user_client_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logging is configured with the masters' secrets; users' keys are only known from their files.
    from nija import build, logs
    from nija.config import load_settings
    from nija.store import Store

    monkeypatch.setattr(logs, "_secrets", logs._secrets)  # restored after the test
    users = tmp_path / "users"
    write(users, "john_smith.json", user("john_smith"))
    monkeypatch.chdir(tmp_path)  # no project .env
    for name, value in keys("kraken", "john_smith", api_key="smith-canary-key", api_secret="smith-canary-secret").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NIJA_USERS_DIR", str(users))
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    logs.configure_logging("json", "info", settings.secret_values())
    store = Store(tmp_path / "data" / "nija.db")
    try:
        build.build_copy_engine(settings, "live", store, [], build.Shared(), logs.get_logger("test"))
    finally:
        store.close()
    error = logs.redact_text("kraken refused smith-canary-key / smith-canary-secret")
    assert "canary" not in error and error.count(logs.REDACTED) == 2
