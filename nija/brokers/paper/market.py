"""What a paper market is: the `MarketSource` protocol, the simulated venue's trading rules, and
the candle helpers the replayed and synthetic markets share.

Market time moves only when `advance()` is called (one candle per broker cycle). Served arrays
are read-only views, so a caller can never change what another call sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, Protocol, runtime_checkable

import numpy as np

# One class, not a look-alike: the broker loop catches base.MarketDataError to fail just that cycle.
# Messages raised here name the file or symbol, the line when there is one, and the problem.
from nija.brokers.base import MarketDataError
from nija.models import Candles, MarketRules

__all__ = [
    "CANDLE_COLUMNS",
    "MarketDataError",
    "MarketSource",
    "candle_window",
    "last_close",
    "paper_market_rules",
    "read_only_candles",
    "split_symbol",
]

CANDLE_COLUMNS: Final = 6  # timestamp, open, high, low, close, volume
_AMOUNT_STEP: Final = Decimal("0.00000001")
_PRICE_STEP_MIN: Final = Decimal("0.00000001")
_PRICE_STEP_MAX: Final = Decimal("0.01")


@runtime_checkable
class MarketSource(Protocol):
    """What a paper broker reads prices from.

    | member           | meaning                                                                |
    |------------------|------------------------------------------------------------------------|
    | `name`           | for the startup log: "replay:<dir>" or "synthetic(seed=N)"              |
    | `timeframe_ms`   | candle length, 300_000 for 5m                                           |
    | `symbols()`      | unified symbols ("BTC/USD"), sorted                                     |
    | `advance()`      | move market time one candle forward (once per broker cycle)             |
    | `now_ms()`       | open time of the latest visible candle                                  |
    | `ohlcv(s, n)`    | last `n` visible candles, oldest first; unknown symbol: MarketDataError |
    | `last_price(s)`  | latest visible close; NaN, inf or <= 0: MarketDataError                 |
    | `exhausted`      | no further candles will come; `advance()` then leaves the market frozen |
    """

    name: str
    timeframe_ms: int

    def symbols(self) -> list[str]:
        """Return the symbols this market serves, sorted."""
        ...

    def advance(self) -> None:
        """Move market time forward one candle."""
        ...

    def now_ms(self) -> int:
        """Return the open time (epoch ms) of the latest visible candle."""
        ...

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Return the last `limit` visible candles of `symbol`, oldest first."""
        ...

    def last_price(self, symbol: str) -> Decimal:
        """Return the close of the latest visible candle of `symbol`."""
        ...

    @property
    def exhausted(self) -> bool:
        """Return True once no further candles will come."""
        ...


def paper_market_rules(symbol: str, price: Decimal) -> MarketRules:
    """Return trading rules for a simulated market quoted around `price`.

    Amounts step by 1e-8 (the finest step of the venues we mirror). Prices keep five significant
    digits, with a step between 1e-8 and 0.01: 0.01 for BTC at 60000, 0.001 at 15, 1e-5 at 0.6,
    1e-8 for 5e-5 (an altcoin quoted in BTC). Orders must be worth at least one unit of quote.
    """
    base, quote = split_symbol(symbol)
    if not price.is_finite() or price <= 0:
        raise ValueError(f"{symbol}: price must be finite and positive, was {price}")
    step = Decimal(1).scaleb(price.adjusted() - 4)
    price_step = min(max(step, _PRICE_STEP_MIN), _PRICE_STEP_MAX)
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        min_amount=_AMOUNT_STEP,
        min_cost=Decimal(1),
        amount_step=_AMOUNT_STEP,
        price_step=price_step,
    )


def split_symbol(symbol: str) -> tuple[str, str]:
    """Return the base and quote of a "BASE/QUOTE" symbol; ValueError for any other shape."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"symbol must look like BASE/QUOTE, was {symbol!r}")
    return base, quote


def candle_window(candles: Candles, end: int, limit: int) -> Candles:
    """Slice the `limit` candles before index `end`: views, no copy."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, was {limit}")
    start = max(0, end - limit)
    return Candles(
        candles.ts[start:end],
        candles.open[start:end],
        candles.high[start:end],
        candles.low[start:end],
        candles.close[start:end],
        candles.volume[start:end],
    )


def last_close(symbol: str, candles: Candles, end: int) -> Decimal:
    """Return the close at index `end - 1` as Decimal, refusing values no venue would quote."""
    if end <= 0:
        raise MarketDataError(f"{symbol}: no candle visible yet at this market time")
    close = float(candles.close[end - 1])
    if not math.isfinite(close) or close <= 0:
        ts = int(candles.ts[end - 1])
        raise MarketDataError(f"{symbol}: close of candle {ts} must be finite and positive, was {close}")
    return Decimal(str(close))  # via str: 0.1 stays 0.1, not its binary expansion


def read_only_candles(columns: Sequence[np.ndarray]) -> Candles:
    """Freeze contiguous copies of the six columns, so served views cannot be written through."""
    arrays = []
    for column in columns:
        array = np.array(column, dtype=np.float64, copy=True, order="C")
        array.flags.writeable = False
        arrays.append(array)
    return Candles(*arrays)
