"""LiveMarket: a paper account's market on real prices, read from a venue's public endpoints.

Wraps a key-less `CcxtBroker`, so paper mode can trade simulated fills on live tickers and
candles (NIJA_PAPER_MARKET=live) without credentials. Market time is wall-clock time.
"""

from __future__ import annotations

import time
from decimal import Decimal

from nija.brokers.ccxt.broker import TIMEFRAME_MS, CcxtBroker
from nija.models import Candles

__all__ = ["LiveMarket"]


class LiveMarket:
    """A `MarketSource` over a venue's public market data."""

    timeframe_ms = TIMEFRAME_MS
    exhausted = False

    def __init__(self, public: CcxtBroker) -> None:
        self._public = public
        self.name = f"live:{public.name}"

    def symbols(self) -> list[str]:
        """The venue's default (or configured) universe."""
        return self._public.symbols()

    def advance(self) -> None:
        """Refresh markets hourly; live prices move by themselves."""
        self._public.begin_cycle()

    def now_ms(self) -> int:
        """Wall-clock time in epoch milliseconds."""
        return int(time.time() * 1000)

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """The venue's last closed 5-minute candles."""
        return self._public.ohlcv(symbol, limit)

    def last_price(self, symbol: str) -> Decimal:
        """The venue's last trade price."""
        return self._public.ticker(symbol).last
