"""A follower's risk state and lifecycle: entries blocked (never exits) by disable, opt-out,
drawdown halt and circuit breaker; the halt survives a restart and only an operator lifts it;
the operator's commands and a file edit take effect without a restart."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.base import TransientError
from nija.copytrade.envelope import Breaker, BreakerState, RiskEnvelope
from nija.copytrade.followers import EnabledChange, FileReload, Follower, envelope_for
from nija.models import BalanceSnapshot, BrokerName
from nija.store import FollowerRiskRecord, Store
from nija.users import CopyExisting, OnDisable, UserAccount, load_user_file

D = Decimal
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEFAULTS = RiskEnvelope(max_drawdown_pct=D("20"), max_position_pct=D("50"), max_entry_slippage_pct=D("1"),
                        breaker_failures=3)


class StubAccount:
    """A follower's venue account whose equity the test sets, or whose reads fail."""

    name = BrokerName.KRAKEN
    account = "alice"
    cash_currency = "USD"
    scan_batch = None

    def __init__(self, equity: str = "1000") -> None:
        self.equity = D(equity)
        self.failing = False

    def balance_snapshot(self) -> BalanceSnapshot:
        if self.failing:
            raise TransientError("kraken: 502 Bad Gateway")
        return BalanceSnapshot(total_equity=self.equity, available=self.equity, locked_in_positions=D(0), taken_at=AT)


def _account(**fields: object) -> UserAccount:
    return UserAccount.model_validate({"user_id": "alice", "name": "Alice", "broker": "kraken", **fields})


def _follower(account: UserAccount | None = None, equity: str = "1000") -> Follower:
    return Follower.from_account(account or _account(), StubAccount(equity), DEFAULTS)  # type: ignore[arg-type]


# --- building ------------------------------------------------------------------------------

def test_a_files_limits_win_and_absent_ones_take_the_env_defaults() -> None:
    account = _account(max_drawdown_pct=10, flatten_on_breach=True, max_entry_slippage_pct=D("0.5"),
                       copy_existing="enter", on_disable="close")
    assert envelope_for(account, DEFAULTS) == RiskEnvelope(D("10"), D("50"), D("0.5"), True, 3)
    follower = _follower(account)
    assert follower.envelope == RiskEnvelope(D("10"), D("50"), D("0.5"), True, 3)
    assert (follower.copy_existing, follower.on_disable) == (CopyExisting.ENTER, OnDisable.CLOSE)
    assert envelope_for(_account(), DEFAULTS) == DEFAULTS


def test_build_passes_the_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from nija.build import envelope_defaults
    from nija.config import load_settings

    monkeypatch.setenv("FOLLOWER_MAX_DRAWDOWN_PCT", "15")
    monkeypatch.setenv("FOLLOWER_BREAKER_FAILURES", "2")
    assert envelope_defaults(load_settings()) == RiskEnvelope(D("15"), D("100"), D("1.0"), False, 2)


# --- entries blocked, never exits -----------------------------------------------------------

def test_a_healthy_enabled_follower_takes_entries() -> None:
    assert _follower().entry_blocked(AT) is None


@pytest.mark.parametrize(
    ("fields", "override", "reason"),
    [
        ({"enabled": False}, None, "disabled in its file (enabled: false)"),
        ({}, False, "disabled by operator (python -m nija.trade follower enable alice)"),
        ({"copy_from_master": False}, None, "not copying (copy_from_master: false)"),
    ],
)
def test_disabled_or_opted_out_followers_take_no_entries(fields: dict, override: bool | None, reason: str) -> None:
    follower = _follower(_account(**fields))
    follower.enabled_override = override
    assert follower.entry_blocked(AT) == reason


def test_the_operators_enable_overrides_a_disabled_file() -> None:
    follower = _follower(_account(enabled=False))
    follower.enabled_override = True
    assert follower.is_enabled and follower.entry_blocked(AT) is None


def test_a_drawdown_breach_halts_entries_once_and_the_mark_never_falls() -> None:
    follower = _follower()
    assert follower.observe_equity(D("1000"), AT) is None
    assert follower.observe_equity(D("1250"), AT) is None
    assert follower.high_water_mark == D("1250")
    assert follower.observe_equity(D("1000"), AT) is None  # exactly 20 % below: not a breach
    breach = follower.observe_equity(D("999.99"), AT)
    assert breach == "drawdown 20.00% below the high-water mark 1250 (equity 999.99), above max_drawdown_pct 20"
    assert (follower.halted_reason, follower.halted_at) == (breach, AT)
    assert follower.entry_blocked(AT) == f"halted: {breach} (python -m nija.trade follower resume alice)"
    assert follower.observe_equity(D("500"), AT) is None  # one breach, one halt
    assert follower.observe_equity(D("2000"), AT) is None  # recovering never lifts it
    assert follower.high_water_mark == D("2000")
    assert follower.entry_blocked(AT) is not None


def test_a_balance_read_feeds_the_drawdown_check() -> None:
    follower = _follower(equity="1000")
    follower.read_balance()
    assert follower.measure_read() is None
    follower.broker.equity = D("700")  # type: ignore[attr-defined]
    follower.read_balance()
    assert follower.measure_read() == (
        "drawdown 30.00% below the high-water mark 1000 (equity 700), above max_drawdown_pct 20"
    )
    assert follower.measure_read() is None  # each read is measured once


def test_failed_copies_open_the_breaker_and_a_healthy_read_closes_it() -> None:
    follower = _follower()
    assert follower.copy_finished(False, "kraken: 502") is None
    assert follower.copy_finished(False, "kraken: 502") is None
    opened = follower.copy_finished(False, "kraken: 503")
    assert opened == "circuit breaker open: 3 copies failed in a row (last: kraken: 503)"
    assert follower.entry_blocked(AT) == opened
    follower.broker.failing = True  # type: ignore[attr-defined]
    with pytest.raises(TransientError):
        follower.read_balance()
    assert follower.entry_blocked(AT) == opened  # a failed read proves nothing
    follower.broker.failing = False  # type: ignore[attr-defined]
    follower.read_balance()
    assert follower.breaker == Breaker() and follower.entry_blocked(AT) is None


def test_a_successful_copy_closes_the_breaker_and_ends_a_run() -> None:
    follower = _follower()
    for _ in range(3):
        follower.copy_finished(False, "refused")
    assert follower.breaker.is_open
    follower.copy_finished(True, None)
    assert follower.breaker == Breaker()
    follower.copy_finished(False, "refused")
    follower.copy_finished(True, None)
    follower.copy_finished(False, "refused")
    assert follower.breaker == Breaker(BreakerState.CLOSED, 1)  # never three in a row


# --- persistence and operator controls ------------------------------------------------------

def _saved(store: Store, follower: Follower) -> FollowerRiskRecord | None:
    record = follower.take_risk_record()
    if record is not None:
        store.save_follower_risks([record])
    return store.follower_risk(BrokerName.KRAKEN, "alice")


def test_a_halt_and_an_open_breaker_survive_a_restart(store: Store) -> None:
    follower = _follower()
    follower.restore(None)
    follower.observe_equity(D("1000"), AT)
    breach = follower.observe_equity(D("500"), AT)
    for _ in range(3):
        follower.copy_finished(False, "refused")
    row = _saved(store, follower)
    assert row is not None and (row.high_water_mark, row.halted_reason, row.halted_at) == (D("1000"), breach, AT)
    assert (row.failures_in_row, row.paused_reason) == (3, follower.breaker.reason)
    assert follower.take_risk_record() is None  # nothing changed since

    restarted = _follower()
    restarted.restore(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert (restarted.high_water_mark, restarted.halted_reason, restarted.breaker) == (
        D("1000"), breach, follower.breaker)
    assert restarted.entry_blocked(AT) is not None
    assert restarted.observe_equity(D("400"), AT) is None  # still the one halt


def test_only_an_operator_resume_lifts_the_halt_and_drawdown_restarts_from_the_next_read(store: Store) -> None:
    follower = _follower()
    follower.restore(None)
    follower.observe_equity(D("1000"), AT)
    follower.observe_equity(D("500"), AT)
    _saved(store, follower)
    follower.apply_control(store.follower_risk(BrokerName.KRAKEN, "alice"))  # a pass without a command
    assert follower.halted_reason is not None

    before = store.resume_follower(BrokerName.KRAKEN, "alice")
    assert before is not None and before.halted_reason is not None
    follower.apply_control(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert (follower.halted_reason, follower.high_water_mark, follower.breaker) == (None, None, Breaker())
    assert follower.entry_blocked(AT) is None
    assert follower.observe_equity(D("500"), AT) is None  # the new mark is today's equity
    assert _saved(store, follower).high_water_mark == D("500")  # type: ignore[union-attr]


def test_an_engine_write_made_before_a_resume_never_undoes_it(store: Store) -> None:
    follower = _follower()
    follower.restore(None)
    follower.observe_equity(D("1000"), AT)
    follower.observe_equity(D("500"), AT)
    _saved(store, follower)
    store.resume_follower(BrokerName.KRAKEN, "alice")
    follower.copy_finished(False, "refused")  # the engine moves on before its next pass reads the resume
    stale = follower.take_risk_record()
    assert stale is not None and store.save_follower_risks([stale]) == 0  # dropped
    row = store.follower_risk(BrokerName.KRAKEN, "alice")
    assert row is not None and (row.halted_reason, row.high_water_mark, row.failures_in_row) == (None, None, 0)
    follower.apply_control(row)
    assert follower.halted_reason is None
    follower.copy_finished(False, "refused")
    assert _saved(store, follower).failures_in_row == 1  # type: ignore[union-attr]  # accepted again


def test_disable_and_enable_by_operator_apply_at_the_next_pass_and_never_touch_the_engines_state(
    store: Store,
) -> None:
    follower = _follower()
    follower.restore(None)
    follower.observe_equity(D("1000"), AT)
    _saved(store, follower)
    store.set_follower_enabled(BrokerName.KRAKEN, "alice", False)
    follower.apply_control(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert follower.entry_blocked(AT) == "disabled by operator (python -m nija.trade follower enable alice)"
    follower.observe_equity(D("1100"), AT)
    row = _saved(store, follower)
    assert row is not None and (row.enabled_override, row.high_water_mark) == (False, D("1100"))
    store.set_follower_enabled(BrokerName.KRAKEN, "alice", None)
    follower.apply_control(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert follower.enabled_override is None and follower.entry_blocked(AT) is None
    assert follower.high_water_mark == D("1100")
    follower.apply_control(None)  # no row: nothing to apply
    assert follower.high_water_mark == D("1100")


def test_join_and_leave_changes_are_reported_once_and_remembered_across_restarts(store: Store) -> None:
    follower = _follower()
    follower.restore(None)
    assert follower.take_enabled_change() is EnabledChange.ENABLED  # a new follower joins
    assert follower.take_enabled_change() is None
    store.set_follower_enabled(BrokerName.KRAKEN, "alice", False)  # `follower disable alice`
    follower.apply_control(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert follower.take_enabled_change() is EnabledChange.DISABLED
    _saved(store, follower)

    restarted = _follower()
    restarted.restore(store.follower_risk(BrokerName.KRAKEN, "alice"))
    assert restarted.enabled_override is False and restarted.take_enabled_change() is None
    restarted.enabled_override = None
    assert restarted.take_enabled_change() is EnabledChange.ENABLED

    new_but_disabled = _follower(_account(enabled=False))
    new_but_disabled.restore(None)
    assert new_but_disabled.take_enabled_change() is None  # nothing to leave
    new_but_disabled.enabled = True
    assert new_but_disabled.take_enabled_change() is EnabledChange.ENABLED


def test_a_failed_save_is_taken_again(store: Store) -> None:
    follower = _follower()
    follower.observe_equity(D("1000"), AT)
    first = follower.take_risk_record()
    assert first is not None and follower.take_risk_record() is None
    follower.risk_unsaved(first)
    assert follower.take_risk_record() == first


def test_a_transfer_scales_the_mark_and_is_saved_once_with_it(store: Store) -> None:
    follower = _follower()
    follower.observe_equity(D("1000"), AT)
    follower.observe_equity(D("900"), AT)  # a 10 % drawdown
    follower.observe_equity(D("450"), AT, transfer=D("-450"))  # half withdrawn: still 10 % down
    assert follower.high_water_mark == D("500")
    record = follower.take_risk_record()
    assert record is not None and [t.value for t in record.transfers] == [D("-450")]
    follower.risk_unsaved(record)  # the save failed: the transfer goes with the next record
    follower.observe_equity(D("1450"), AT, transfer=D("1000"))  # a deposit
    again = follower.take_risk_record()
    assert again is not None and [t.value for t in again.transfers] == [D("-450"), D("1000")]
    assert store.save_follower_risks([again]) == 1
    assert [(t.value, t.equity) for t in store.transfers(BrokerName.KRAKEN, "alice")] == [
        (D("-450"), D("450")), (D("1000"), D("1450"))
    ]
    follower.observe_equity(D("1450"), AT)
    assert follower.take_risk_record() is None  # saved: nothing new to record


def test_store_rows_round_trip(store: Store) -> None:
    record = FollowerRiskRecord(
        broker=BrokerName.KRAKEN, user_id="alice", high_water_mark=D("1234.5678"), halted_reason="drawdown",
        halted_at=AT, failures_in_row=4, paused_reason="circuit breaker open", enabled_seen=True,
    )
    assert store.save_follower_risks([record]) == 1
    store.set_follower_enabled(BrokerName.KRAKEN, "alice", False)
    row = store.follower_risk(BrokerName.KRAKEN, "alice")
    assert row is not None and row.updated_at is not None
    assert row == replace(record, enabled_override=False, updated_at=row.updated_at)
    assert store.follower_risks() == {(BrokerName.KRAKEN, "alice"): row}
    assert store.save_follower_risks([record]) == 1  # the engine's save leaves the override alone
    assert store.follower_risk(BrokerName.KRAKEN, "alice").enabled_override is False  # type: ignore[union-attr]
    assert store.follower_risk(BrokerName.OKX, "alice") is None


# --- the follower file, re-read without a restart -------------------------------------------

def _write(path: Path, mtime_ns: int, **fields: object) -> None:
    path.write_text(json.dumps({"user_id": "alice", "name": "Alice", "broker": "kraken", **fields}))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_changed_file_is_applied_and_an_unchanged_one_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "alice.json"
    _write(path, 1_000_000_000, max_drawdown_pct=30)
    loaded = load_user_file(path)
    assert isinstance(loaded, UserAccount)
    follower = _follower(loaded)
    assert follower.reload_if_changed() is None
    _write(path, 2_000_000_000, enabled=False, disabled_symbols=["xrp-usd"], risk_multiplier=0.25,
           max_position_pct=10, copy_existing="enter")
    assert follower.reload_if_changed() == FileReload(True, None)
    assert (follower.enabled, follower.disabled_symbols, follower.risk_multiplier) == (
        False, frozenset({"XRP/USD"}), D("0.25"))
    assert follower.envelope == RiskEnvelope(D("20"), D("10"), D("1"), False, 3)  # 30 % gone: back to .env's
    assert follower.copy_existing is CopyExisting.ENTER
    assert follower.entry_blocked(AT) == "disabled in its file (enabled: false)"
    assert follower.reload_if_changed() is None


def test_a_broken_or_vanished_file_keeps_the_settings_in_force(tmp_path: Path) -> None:
    path = tmp_path / "alice.json"
    _write(path, 1_000_000_000)
    follower = _follower(load_user_file(path))  # type: ignore[arg-type]
    _write(path, 2_000_000_000, max_drawdown_pct=0)
    result = follower.reload_if_changed()
    assert result is not None and not result.applied
    assert result.problem == (
        f"{path}: max_drawdown_pct: Input should be greater than 0, was 0; accepted: a percent within (0, 100];"
        " settings in force kept"
    )
    assert follower.envelope == DEFAULTS
    path.unlink()
    gone = FileReload(False, f"{path}: (file): missing or unreadable; settings in force kept")
    assert follower.reload_if_changed() == gone
    assert follower.reload_if_changed() is None  # said once


def test_a_file_naming_another_user_or_broker_needs_a_restart() -> None:
    follower = _follower()
    problem = follower.reload(_account(broker="okx", enabled=False))
    assert problem is not None and "takes effect at the next restart" in problem
    assert follower.enabled is True
