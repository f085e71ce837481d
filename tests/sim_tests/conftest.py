"""Fixtures for the simulator's own tests: a Kraken account and real ccxt clients aimed at it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import ccxt
import pytest

from tests.sim.clients import ccxt_client
from tests.sim.fixtures import simulator, simulator_session  # noqa: F401
from tests.sim.model import Account
from tests.sim.simulator import Simulator

KRAKEN_KEY = "kraken-key-1"

KrakenFactory = Callable[..., ccxt.kraken]


@pytest.fixture
def kraken_account(simulator: Simulator) -> Account:  # noqa: F811 - the imported fixture
    """10 000 USD and no BTC on Kraken."""
    return simulator.add_account("kraken", KRAKEN_KEY, balances={"USD": Decimal("10000"), "BTC": Decimal("0")})


@pytest.fixture
def make_kraken(simulator: Simulator, kraken_account: Account) -> KrakenFactory:  # noqa: F811
    """Build real `ccxt.kraken` clients on the simulator (default: the kraken_account key)."""

    def build(api_key: str = KRAKEN_KEY, secret: str | None = None, **config: object) -> ccxt.kraken:
        secret = kraken_account.secret if secret is None else secret
        return ccxt_client(simulator.url("kraken"), "kraken", api_key, secret, **config)

    return build


@pytest.fixture
def kraken(make_kraken: KrakenFactory) -> ccxt.kraken:
    """A real ccxt.kraken client with markets loaded."""
    client = make_kraken()
    client.load_markets()
    return client
