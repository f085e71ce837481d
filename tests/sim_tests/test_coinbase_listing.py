"""The simulator's Coinbase order list and product list speak the real shapes, through the real
ccxt client: `historical/batch` pages past 100 orders by `cursor` while `has_next`, filters by
`product_ids` (not the legacy `product_id`) and `start_date`; USD/USDC products carry
`alias`/`alias_to`.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.sim.clients import ccxt_client
from tests.sim.model import Account, Side
from tests.sim.simulator import Simulator

KEY = "organizations/sim-org/apiKeys/coinbase-listing"


@pytest.fixture
def account(simulator: Simulator) -> Account:
    return simulator.add_account("coinbase", KEY, balances={"USD": Decimal("100000")})


@pytest.fixture
def coinbase(simulator: Simulator, account: Account) -> ccxt.coinbase:
    client = ccxt_client(simulator.url("coinbase"), "coinbase", KEY, account.secret, timeout=300)
    client.load_markets()
    return client


def _orders(simulator: Simulator, symbol: str, count: int, *, age_s: float = 0) -> None:
    venue = simulator.venue("coinbase")
    account = venue.book.account(KEY)
    for i in range(count):
        order = venue.book.place_market_order(account, symbol, Side.BUY, quote_cost=Decimal("10"),
                                              client_order_id=f"{symbol}-{age_s}-{i}")
        order.created_at_s -= age_s


def test_pages_past_100_by_cursor_while_has_next(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    _orders(simulator, "BTC/USD", 130)

    first = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"limit": 100})
    second = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"limit": 100, "cursor": first["cursor"]})

    assert (len(first["orders"]), first["has_next"], first["cursor"]) == (100, True, "100")
    assert (len(second["orders"]), second["has_next"], second["cursor"]) == (30, False, "")
    ids = [o["order_id"] for o in first["orders"] + second["orders"]]
    assert len(set(ids)) == 130


def test_product_ids_filter_and_the_legacy_product_id_is_ignored(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    _orders(simulator, "BTC/USD", 3)
    _orders(simulator, "ETH/USD", 2)

    by_ids = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"product_ids": ["ETH-USD"]})
    both = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"product_ids": ["ETH-USD", "BTC-USD"]})
    legacy = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"product_id": "ETH-USD"})

    assert {o["product_id"] for o in by_ids["orders"]} == {"ETH-USD"} and len(by_ids["orders"]) == 2
    assert len(both["orders"]) == 5
    assert len(legacy["orders"]) == 5  # every product: the legacy name filters nothing here


def test_start_date_leaves_older_orders_out(simulator: Simulator, coinbase: ccxt.coinbase) -> None:
    _orders(simulator, "BTC/USD", 4, age_s=86_400)
    _orders(simulator, "BTC/USD", 2)
    since = coinbase.iso8601(coinbase.milliseconds() - 3_600_000)

    recent = coinbase.v3PrivateGetBrokerageOrdersHistoricalBatch({"start_date": since})

    assert len(recent["orders"]) == 2


def test_usd_and_usdc_products_are_one_book(coinbase: ccxt.coinbase) -> None:
    info = {m["id"]: m["info"] for m in coinbase.markets.values()}

    assert (info["BTC-USD"]["alias"], info["BTC-USD"]["alias_to"]) == ("", ["BTC-USDC"])
    assert (info["BTC-USDC"]["alias"], info["BTC-USDC"]["alias_to"]) == ("BTC-USD", [])
    assert (info["ETH-USD"]["alias"], info["ETH-USD"]["alias_to"]) == ("", [])
    assert coinbase.markets["BTC/USD"]["alias"] == "BTC-USDC"  # ccxt keeps alias_to[0] as the market's alias
