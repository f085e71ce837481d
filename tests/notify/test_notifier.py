"""The notifier: the daily summary on an injected clock (due once, not repeated after a restart),
start and stop messages, and the thread stopping promptly once the stop flag is set."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from nija.models import BalanceSnapshot, BrokerHealth, HealthStatus, utc_now
from nija.notify import Dispatcher, Notifier, StoreWatcher, next_daily_at
from nija.store import Store
from tests.notify.builders import KRAKEN, master_fill
from tests.notify.receiver import Receiver
from tests.notify.test_delivery import FakeClock, Recorder


class UtcClock:
    """A UTC clock a test sets by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_next_daily_at_is_the_next_hh_mm_in_utc() -> None:
    now = datetime(2026, 11, 30, 7, 29, 59, tzinfo=UTC)
    assert next_daily_at(now, "07:30") == datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
    assert next_daily_at(now.replace(minute=30, second=0), "07:30") == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert next_daily_at(now, "00:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # across a month end


def _notifier(store: Store, tmp_path: Path, clock: UtcClock, send: Recorder, daily_at: str | None) -> Notifier:
    dispatcher = Dispatcher(["json://127.0.0.1:9/op"], {"alice": ["json://127.0.0.1:9/alice"]}, batch_seconds=0,
                            send=send, clock=FakeClock())
    watcher = StoreWatcher(store, tmp_path, clock=clock)
    return Notifier(store, watcher, dispatcher, threading.Event(), daily_at=daily_at, clock=clock)


def _daily_store(store: Store) -> None:
    store.save_health(BrokerHealth(broker=KRAKEN, account="master", status=HealthStatus.HEALTHY))
    for equity in ("1000", "1012.5"):
        store.record_equity(KRAKEN, "master", BalanceSnapshot(
            total_equity=Decimal(equity), available=Decimal(equity), locked_in_positions=Decimal(0), taken_at=utc_now(),
        ))
    store.save_copy_users([{"broker": "kraken", "user_id": "alice", "state": "healthy", "enabled": True,
                            "equity": Decimal("512.25"), "available": None, "equity_at": None, "last_error": None}])


def test_the_daily_summary_is_sent_once_at_its_time_and_not_again_after_a_restart(
    store: Store, tmp_path: Path,
) -> None:
    base = utc_now().replace(second=0, microsecond=0)
    daily_at = f"{(base + timedelta(hours=1)):%H:%M}"
    clock, send = UtcClock(base), Recorder()
    notifier = _notifier(store, tmp_path, clock, send, daily_at)
    _daily_store(store)
    master_fill(store, 1)
    notifier.tick()
    notifier.dispatcher.step()
    assert not any("Daily summary" in body for _, _, body in send.sent)

    clock.now = base + timedelta(hours=1)
    notifier.tick()
    clock.now += timedelta(seconds=1)
    notifier.tick()  # due once only
    notifier.dispatcher.step()
    summaries = [(url, body) for url, _, body in send.sent if "Daily summary" in body]
    assert len(summaries) == 2  # the operator's, and alice's own
    operator = next(body for url, body in summaries if url.endswith("/op"))
    assert "kraken master: equity 1,012.50 (+12.50, +1.25%), 1 fills" in operator
    assert "kraken alice: no copies, equity 512.25" in operator
    alice = next(body for url, body in summaries if url.endswith("/alice"))
    assert "kraken master" not in alice and alice.endswith("kraken alice: no copies, equity 512.25")
    assert notifier.next_daily == base + timedelta(days=1, hours=1)

    clock.now += timedelta(minutes=5)
    restarted = _notifier(store, tmp_path, clock, Recorder(), daily_at)
    assert restarted.next_daily == base + timedelta(days=1, hours=1)  # today's was sent: tomorrow's next


def test_no_daily_summary_when_it_is_off(store: Store, tmp_path: Path) -> None:
    clock, send = UtcClock(utc_now()), Recorder()
    notifier = _notifier(store, tmp_path, clock, send, None)
    clock.now += timedelta(days=2)
    notifier.tick()
    notifier.dispatcher.step()
    assert notifier.next_daily is None and send.sent == []


def test_the_thread_announces_start_and_stop_and_ends_soon_after_the_stop_flag(
    store: Store, tmp_path: Path, receiver: Receiver,
) -> None:
    stop = threading.Event()
    dispatcher = Dispatcher([receiver.url()], {}, batch_seconds=3600)
    notifier = Notifier(store, StoreWatcher(store, tmp_path), dispatcher, stop, daily_at=None, poll_seconds=0.1,
                        started_text="NIJA started (paper)")
    notifier.start()
    receiver.wait_for(1)
    master_fill(store, 1)  # inside the batch window: it goes with the stop message
    time.sleep(0.3)
    stop.set()
    assert notifier.join(5)
    messages = [r.payload["message"] for r in receiver.wait_for(2)]
    assert messages[0] == "NIJA started (paper)"
    assert messages[1] == "kraken master: BUY 0.01 BTC/USD @ 65000 (fee 1.69 USD)\nNIJA stopping"
