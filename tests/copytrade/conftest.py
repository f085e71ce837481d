"""Fixtures of the copy engine tests: a Kraken simulator with a master and three users."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.copytrade.engine import CopyEngine
from nija.copytrade.followers import Follower
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side, TradeSignal, client_order_id_for
from nija.store import Store
from nija.execution.executor import OrderExecutor
from tests.sim.simulator import Simulator

LOG = structlog.get_logger("copy-test")
PRICE = Decimal("50000")
USERS = {"alice": "1000", "bob": "50000", "carol": "100"}  # USD equity (cash) of each user


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["kraken"]) as simulator:
        simulator.set_price("kraken", "BTC/USD", PRICE)
        yield simulator


def _account(sim: Simulator, tmp_path: Path, name: str, usd: str, markets: SharedMarkets) -> CcxtBroker:
    key, secret = f"{name}-key", base64.b64encode(f"{name}-secret-0123456789".encode()).decode()
    sim.add_account("kraken", key, secret, {"USD": Decimal(usd)})
    return CcxtBroker(BrokerName.KRAKEN, name, {"api_key": key, "api_secret": secret}, markets,
                      api_url=sim.url("kraken"), data_dir=tmp_path, enable_rate_limit=False)


@dataclass
class Master:
    """The Kraken master account of these tests: its orders go through the one execution layer."""

    store: Store
    executor: OrderExecutor
    equity: Decimal = Decimal("10000")

    def submit(self, request: OrderRequest) -> None:
        self.executor.submit(request, master_equity=self.equity)


@pytest.fixture
def setup(sim: Simulator, tmp_path: Path) -> Iterator[tuple[Store, Master, list[Follower]]]:
    markets = SharedMarkets()
    store = Store(tmp_path / "nija.db")
    master = Master(store, OrderExecutor(_account(sim, tmp_path, "master", "10000", markets), store, LOG))
    users = [Follower(name, _account(sim, tmp_path, name, usd, markets)) for name, usd in USERS.items()]
    yield store, master, users
    store.close()


def _master_buy(master: Master, quote: str, tag: str) -> TradeSignal:
    request = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY,
                           quantity=Decimal(quote), unit=QuantityUnit.QUOTE, client_order_id=client_order_id_for(tag))
    master.submit(request)
    return master.store.signals("pending")[-1][0]


def copy_signal(engine: CopyEngine, signal: TradeSignal) -> dict[str, str]:
    """Copy one signal as the engine's pass does (send, then settle what was sent); returns
    user id -> ledger status."""
    statuses = engine.dispatch(signal)
    if any(status in ("pending", "sent", "unknown") for status in statuses.values()):
        engine.settle()
        statuses = {row["user_id"]: row["status"] for row in engine.store.copy_rows(signal.signal_id)}
    return statuses
