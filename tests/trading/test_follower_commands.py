"""`python -m nija.trade follower disable|enable|resume NAME` and `follower list`: the operator's
commands write the store, a running engine's follower picks them up at its next pass; a resume
is the only way out of a drawdown halt; an unknown NAME is one line and exit 2."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nija import trade
from nija.models import BrokerName
from nija.store import FollowerRiskRecord, Store

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store) -> Path:
    """A data dir with a store (as the daemon leaves it) and two follower files."""
    folder = tmp_path / "users"
    folder.mkdir()
    for user_id, extra in (("alice", {"on_disable": "close"}), ("bob", {"enabled": False})):
        (folder / f"{user_id}.json").write_text(
            json.dumps({"user_id": user_id, "name": user_id.title(), "broker": "kraken", **extra})
        )
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NIJA_USERS_DIR", str(folder))
    return folder


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = trade.main(["follower", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_disable_then_enable_writes_the_operators_override(users: Path, store: Store) -> None:
    code, out, _ = _run("disable", "alice")
    assert code == 0
    assert out.strip() == (
        "alice: disabled by operator; the daemon copies it no new entries from its next pass;"
        " copied positions closed (on_disable: close)"
    )
    assert store.follower_risk(BrokerName.KRAKEN, "alice").enabled_override is False  # type: ignore[union-attr]
    code, out, _ = _run("enable", "alice")
    assert code == 0 and out.strip() == "alice: enabled; entries are copied from the daemon's next pass"
    assert store.follower_risk(BrokerName.KRAKEN, "alice").enabled_override is None  # type: ignore[union-attr]


def test_enable_over_a_file_saying_disabled_overrides_it(users: Path, store: Store) -> None:
    code, out, _ = _run("enable", "bob")
    assert code == 0 and "(overrides its file's enabled: false)" in out
    assert store.follower_risk(BrokerName.KRAKEN, "bob").enabled_override is True  # type: ignore[union-attr]


def test_resume_lifts_the_halt_and_resets_the_breaker(users: Path, store: Store) -> None:
    store.save_follower_risks([FollowerRiskRecord(
        BrokerName.KRAKEN, "alice", high_water_mark=Decimal(1000), halted_reason="drawdown 30.00% below ...",
        halted_at=AT, failures_in_row=5, paused_reason="circuit breaker open: 5 copies failed in a row",
    )])
    code, out, _ = _run("list")
    assert code == 0
    assert out.splitlines() == [
        "alice (kraken): enabled; no entries; halted: drawdown 30.00% below ...; high-water mark 1000",
        "bob (kraken): disabled in its file; no entries",
    ]
    code, out, _ = _run("resume", "alice")
    assert code == 0
    assert out.strip() == (
        "alice: resumed (was halted: drawdown 30.00% below ...); the daemon measures drawdown afresh"
        " from the next equity read"
    )
    row = store.follower_risk(BrokerName.KRAKEN, "alice")
    assert row is not None and row.resumed_at is not None
    assert (row.halted_reason, row.high_water_mark, row.failures_in_row, row.paused_reason) == (None, None, 0, None)
    assert _run("list")[1].splitlines()[0] == "alice (kraken): enabled; entries copied"
    assert "(was neither halted nor paused)" in _run("resume", "alice")[1]


def test_a_follower_known_only_to_the_store_can_be_named(users: Path, store: Store) -> None:
    # A demo user, or one whose file was removed: the daemon registered it in the store.
    store.save_copy_users([{"broker": "coinbase", "user_id": "demo_bob", "state": "healthy", "enabled": True,
                            "equity": None, "available": None, "equity_at": None, "last_error": None}])
    assert _run("disable", "demo_bob")[0] == 0
    assert store.follower_risk(BrokerName.COINBASE, "demo_bob").enabled_override is False  # type: ignore[union-attr]
    assert "demo_bob (coinbase): disabled by operator; no entries" in _run("list")[1]


def test_an_unknown_name_is_one_line_and_exit_2(users: Path) -> None:
    code, out, err = _run("disable", "carol")
    assert (code, out) == (2, "")
    assert err == "nija trade: no follower 'carol' (known: alice, bob)\n"


def test_no_store_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "nowhere"))
    code, _, err = _run("list")
    assert code == 3 and err.startswith("nija trade: no store at ") and err.count("\n") == 1


def test_a_missing_name_or_action_is_a_usage_error() -> None:
    for argv in (["disable"], ["pause", "alice"], []):
        with pytest.raises(SystemExit) as info:
            _run(*argv)
        assert info.value.code == 2
