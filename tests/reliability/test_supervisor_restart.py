"""The supervisor runs again a broker loop that died of an unexpected exception (backoff, reason
recorded in health); a loop stopped by refused credentials stays stopped; SIGTERM's 5 s holds."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import structlog

from nija.brokers.base import AuthError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.models import BrokerHealth, BrokerName
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.supervisor import Supervisor
from tests.fakes import StubMarket

LOG = structlog.get_logger("test")
CYCLE = 0.05


class _DyingLoop(BrokerLoop):
    """Its first `deaths` cycles raise outside the cycle's isolation (as a broken log sink or a
    locked store did), killing the thread."""

    def __init__(self, *args, deaths: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deaths = deaths
        self.starts: list[float] = []

    def run(self) -> None:
        self.starts.append(time.monotonic())
        super().run()

    def run_cycle(self) -> BrokerHealth:
        if self.deaths > 0:
            self.deaths -= 1
            raise BrokenPipeError(32, "Broken pipe")
        return super().run_cycle()


class _RefusedBroker(PaperBroker):
    reads = 0

    def balance_snapshot(self):
        self.reads += 1
        if self.reads > 1:  # funded at start, then the key is revoked
            raise AuthError("kraken: invalid key")
        return super().balance_snapshot()


def _config(tmp_path: Path) -> LoopConfig:
    return LoopConfig(cycle_seconds=CYCLE, minimum_funded_balance=Decimal(10), max_concurrent_positions=3, data_dir=tmp_path)


def _broker(store: Store, cls: type[PaperBroker] = PaperBroker) -> PaperBroker:
    return cls(BrokerName.KRAKEN, "master", store, StubMarket({"BTC/USD": "100"}), fee_schedule(BrokerName.KRAKEN),
               starting_cash=Decimal(1000))


def _tick_until(sup: Supervisor, condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not condition():
        sup.tick()
        time.sleep(0.01)
    assert condition()


def test_a_loop_that_dies_is_restarted_with_backoff_and_the_reason_is_recorded(store: Store, tmp_path: Path) -> None:
    loop = _DyingLoop(_broker(store), store, _config(tmp_path), LOG.bind(broker="kraken"), threading.Event(), deaths=3)
    sup = Supervisor([loop], store, LOG, summary_seconds=3600)
    sup.start()
    # Dead three times: recorded each time, then it trades again.
    _tick_until(sup, lambda: loop.health.current.cycles_ok >= 3)
    assert len(loop.starts) == 4
    gaps = [b - a for a, b in zip(loop.starts, loop.starts[1:])]
    assert gaps[0] >= CYCLE * 0.9 and gaps[1] >= 2 * CYCLE * 0.9 and gaps[2] >= 4 * CYCLE * 0.9  # doubling
    # The loop counts a cycle before it writes the row: wait for the store to catch up.
    _tick_until(sup, lambda: store.health()[0].cycles_ok >= 3)
    [health] = store.health()
    assert health.last_error == "broker loop died: BrokenPipeError: [Errno 32] Broken pipe"
    started = time.monotonic()
    assert sup.stop(5.0) == [] and time.monotonic() - started < 5


def test_a_loop_stopped_by_refused_credentials_stays_stopped(store: Store, tmp_path: Path) -> None:
    loop = _DyingLoop(_broker(store, _RefusedBroker), store, _config(tmp_path), LOG.bind(broker="kraken"), threading.Event(), deaths=0)
    sup = Supervisor([loop], store, LOG, summary_seconds=3600)
    sup.start()
    _tick_until(sup, lambda: not sup.threads["broker-kraken"].is_alive())
    for _ in range(30):
        sup.tick()
        time.sleep(0.01)
    assert len(loop.starts) == 1 and not sup.threads["broker-kraken"].is_alive()
    [health] = store.health()
    assert health.auth_failed and "AuthError" in (health.last_error or "")
    assert sup.stop(5.0) == []


def test_a_dead_loop_waiting_for_its_restart_stops_at_once(store: Store, tmp_path: Path) -> None:
    config = LoopConfig(cycle_seconds=300.0, minimum_funded_balance=Decimal(10), max_concurrent_positions=3, data_dir=tmp_path)
    loop = _DyingLoop(_broker(store), store, config, LOG.bind(broker="kraken"), threading.Event(), deaths=1)
    sup = Supervisor([loop], store, LOG, summary_seconds=3600)
    sup.start()
    _tick_until(sup, lambda: not sup.threads["broker-kraken"].is_alive())  # restart due in 300 s
    started = time.monotonic()
    assert sup.stop(5.0) == [] and time.monotonic() - started < 1
    assert str(store.health()[0].status) == "stopped"
