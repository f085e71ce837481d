"""PriceBoard: the paper market's current prices, published by the master's thread and read by
the copy users' paper accounts of the same broker.

A paper market advances in its master's thread; copy users trade on other threads and must see
the same prices without touching that market. The board holds an immutable snapshot that is
swapped whole (an atomic reference assignment), so readers never see half an update.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import numpy as np

from nija.brokers.base import MarketDataError
from nija.models import Candles

__all__ = ["BoardMarket", "PriceBoard"]


class PriceBoard:
    """Last prices of one paper market; written by one thread, read by many."""

    def __init__(self) -> None:
        self._prices: Mapping[str, Decimal] = MappingProxyType({})
        self._now_ms = 0

    def publish(self, prices: Mapping[str, Decimal], now_ms: int) -> None:
        """Replace the snapshot (called by the master's paper account after each market step)."""
        self._prices, self._now_ms = MappingProxyType(dict(prices)), now_ms

    @property
    def prices(self) -> Mapping[str, Decimal]:
        return self._prices

    @property
    def now_ms(self) -> int:
        return self._now_ms


class BoardMarket:
    """A read-only `MarketSource` over a `PriceBoard`: what a copy user's paper account trades on."""

    timeframe_ms = 300_000
    exhausted = False

    def __init__(self, board: PriceBoard, name: str) -> None:
        self._board = board
        self.name = f"board:{name}"

    def symbols(self) -> list[str]:
        return sorted(self._board.prices)

    def advance(self) -> None:
        """The master's market moves; this view follows it."""

    def now_ms(self) -> int:
        return self._board.now_ms

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Copy users run no strategy: no candles."""
        return Candles.from_rows(np.empty((0, 6)))

    def last_price(self, symbol: str) -> Decimal:
        price = self._board.prices.get(symbol)
        if price is None:
            raise MarketDataError(f"{symbol}: no price published yet")
        return price
