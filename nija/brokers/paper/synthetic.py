"""SyntheticMarket: a seeded, regime-switching 5-minute paper market for every symbol asked of it.

No network, no wall clock: market time moves one candle per `advance()`, and `resume_at()` moves
it to where a previous run stopped. Two markets built with the same arguments serve identical
prices, whatever the order of calls.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import numpy as np

from nija.brokers.base import MarketDataError
from nija.brokers.paper.market import (
    CANDLE_COLUMNS,
    candle_window,
    last_close,
    read_only_candles,
    split_symbol,
)
from nija.models import Candles

__all__ = ["DEFAULT_SYNTHETIC_SYMBOLS", "SYNTHETIC_START_MS", "SyntheticMarket"]

DEFAULT_SYNTHETIC_SYMBOLS: Final = (
    "BTC/USD",
    "ETH/USD",
    "SOL/USD",
    "XRP/USD",
    "ADA/USD",
    "DOGE/USD",
    "AVAX/USD",
    "LINK/USD",
)
SYNTHETIC_START_MS: Final = 1_767_225_600_000  # 2026-01-01T00:00:00Z: open time of the first synthetic candle

_TIMEFRAME_MS: Final = 300_000
_BLOCK_CANDLES: Final = 256  # generated together; the RNG stream is the same whatever the call pattern
_KEPT_CANDLES: Final = 4_096  # about 14 days of 5m candles per symbol: memory stays flat for months
_USD_QUOTES: Final = frozenset({"USD", "USDT", "USDC"})

# Rough 2025-26 price levels and 5m volatility (log-return std in %) for the default symbols.
_BASE_PRICES: Final = {
    "BTC": 60_000.0,
    "ETH": 3_000.0,
    "SOL": 150.0,
    "AVAX": 35.0,
    "LINK": 15.0,
    "XRP": 0.6,
    "ADA": 0.5,
    "DOGE": 0.15,
}
_SIGMA_PCT: Final = {
    "BTC": 0.20,
    "ETH": 0.25,
    "SOL": 0.32,
    "AVAX": 0.35,
    "LINK": 0.32,
    "XRP": 0.30,
    "ADA": 0.32,
    "DOGE": 0.35,
}
_DEFAULT_SIGMA_PCT: Final = 0.30

# Regimes: 0 ranging, 1 trending up, 2 trending down. A regime lasts `mean_candles` on average
# (geometric), then hands over by the row of _NEXT_REGIME. Drift is in units of the symbol's sigma:
# an up-trend gains ~0.3 sigma per candle, enough for EMA9 > EMA21 > EMA50 with ADX well above 20.
_RANGING: Final = 0
_UP: Final = 1
_DOWN: Final = 2
_REGIME_MEAN_CANDLES: Final = (60.0, 55.0, 45.0)
_REGIME_DRIFT_SIGMAS: Final = (0.0, 0.32, -0.30)
_REGIME_VOL_SCALE: Final = (0.8, 1.0, 1.25)  # sell-offs are more violent than rallies
_NEXT_REGIME: Final = ((0.0, 0.55, 0.45), (0.7, 0.0, 0.3), (0.7, 0.3, 0.0))
_RANGE_PULL: Final = 0.08  # per-candle pull back to the level where the range began
_HOME_PULL: Final = 0.0005  # weak pull to the base price, so a daemon running for weeks stays plausible
_T_DOF: Final = 5  # Student-t returns: fat tails like real 5m bars
_WICK_SIGMAS: Final = 0.6
_QUOTE_VOLUME: Final = 250_000.0  # typical quote traded per 5m candle, before the per-symbol factor


class SyntheticMarket:
    """A seeded, regime-switching 5m market: identical for every instance with the same arguments.

    Each symbol has its own RNG seeded from (seed, crc32(symbol)), never Python's salted hash(), and
    is drawn in fixed blocks, so candle k is the same however often and in whatever order callers
    ask. `start_ms` is the open time of the first candle; `history_candles` are visible at start.
    """

    def __init__(
        self,
        symbols: Sequence[str] = DEFAULT_SYNTHETIC_SYMBOLS,
        seed: int = 7,
        history_candles: int = 400,
        start_ms: int = SYNTHETIC_START_MS,
    ) -> None:
        if history_candles < 1:
            raise ValueError(f"history_candles must be >= 1, was {history_candles}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, was {seed}")
        if len(set(symbols)) != len(symbols) or not symbols:
            raise ValueError(f"symbols must be non-empty and distinct, was {list(symbols)}")
        self.name = f"synthetic(seed={seed})"
        self.timeframe_ms = _TIMEFRAME_MS
        self._series = {symbol: _SyntheticSeries(symbol, seed, start_ms) for symbol in symbols}
        self._start_ms = start_ms
        self._visible = history_candles  # candles generated-and-shown since start_ms
        self._extend()

    @property
    def exhausted(self) -> bool:
        """Return False: a synthetic market never runs out."""
        return False

    def symbols(self) -> list[str]:
        """Return the configured symbols, sorted."""
        return sorted(self._series)

    def advance(self) -> None:
        """Reveal one more candle per symbol."""
        self._visible += 1
        self._extend()

    def now_ms(self) -> int:
        """Return the open time of the latest visible candle."""
        return self._start_ms + (self._visible - 1) * self.timeframe_ms

    def resume_at(self, market_ms: int) -> bool:
        """Move market time forward to `market_ms`, the open time of the latest candle a previous
        run showed (its saved clock), so a restart continues instead of replaying the same
        candles. Returns False, leaving the clock alone, when `market_ms` is not a candle time of
        this market or lies before the current one."""
        offset = market_ms - self._start_ms
        if offset < 0 or offset % self.timeframe_ms:
            return False
        visible = offset // self.timeframe_ms + 1
        if visible <= self._visible:
            return False
        self._visible = visible
        self._extend()  # the same blocks in the same order: candle k is the same as before
        return True

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Return the last `limit` visible candles (at most the kept history)."""
        return self._get(symbol).window(self._visible, limit)

    def last_price(self, symbol: str) -> Decimal:
        """Return the latest visible close as Decimal."""
        series = self._get(symbol)
        return last_close(symbol, series.candles, self._visible - series.first_index)

    def _get(self, symbol: str) -> _SyntheticSeries:
        series = self._series.get(symbol)
        if series is None:
            raise MarketDataError(f"{symbol}: unknown symbol, this market has {', '.join(self.symbols())}")
        return series

    def _extend(self) -> None:
        for series in self._series.values():
            series.generate_until(self._visible)


class _SyntheticSeries:
    """One symbol's candles: generated block by block, oldest dropped beyond `_KEPT_CANDLES`."""

    __slots__ = (
        "candles",
        "first_index",
        "_rng",
        "_sigma",
        "_home",
        "_quote_volume",
        "_start_ms",
        "_generated",
        "_regime",
        "_log_close",
        "_range_level",
    )

    def __init__(self, symbol: str, seed: int, start_ms: int) -> None:
        checksum = zlib.crc32(symbol.encode())
        self._rng = np.random.default_rng([seed, checksum])
        base, quote = split_symbol(symbol)
        known = quote in _USD_QUOTES and base in _BASE_PRICES
        # Unknown symbols get a price between 0.1 and 1000 picked by the checksum: stable across runs.
        home = _BASE_PRICES[base] if known else 10 ** (checksum % 4_000 / 1_000 - 1)
        self._sigma = _SIGMA_PCT.get(base, _DEFAULT_SIGMA_PCT) / 100
        self._home = math.log(home)
        self._quote_volume = _QUOTE_VOLUME * (0.5 + (checksum >> 8) % 1_000 / 500)
        self._start_ms = start_ms
        self._generated = 0
        self._regime = _RANGING
        self._log_close = self._home
        self._range_level = self._home
        self.first_index = 0
        self.candles = read_only_candles([np.empty(0)] * CANDLE_COLUMNS)

    def window(self, visible: int, limit: int) -> Candles:
        """Return the last `limit` candles among the first `visible` ever generated."""
        return candle_window(self.candles, visible - self.first_index, limit)

    def generate_until(self, count: int) -> None:
        """Generate whole blocks until at least `count` candles exist."""
        while self._generated < count:
            block = self._block()
            self._generated += _BLOCK_CANDLES
            old_columns = _columns(self.candles)
            joined = [np.concatenate((old, new)) for old, new in zip(old_columns, block, strict=True)]
            dropped = max(0, len(joined[0]) - _KEPT_CANDLES)
            self.first_index += dropped
            self.candles = read_only_candles([column[dropped:] for column in joined])

    def _block(self) -> list[np.ndarray]:
        """Draw the next `_BLOCK_CANDLES` candles; the draw order is fixed, which keeps runs identical."""
        n = _BLOCK_CANDLES
        switch, pick = self._rng.random(n), self._rng.random(n)
        shocks = self._rng.standard_t(_T_DOF, n) * math.sqrt((_T_DOF - 2) / _T_DOF)  # unit variance
        wick_up, wick_down = np.abs(self._rng.normal(size=n)), np.abs(self._rng.normal(size=n))
        volume_noise = self._rng.normal(size=n)
        log_open, log_close, sigma = self._walk(switch, pick, shocks)
        returns = log_close - log_open
        high = np.exp(np.maximum(log_open, log_close) + _WICK_SIGMAS * sigma * wick_up)
        low = np.exp(np.minimum(log_open, log_close) - _WICK_SIGMAS * sigma * wick_down)
        close = np.exp(log_close)
        # Lognormal volume, heavier on big moves: breakouts trade more than quiet bars.
        surge = 1.0 + 1.5 * np.abs(returns) / sigma
        volume = self._quote_volume / close * surge * np.exp(0.4 * volume_noise - 0.08)
        ts = self._start_ms + (self._generated + np.arange(n, dtype=np.float64)) * _TIMEFRAME_MS
        return [ts, np.exp(log_open), high, low, close, volume]

    def _walk(self, switch: np.ndarray, pick: np.ndarray, shocks: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run the regime chain and the log-price path; sequential, as each step needs the last."""
        n = len(shocks)
        log_open, log_close, sigma = np.empty(n), np.empty(n), np.empty(n)
        regime, level, price = self._regime, self._range_level, self._log_close
        for i in range(n):
            if switch[i] < 1.0 / _REGIME_MEAN_CANDLES[regime]:
                regime = _next_regime(regime, pick[i])
                level = price
            step_sigma = self._sigma * _REGIME_VOL_SCALE[regime]
            drift = _REGIME_DRIFT_SIGMAS[regime] * self._sigma - _HOME_PULL * (price - self._home)
            if regime == _RANGING:
                drift -= _RANGE_PULL * (price - level)
            log_open[i] = price
            price += drift + step_sigma * shocks[i]
            log_close[i], sigma[i] = price, step_sigma
        self._regime, self._range_level, self._log_close = regime, level, price
        return log_open, log_close, sigma


def _next_regime(regime: int, pick: float) -> int:
    cumulative = 0.0
    for candidate, probability in enumerate(_NEXT_REGIME[regime]):
        cumulative += probability
        if pick < cumulative:
            return candidate
    return _RANGING  # pick landed on the rounding sliver above the last cumulative sum


def _columns(candles: Candles) -> list[np.ndarray]:
    return [candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume]
