"""Offline markets for paper mode: a replay of OHLCV CSV files, or a seeded synthetic market.

Market time moves only when `advance()` is called (one candle per broker cycle): no network, no wall
clock. Each paper broker owns its own source; two sources built from the same config serve identical
prices. Served arrays are read-only views, so a caller can never change what another call sees.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import numpy as np

# One class, not a look-alike: the broker loop catches base.MarketDataError to fail just that cycle.
# Messages raised here name the file or symbol, the line when there is one, and the problem.
from nija.brokers.base import MarketDataError
from nija.models import Candles, MarketRules

__all__ = [
    "DEFAULT_SYNTHETIC_SYMBOLS",
    "SYNTHETIC_START_MS",
    "MarketDataError",
    "MarketSource",
    "ReplayMarket",
    "SyntheticMarket",
    "paper_market_rules",
]

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

_CSV_HEADER: Final = "timestamp,open,high,low,close,volume"
_CSV_COLUMNS: Final = 6
# Lowercase units only: in ccxt's vocabulary "1M" is a month, which has no fixed length.
_UNIT_MS: Final = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_FILE_STEM: Final = re.compile(r"(?P<base>[^-]+)-(?P<quote>[^-]+)-(?P<count>[1-9]\d*)(?P<unit>[mhdw])")
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
    base, quote = _split_symbol(symbol)
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


def _split_symbol(symbol: str) -> tuple[str, str]:
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"symbol must look like BASE/QUOTE, was {symbol!r}")
    return base, quote


def _window(candles: Candles, end: int, limit: int) -> Candles:
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


def _price(symbol: str, candles: Candles, end: int) -> Decimal:
    """Return the close at index `end - 1` as Decimal, refusing values no venue would quote."""
    if end <= 0:
        raise MarketDataError(f"{symbol}: no candle visible yet at this market time")
    close = float(candles.close[end - 1])
    if not math.isfinite(close) or close <= 0:
        ts = int(candles.ts[end - 1])
        raise MarketDataError(f"{symbol}: close of candle {ts} must be finite and positive, was {close}")
    return Decimal(str(close))  # via str: 0.1 stays 0.1, not its binary expansion


def _read_only(columns: Sequence[np.ndarray]) -> Candles:
    """Freeze contiguous copies of the six columns, so served views cannot be written through."""
    arrays = []
    for column in columns:
        array = np.array(column, dtype=np.float64, copy=True, order="C")
        array.flags.writeable = False
        arrays.append(array)
    return Candles(*arrays)


# --- replay ------------------------------------------------------------------------------------


class ReplayMarket:
    """Replays every `BASE-QUOTE-TIMEFRAME.csv` in a directory, all files aligned by timestamp.

    The clock walks the sorted union of all files' timestamps, starting `warmup_candles` timeframes
    after the earliest candle. With gapless data each `advance()` adds one timeframe; a stretch in
    which no file has a candle is skipped, so a directory mixing years does not idle for months.
    After the last candle, `advance()` sets `exhausted` and leaves the market frozen: wrapping
    around would invent a price jump.
    """

    def __init__(self, directory: Path, warmup_candles: int = 300) -> None:
        if warmup_candles < 0:
            raise ValueError(f"warmup_candles must be >= 0, was {warmup_candles}")
        files = _candle_files(Path(directory))
        self.name = f"replay:{directory}"
        self.timeframe_ms = _common_timeframe(files)
        self._series = {symbol: _load_csv(path) for path, symbol, _ in files}
        self._times = np.unique(np.concatenate([candles.ts for candles in self._series.values()]))
        first_clock = self._times[0] + warmup_candles * self.timeframe_ms
        self._position = min(int(np.searchsorted(self._times, first_clock)), len(self._times) - 1)
        self._exhausted = False
        self._visible_end: dict[str, int] = {}
        self._refresh_visible()

    @property
    def exhausted(self) -> bool:
        """Return True once `advance()` found no further candle in any file."""
        return self._exhausted

    def symbols(self) -> list[str]:
        """Return the symbols parsed from the file names, sorted."""
        return sorted(self._series)

    def advance(self) -> None:
        """Move the clock to the next candle time; at the end, mark exhausted and stay put."""
        if self._position + 1 < len(self._times):
            self._position += 1
            self._refresh_visible()
        else:
            self._exhausted = True

    def now_ms(self) -> int:
        """Return the open time of the latest visible candle."""
        return int(self._times[self._position])

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Return the last `limit` candles at or before the clock (fewer at the start)."""
        return _window(self._candles(symbol), self._visible_end[symbol], limit)

    def last_price(self, symbol: str) -> Decimal:
        """Return the latest visible close; MarketDataError if it is NaN, inf or not positive."""
        return _price(symbol, self._candles(symbol), self._visible_end[symbol])

    def _candles(self, symbol: str) -> Candles:
        candles = self._series.get(symbol)
        if candles is None:
            raise MarketDataError(f"{symbol}: unknown symbol, this replay has {', '.join(self.symbols())}")
        return candles

    def _refresh_visible(self) -> None:
        # One binary search per file per advance, so ohlcv() is a dict lookup and a slice.
        clock = self._times[self._position]
        for symbol, candles in self._series.items():
            self._visible_end[symbol] = int(np.searchsorted(candles.ts, clock, side="right"))


def _candle_files(directory: Path) -> list[tuple[Path, str, int]]:
    """List (path, symbol, timeframe_ms) for every CSV in `directory`, sorted by name."""
    if not directory.is_dir():
        raise MarketDataError(f"{directory}: candle directory does not exist or is not a directory")
    paths = sorted(directory.glob("*.csv"))
    if not paths:
        raise MarketDataError(f"{directory}: no *.csv candle files in directory")
    return [(path, *_parse_file_name(path)) for path in paths]


def _parse_file_name(path: Path) -> tuple[str, int]:
    """Return the symbol and timeframe in ms encoded in a name like ADA-BTC-5m.csv."""
    match = _FILE_STEM.fullmatch(path.stem)
    if match is None:
        raise MarketDataError(
            f"{path}: file name must be BASE-QUOTE-TIMEFRAME.csv with a timeframe like 5m, 1h or 1d"
        )
    timeframe_ms = int(match["count"]) * _UNIT_MS[match["unit"]]
    return f"{match['base']}/{match['quote']}", timeframe_ms


def _common_timeframe(files: Sequence[tuple[Path, str, int]]) -> int:
    """Return the one timeframe all files share; two timeframes cannot share one clock."""
    first_path, _, timeframe_ms = files[0]
    for path, _, other_ms in files[1:]:
        if other_ms != timeframe_ms:
            raise MarketDataError(
                f"{first_path.name} ({_suffix(first_path)}) and {path.name} ({_suffix(path)})"
                f" have different timeframes; one replay directory holds one timeframe"
            )
    return timeframe_ms


def _suffix(path: Path) -> str:
    return path.stem.rpartition("-")[2]


def _load_csv(path: Path) -> Candles:
    """Load one candle file; prices are not judged here (bad ones fail when served)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = handle.readline().strip()
            if header != _CSV_HEADER:
                raise MarketDataError(f"{path}: header must be {_CSV_HEADER!r}, was {header!r}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below
                rows = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except OSError as error:
        raise MarketDataError(f"{path}: cannot read candle file ({error})") from error
    except ValueError as error:
        raise MarketDataError(f"{path}: {_describe_bad_line(path)}") from error
    if rows.shape[0] == 0:
        raise MarketDataError(f"{path}: no candle rows after the header")
    if rows.shape[1] != _CSV_COLUMNS:
        raise MarketDataError(f"{path}: rows must have {_CSV_COLUMNS} values, were {rows.shape[1]}")
    _check_timestamps(path, rows[:, 0])
    return _read_only([rows[:, i] for i in range(_CSV_COLUMNS)])


def _check_timestamps(path: Path, ts: np.ndarray) -> None:
    finite = np.isfinite(ts)
    if not finite.all():
        row = int(np.argmin(finite))
        line = _line_of_row(path, row)
        raise MarketDataError(f"{path}: line {line}: timestamp must be finite, was {ts[row]}")
    increasing = np.diff(ts) > 0
    if not increasing.all():
        row = int(np.argmin(increasing)) + 1
        raise MarketDataError(
            f"{path}: line {_line_of_row(path, row)}: timestamps must strictly increase,"
            f" was {int(ts[row])} after {int(ts[row - 1])}"
        )


def _line_of_row(path: Path, row: int) -> int:
    """Return the 1-based file line of data row `row`, skipping blank lines as np.loadtxt does."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        seen = -1
        for number, line in enumerate(handle, start=1):
            if number > 1 and line.strip():
                seen += 1
                if seen == row:
                    return number
    return -1  # unreachable for a row np.loadtxt returned


def _describe_bad_line(path: Path) -> str:
    """Find the first line np.loadtxt refused; runs only on the error path."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            if not fields:
                continue
            try:
                if len(fields) != _CSV_COLUMNS:
                    raise ValueError
                for field in fields:
                    float(field)
            except ValueError:
                return f"line {reader.line_num}: expected {_CSV_COLUMNS} numbers, was {','.join(fields)!r}"
    return "malformed candle data"


# --- synthetic ---------------------------------------------------------------------------------

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

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Return the last `limit` visible candles (at most the kept history)."""
        return self._get(symbol).window(self._visible, limit)

    def last_price(self, symbol: str) -> Decimal:
        """Return the latest visible close as Decimal."""
        series = self._get(symbol)
        return _price(symbol, series.candles, self._visible - series.first_index)

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
        base, quote = _split_symbol(symbol)
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
        self.candles = _read_only([np.empty(0)] * _CSV_COLUMNS)

    def window(self, visible: int, limit: int) -> Candles:
        """Return the last `limit` candles among the first `visible` ever generated."""
        return _window(self.candles, visible - self.first_index, limit)

    def generate_until(self, count: int) -> None:
        """Generate whole blocks until at least `count` candles exist."""
        while self._generated < count:
            block = self._block()
            self._generated += _BLOCK_CANDLES
            old_columns = _columns(self.candles)
            joined = [np.concatenate((old, new)) for old, new in zip(old_columns, block, strict=True)]
            dropped = max(0, len(joined[0]) - _KEPT_CANDLES)
            self.first_index += dropped
            self.candles = _read_only([column[dropped:] for column in joined])

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
