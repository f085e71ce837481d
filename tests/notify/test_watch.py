"""The watcher reads what happened from the store: master fills, final copies per follower (with
reasons), health moves, kill switch, follower pauses, deposits and withdrawals, EMERGENCY_STOP; and a restart goes on from
the saved cursors without repeating anything."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from nija.holdings import TransferSeen
from nija.models import (
    BrokerHealth,
    CopyLedgerEntry,
    CopyStatus,
    EquityMarks,
    HealthStatus,
    utc_now,
)
from nija.notify import StoreWatcher
from nija.store import FollowerRiskRecord, Recording, Store
from nija.trading.guard import EMERGENCY_STOP_FILE
from tests.notify.builders import KRAKEN, master_fill


def _texts(watcher: StoreWatcher) -> list[str]:
    return [note.text for note in watcher.poll()]


def test_master_fills_and_final_copies_become_notes(store: Store, tmp_path: Path) -> None:
    watcher = StoreWatcher(store, tmp_path)
    signal = master_fill(store, 1)
    store.open_copy_rows(signal.signal_id, KRAKEN, {"alice": "nj-a", "bob": "nj-b", "carol": "nj-c"})
    store.record(Recording(ledger=[
        CopyLedgerEntry(signal.signal_id, "alice", CopyStatus.FILLED, size_filled=Decimal("0.002"),
                        price=Decimal("65010")),
        CopyLedgerEntry(signal.signal_id, "bob", CopyStatus.SKIPPED, reason="below MIN_POSITION_USD"),
        CopyLedgerEntry(signal.signal_id, "carol", CopyStatus.SENT),  # not final: nothing to say yet
    ]))
    notes = watcher.poll()
    assert [n.text for n in notes] == [
        "kraken master: BUY 0.01 BTC/USD @ 65000 (fee 1.69 USD)",
        "kraken alice: copy BUY BTC/USD filled 0.002 @ 65010",
        "kraken bob: copy BUY BTC/USD skipped: below MIN_POSITION_USD",
    ]
    assert [(n.follower, n.alert) for n in notes] == [(None, False), ("alice", False), ("bob", False)]
    store.record(Recording(ledger=[
        CopyLedgerEntry(signal.signal_id, "carol", CopyStatus.FAILED, reason="OrderRejected: insufficient funds"),
    ]))
    [failed] = watcher.poll()
    assert failed.text == "kraken carol: copy BUY BTC/USD failed: OrderRejected: insufficient funds"
    assert (failed.follower, failed.alert) == ("carol", True)
    assert watcher.poll() == []  # each row once, although the next polls look back over it


def test_a_restart_goes_on_from_the_saved_cursors(store: Store, tmp_path: Path) -> None:
    first = StoreWatcher(store, tmp_path)
    master_fill(store, 1)
    assert len(first.poll()) == 1
    master_fill(store, 2)  # stored while the daemon was down, after the last poll
    again = StoreWatcher(store, tmp_path)
    assert _texts(again) == ["kraken master: BUY 0.01 BTC/USD @ 65000 (fee 1.69 USD)"]
    assert again.poll() == []


def test_a_first_run_on_an_old_store_announces_no_history(store: Store, tmp_path: Path) -> None:
    master_fill(store, 1)
    assert StoreWatcher(store, tmp_path).poll() == []
    master_fill(store, 2)  # while notifications were off for two hours
    stale = StoreWatcher(store, tmp_path, clock=lambda: utc_now() + timedelta(hours=2))
    assert stale.poll() == []  # progress that old is not resumed: history is not announced
    master_fill(store, 3)
    assert len(stale.poll()) == 1


def _health(status: HealthStatus, account: str = "master", error: str | None = None) -> BrokerHealth:
    return BrokerHealth(broker=KRAKEN, account=account, status=status, last_error=error)


def test_health_going_to_failed_or_halted_and_recovering(store: Store, tmp_path: Path) -> None:
    watcher = StoreWatcher(store, tmp_path)
    store.save_health(_health(HealthStatus.HEALTHY))
    assert watcher.poll() == []
    store.save_health(_health(HealthStatus.DEGRADED, error="TransientError: timeout"))
    assert watcher.poll() == []  # degraded comes and goes with ordinary cycles
    store.save_health(_health(HealthStatus.FAILED, error="AuthError: invalid key"))
    [failed] = watcher.poll()
    assert (failed.text, failed.alert) == ("kraken master: FAILED: AuthError: invalid key", True)
    assert watcher.poll() == []
    store.save_health(_health(HealthStatus.HEALTHY))
    assert _texts(watcher) == ["kraken master: recovered (healthy, was failed)"]
    store.save_copy_users([{"broker": "kraken", "user_id": "alice", "state": "halted", "enabled": True, "equity": None,
                            "available": None, "equity_at": None, "last_error": None}])
    [halted] = watcher.poll()
    assert (halted.text, halted.follower) == ("kraken alice (follower): HALTED", "alice")


def test_kill_switch_follower_pauses_and_emergency_stop(store: Store, tmp_path: Path) -> None:
    watcher = StoreWatcher(store, tmp_path)
    marks = EquityMarks(high_water_mark=Decimal("1000"), day=utc_now().date(), day_start_equity=Decimal("1000"))
    store.save_risk_marks(KRAKEN, "master", marks, "daily loss 5.2% >= MAX_DAILY_LOSS_PCT 5")
    store.save_follower_risks([
        FollowerRiskRecord(broker=KRAKEN, user_id="alice", halted_reason="drawdown 26% >= 25%"),
        FollowerRiskRecord(broker=KRAKEN, user_id="bob", paused_reason="5 failed copies in a row"),
    ])
    (tmp_path / EMERGENCY_STOP_FILE).write_text("")
    notes = watcher.poll()
    assert sorted(n.text for n in notes) == [
        "EMERGENCY_STOP file present: no entries on any broker (exits continue)",
        "kraken alice: paused by its risk envelope: drawdown 26% >= 25%",
        "kraken bob: paused by its circuit breaker: 5 failed copies in a row",
        "kraken master: kill switch tripped: daily loss 5.2% >= MAX_DAILY_LOSS_PCT 5",
    ]
    assert {n.follower for n in notes} == {None, "alice", "bob"} and all(n.alert for n in notes)
    assert watcher.poll() == []
    store.forget_risk_marks(KRAKEN, "master")  # an operator resumed: the row is gone
    store.resume_follower(KRAKEN, "alice")
    (tmp_path / EMERGENCY_STOP_FILE).unlink()
    restarted = StoreWatcher(store, tmp_path)  # the moves are seen across a restart too
    assert sorted(_texts(restarted)) == [
        "EMERGENCY_STOP file removed: entries allowed again",
        "kraken alice: risk envelope halt lifted",
        "kraken master: kill switch lifted",
    ]


def test_deposits_and_withdrawals_seen_are_announced_once_across_a_restart(store: Store, tmp_path: Path) -> None:
    watcher = StoreWatcher(store, tmp_path)
    marks = EquityMarks(Decimal(6000), date(2026, 1, 1), Decimal(6000))
    seen = TransferSeen(Decimal("-4000.00"), Decimal("6000.00"), utc_now())
    store.save_risk_marks(KRAKEN, "master", marks, None, transfer=seen)
    store.save_follower_risks([FollowerRiskRecord(
        KRAKEN, "alice", high_water_mark=Decimal(1500), transfers=(TransferSeen(Decimal(500), Decimal(1500), utc_now()),),
    )])
    notes = watcher.poll()
    assert [(n.text, n.follower, n.alert) for n in notes] == [
        ("kraken master: withdrawal of 4000 seen, equity now 6000; not trading, so the kill switch's marks"
         " are scaled to it", None, False),
        ("kraken alice: deposit of 500 seen, equity now 1500; not trading, so its drawdown mark is scaled to it",
         "alice", False),
    ]
    assert StoreWatcher(store, tmp_path).poll() == []  # a restart repeats none
