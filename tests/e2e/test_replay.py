"""Replay APEX across whole files of real historical candles and check the invariants every
cycle: no position over the caps, every exit sized from holdings, equity identity, no overspend."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker, ReplayMarket
from nija.models import BrokerName, HealthStatus, OrderStatus, Side
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from tests.conftest import shared_candles_dir

FILES = ("ETH-BTC-5m.csv", "LTC-BTC-5m.csv", "XMR-BTC-5m.csv")
MAX_POSITIONS = 2


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    source = shared_candles_dir()
    if not all((source / name).exists() for name in FILES):
        pytest.skip(f"shared candles not found in {source} (set NIJA_TEST_CANDLES_DIR)")
    target = tmp_path / "replay"
    target.mkdir()
    for name in FILES:
        (target / name).symlink_to(source / name)  # read in place, never copied
    return target


def test_apex_replay_keeps_invariants(replay_dir: Path, store: Store, tmp_path: Path) -> None:
    market = ReplayMarket(replay_dir)
    broker = PaperBroker(BrokerName.KRAKEN, "master", store, market, fee_schedule(BrokerName.KRAKEN), starting_cash=Decimal("1000"))
    config = LoopConfig(
        cycle_seconds=0.01, minimum_funded_balance=Decimal("10"), max_concurrent_positions=MAX_POSITIONS, data_dir=tmp_path
    )
    # The replay runs years of candles in seconds: its pacing clock moves a minute per call, so the
    # rate profile's real-time intervals never stretch it.
    minutes = itertools.count(step=60.0)
    loop = BrokerLoop(
        broker, store, config, structlog.get_logger("replay"), threading.Event(), clock=lambda: next(minutes)
    )
    seen_orders: set[str] = set()
    cycles = 0
    while not market.exhausted:
        held_before = dict(broker.holdings())
        health = loop.run_cycle()
        assert health.status is HealthStatus.HEALTHY, health.last_error
        cycles += 1
        positions = store.positions(BrokerName.KRAKEN, "master")
        assert len(positions) <= MAX_POSITIONS
        snapshot = broker.balance_snapshot()
        assert snapshot.total_equity == snapshot.available + snapshot.locked_in_positions
        assert snapshot.available >= 0
        new = [o for o in store.orders_in_status(BrokerName.KRAKEN, "master", list(OrderStatus)) if o.request.client_order_id not in seen_orders]
        for order in new:
            seen_orders.add(order.request.client_order_id)
            if order.request.side is Side.SELL:
                base = order.request.symbol.split("/")[0]
                assert order.request.quantity <= held_before.get(base, Decimal(0))
    orders = store.orders_in_status(BrokerName.KRAKEN, "master", list(OrderStatus))
    buys = [o for o in orders if o.request.side is Side.BUY and o.status is OrderStatus.FILLED]
    sells = [o for o in orders if o.request.side is Side.SELL and o.status is OrderStatus.FILLED]
    assert cycles > 5000
    assert buys and sells, "a whole file of real candles should trade"
    assert len(store.fills(BrokerName.KRAKEN, "master")) == len(buys) + len(sells)
