"""Kraken public endpoints as the real ccxt client reads them."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.sim.clients import ccxt_client
from tests.sim.model import Candle, Market
from tests.sim.simulator import Simulator


def test_load_markets_calls_assets_and_asset_pairs_and_maps_kraken_names(simulator: Simulator) -> None:
    client = ccxt_client(simulator.url("kraken"), "kraken")
    markets = client.load_markets()

    assert [r.path for r in simulator.requests("kraken")] == ["/0/public/Assets", "/0/public/AssetPairs"]
    btc = markets["BTC/USD"]
    assert (btc["id"], btc["altname"], btc["wsId"]) == ("XXBTZUSD", "XBTUSD", "XBT/USD")
    assert btc["precision"] == {"amount": 1e-08, "price": 0.1}
    assert btc["limits"]["amount"]["min"] == 0.00005 and btc["limits"]["cost"]["min"] == 0.5
    assert btc["taker"] == 0.0026
    assert markets["SOL/USD"]["id"] == "SOLUSD"
    assert client.amount_to_precision("BTC/USD", 0.123456789) == "0.12345678"


def test_an_added_market_and_its_price_are_served(simulator: Simulator) -> None:
    doge = Market("DOGE/USD", "DOGE", "USD", 7, 8, Decimal("20"), Decimal("0.5"))
    simulator.add_market("kraken", doge, Decimal("0.1"))
    client = ccxt_client(simulator.url("kraken"), "kraken")

    assert client.load_markets()["DOGE/USD"]["id"] == "XDGUSD"
    assert client.fetch_ticker("DOGE/USD")["last"] == 0.1


def test_fetch_tickers_is_one_batched_request(simulator: Simulator) -> None:
    simulator.set_price("kraken", "BTC/USD", Decimal("61234.5"))
    client = ccxt_client(simulator.url("kraken"), "kraken")
    client.load_markets()
    simulator.clear_requests()

    tickers = client.fetch_tickers(["BTC/USD", "ETH/USD", "SOL/USD"])

    assert {s: t["last"] for s, t in tickers.items()} == {"BTC/USD": 61234.5, "ETH/USD": 3000.0, "SOL/USD": 150.0}
    [request] = simulator.requests("kraken")
    assert request.path == "/0/public/Ticker"
    assert request.params == {"pair": "XXBTZUSD,XETHZUSD,SOLUSD"}


def test_unknown_pair_is_kraken_unknown_asset_pair(simulator: Simulator) -> None:
    client = ccxt_client(simulator.url("kraken"), "kraken")
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        client.public_get_ticker({"pair": "NOPEUSD"})


def test_fetch_ohlcv_synthesizes_flat_candles_around_the_price(simulator: Simulator) -> None:
    simulator.set_price("kraken", "ETH/USD", Decimal("2500"))
    client = ccxt_client(simulator.url("kraken"), "kraken")

    candles = client.fetch_ohlcv("ETH/USD", "5m")

    assert len(candles) == 720
    assert all(b[0] - a[0] == 300_000 for a, b in zip(candles, candles[1:], strict=False))
    assert candles[-1][1:5] == [2500.0, 2502.5, 2497.5, 2500.0]
    [request] = simulator.requests("kraken", path_contains="OHLC")
    assert request.params == {"pair": "XETHZUSD", "interval": "5"}


def test_loaded_candles_are_served_with_since_and_set_the_price(simulator: Simulator) -> None:
    start = 1_767_225_600
    candles = [
        Candle(start + i * 300, Decimal(100 + i), Decimal(101 + i), Decimal(99 + i), Decimal("100.5") + i, Decimal(7))
        for i in range(10)
    ]
    simulator.load_candles("kraken", "SOL/USD", candles)
    client = ccxt_client(simulator.url("kraken"), "kraken")

    got = client.fetch_ohlcv("SOL/USD", "5m", since=(start + 5 * 300) * 1000)

    assert [c[0] // 1000 for c in got] == [start + i * 300 for i in range(5, 10)]
    assert got[-1] == [(start + 9 * 300) * 1000, 109.0, 110.0, 108.0, 109.5, 7.0]
    assert simulator.price("kraken", "SOL/USD") == Decimal("109.5")


def test_fetch_time_and_status(simulator: Simulator) -> None:
    client = ccxt_client(simulator.url("kraken"), "kraken")
    assert abs(client.fetch_time() - client.milliseconds()) < 5_000
    assert client.fetch_status()["status"] == "ok"
