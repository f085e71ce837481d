"""The cheaper-broker comparison: round trips from the one fee table, same dollar market."""

from __future__ import annotations

import pytest

from nija.brokers.fees import configure_fees
from nija.models import BrokerName
from nija.trading.routing import cheaper_broker, same_market


@pytest.fixture(autouse=True)
def _default_table():
    configure_fees({})
    yield
    configure_fees({})


def test_cheaper_broker_compares_round_trips_of_the_same_market() -> None:
    tradable = {BrokerName.OKX: ["BTC/USDT"], BrokerName.BINANCE: ["BTC/USDT", "ETH/USDT"], BrokerName.KRAKEN: ["BTC/USD"]}
    best = cheaper_broker("BTC/USD", BrokerName.COINBASE, tradable)
    assert best is not None and best[0] is BrokerName.BINANCE  # ties (0.25 %) go to the first by name
    assert cheaper_broker("BTC/USD", BrokerName.OKX, tradable) is None  # nothing cheaper than OKX
    assert cheaper_broker("SOL/USD", BrokerName.COINBASE, tradable) is None  # nobody lists it
    assert same_market("BTC/USD", "BTC/USDC") and not same_market("BTC/USD", "BTC/EUR")
    assert not same_market("BTC/USD", "ETH/USD")
