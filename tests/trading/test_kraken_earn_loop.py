"""A Kraken coin NIJA bought that moved into Auto Earn (`XBT.F`) is not gone: its position and stop
stay, equity counts it, and an exit the venue refuses says why (research note real-venues.md #3).

The real ccxt client against the simulator, the broker loop and the order executor.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.execution.executor import OrderExecutor
from nija.models import (
    BrokerName,
    HealthStatus,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.pacing import Pace
from tests.sim.simulator import Simulator

LOG = structlog.get_logger("kraken_earn")
KEY = "kraken-earn-loop"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["kraken"]) as simulator:
        yield simulator


def test_a_position_moved_into_auto_earn_keeps_its_stop_and_a_refused_exit_says_why(
    sim: Simulator, tmp_path: Path
) -> None:
    secret = base64.b64encode(b"earn-secret").decode()
    sim.add_account("kraken", KEY, secret, {"USD": Decimal(10000)})
    sim.set_price("kraken", "BTC/USD", Decimal(60000))
    broker = CcxtBroker(
        BrokerName.KRAKEN, "master", {"api_key": KEY, "api_secret": secret}, SharedMarkets(), api_url=sim.url("kraken"),
        data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False, symbols=("BTC/USD",),
    )
    store = Store(tmp_path / "nija.db")
    try:
        buy = OrderRequest(
            broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, quantity=Decimal(500),
            unit=QuantityUnit.QUOTE, client_order_id=client_order_id_for("earn", "entry"),
        )
        outcome = OrderExecutor(broker, store, LOG).submit(buy)
        assert outcome is not None and outcome.order.status is OrderStatus.FILLED
        held = sim.balances("kraken", KEY)["BTC"]
        [position] = store.positions(BrokerName.KRAKEN, "master")
        assert position.qty == held  # sized in base from the ask: the position is what is held

        # Kraken's Auto Earn moves the coins: BalanceEx now shows XBT.F, and XXBT 0
        sim.set_balance("kraken", KEY, "BTC", Decimal(0))
        sim.set_balance("kraken", KEY, "BTC.F", held)
        config = LoopConfig(cycle_seconds=0.01, minimum_funded_balance=Decimal(10), max_concurrent_positions=3,
                            data_dir=tmp_path)
        loop = BrokerLoop(broker, store, config, LOG, threading.Event())

        health = loop.run_cycle()
        assert health.status is HealthStatus.HEALTHY, health.last_error
        assert [p.qty for p in store.positions(BrokerName.KRAKEN, "master")] == [held]  # not `position_gone`
        state = store.strategy_states(BrokerName.KRAKEN, "master")["BTC/USD"]
        assert state is not None  # its stop is kept
        equity = store.latest_equity(BrokerName.KRAKEN, "master")
        assert equity is not None
        assert equity.total_equity == sim.balances("kraken", KEY)["USD"] + held * Decimal(60000)

        sim.set_price("kraken", "BTC/USD", Decimal(50000))  # the stop is hit: the exit is sent
        loop._pacer.forget(Pace.MONITORING)  # read the account afresh, as a later cycle would
        loop.run_cycle()
        sells = [o for o in store.orders_in_status(BrokerName.KRAKEN, "master", list(OrderStatus))
                 if o.request.side is Side.SELL]
        assert sells and all(o.status is OrderStatus.REJECTED for o in sells)
        assert "Earn/staking" in (sells[0].error or "") and "turn off Auto Earn for BTC" in (sells[0].error or "")
        assert [p.qty for p in store.positions(BrokerName.KRAKEN, "master")] == [held]  # still protected, still ours
    finally:
        store.close()
        broker.close()
