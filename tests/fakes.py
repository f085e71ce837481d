"""Small stubs shared by tests: a market whose prices the test sets by hand."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np

from nija.brokers.base import MarketDataError
from nija.models import BrokerName, Candles, ExecutionReport, OrderStatus
from nija.store import Store


class StubMarket:
    """A MarketSource with hand-set last prices and flat candles (no trend: APEX never enters)."""

    timeframe_ms = 300_000

    def __init__(self, prices: dict[str, str]) -> None:
        self.name = "stub"
        self.prices = {symbol: Decimal(price) for symbol, price in prices.items()}
        self.clock = 1_767_225_600_000
        self.advances = 0

    @property
    def exhausted(self) -> bool:
        return False

    def symbols(self) -> list[str]:
        return sorted(self.prices)

    def advance(self) -> None:
        self.clock += self.timeframe_ms
        self.advances += 1

    def now_ms(self) -> int:
        return self.clock

    def last_price(self, symbol: str) -> Decimal:
        if symbol not in self.prices:
            raise MarketDataError(f"{symbol}: unknown symbol")
        price = self.prices[symbol]
        if not price.is_finite() or price <= 0:
            raise MarketDataError(f"{symbol}: bad price {price}")
        return price

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        price = float(self.last_price(symbol))
        n = limit
        ts = self.clock - self.timeframe_ms * np.arange(n - 1, -1, -1, dtype=np.float64)
        flat = np.full(n, price)
        return Candles(ts, flat, flat * 1.001, flat * 0.999, flat, np.full(n, 100.0))


def set_paper_balances(store: Store, broker: BrokerName, account: str, balances: Mapping[str, Decimal], why: str) -> None:
    """Edit a paper account as the venue would for a deposit or a trade made by hand: set these
    balances (recorded as order `why`)."""
    current = store.paper_balances(broker, account)
    changes = {asset: qty - current.get(asset, Decimal(0)) for asset, qty in balances.items()}
    report = ExecutionReport(client_order_id=why, status=OrderStatus.FILLED)
    assert store.paper_fill(broker, account, changes, report) is not None
