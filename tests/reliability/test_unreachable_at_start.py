"""An unreachable venue at start is retried like any failed cycle (not after the funding re-check);
a broker that could not be set up is set up again with backoff; status exits 2 with the reasons."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path

import structlog

from nija.brokers.base import BrokerError, TransientError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.models import MASTER_ACCOUNT, BrokerHealth, BrokerName, HealthStatus
from nija.status import main as status_main
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.supervisor import Supervisor
from tests.fakes import StubMarket

LOG = structlog.get_logger("test")


class _Unreachable(PaperBroker):
    """The venue does not answer for its first `down` balance reads."""

    down = 3

    def balance_snapshot(self):
        if self.down > 0:
            self.down -= 1
            raise TransientError("kraken: connection refused")
        return super().balance_snapshot()


def _loop(store: Store, tmp_path: Path, name: BrokerName, cls: type[PaperBroker], cash: str = "1000") -> BrokerLoop:
    broker = cls(name, MASTER_ACCOUNT, store, StubMarket({"BTC/USD": "100"}), fee_schedule(name), starting_cash=Decimal(cash))
    config = LoopConfig(cycle_seconds=0.05, minimum_funded_balance=Decimal(10), max_concurrent_positions=3, data_dir=tmp_path)
    return BrokerLoop(broker, store, config, LOG.bind(broker=str(name)), threading.Event())


def test_an_unreachable_venue_at_start_is_retried_every_cycle_not_after_the_recheck(store: Store, tmp_path: Path) -> None:
    down = _loop(store, tmp_path, BrokerName.KRAKEN, _Unreachable)
    poor = _loop(store, tmp_path, BrokerName.COINBASE, PaperBroker, cash="5")
    sup = Supervisor([down, poor], store, LOG, funding_recheck_seconds=600.0, summary_seconds=3600)
    sup.start()
    assert set(sup.threads) == {"broker-kraken"}  # the unfunded one waits for the 10-minute re-check
    health = {h.broker: h for h in store.health()}
    assert health[BrokerName.COINBASE].status is HealthStatus.UNFUNDED
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and down.health.current.cycles_ok < 1:
        time.sleep(0.02)
    assert down.health.current.cycles_ok >= 1  # its cycles (exits first) ran as soon as the venue answered
    assert down.health.current.status is HealthStatus.HEALTHY
    assert sup.stop(5.0) == []


def test_a_broker_that_failed_to_set_up_is_set_up_again_with_backoff(store: Store, tmp_path: Path) -> None:
    store.daemon_started(os.getpid(), "paper", 0.05)
    failed = BrokerHealth(broker=BrokerName.KRAKEN, account=MASTER_ACCOUNT, status=HealthStatus.FAILED,
                          last_error="BrokerError: no candles")
    store.save_health(failed)
    attempts: list[float] = []

    def setup(name: BrokerName) -> BrokerLoop:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise BrokerError(f"{name}: venue unreachable (attempt {len(attempts)})")
        return _loop(store, tmp_path, name, PaperBroker)

    sup = Supervisor([], store, LOG, failed_at_start=[failed], setup=setup, setup_retry_seconds=0.05, summary_seconds=3600)
    sup.start()
    while not attempts:
        sup.tick()
        time.sleep(0.01)
    # Every broker failed to set up: the daemon stays up; status exits 2 with the latest reason.
    out = io.StringIO()
    assert status_main(["--data-dir", str(tmp_path / "data"), "--json"], out=out) == 2
    [row] = json.loads(out.getvalue())["brokers"]
    assert row["status"] == "failed" and row["last_error"] == "BrokerError: kraken: venue unreachable (attempt 1)"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "broker-kraken" not in sup.threads:
        sup.tick()
        time.sleep(0.01)
    assert len(attempts) == 3 and attempts[2] - attempts[1] > attempts[1] - attempts[0]  # backoff grows
    assert "broker-kraken" in sup.threads
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and store.health()[0].cycles_ok < 1:
        time.sleep(0.02)
    assert store.health()[0].status is HealthStatus.HEALTHY
    assert sup.stop(5.0) == []
