"""A base-sized buy's ask is read once per venue and symbol for every client within a second:
a fan-out of many followers' buys costs one ticker read, and a failing read one timeout."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from nija.brokers.ccxt import client as client_module
from nija.brokers.ccxt.client import SharedMarkets

KEY = ("kraken", "")


def test_concurrent_buys_share_one_ask_read_and_a_second_later_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    markets, reads, gate = SharedMarkets(), [], threading.Event()

    def read() -> Decimal:
        reads.append(1)
        gate.wait(1)
        return Decimal(60000 + len(reads))

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(markets.recent_ask, KEY, "BTC/USD", read) for _ in range(32)]
        gate.set()
        asks = {f.result() for f in futures}
    assert reads == [1] and asks == {Decimal(60001)}
    assert markets.recent_ask(KEY, "ETH/USD", read) == Decimal(60002)  # each symbol its own
    monkeypatch.setattr(client_module, "ASK_MAX_AGE_SECONDS", 0.0)
    time.sleep(0.01)
    assert markets.recent_ask(KEY, "BTC/USD", read) == Decimal(60003)


def test_a_failed_read_is_shared_too() -> None:
    markets, reads = SharedMarkets(), []

    def read() -> Decimal:
        reads.append(1)
        raise TimeoutError("kraken Ticker timed out")

    for _ in range(5):
        with pytest.raises(TimeoutError):
            markets.recent_ask(KEY, "BTC/USD", read)
    assert reads == [1]
