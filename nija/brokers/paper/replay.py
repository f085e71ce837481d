"""ReplayMarket: a paper market replaying OHLCV CSV files, all files aligned by timestamp.

No network, no wall clock: market time moves one candle per `advance()`, and `resume_at()` moves
it to where a previous run stopped. Two replays of the same directory serve identical prices. A malformed file is refused when loaded with a message naming
the file, the line when there is one, and the problem; bad prices fail when served.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

import numpy as np

from nija.brokers.base import MarketDataError
from nija.brokers.paper.market import (
    CANDLE_COLUMNS,
    candle_window,
    last_close,
    read_only_candles,
)
from nija.models import Candles

__all__ = ["ReplayMarket"]

_CSV_HEADER: Final = "timestamp,open,high,low,close,volume"
# Lowercase units only: in ccxt's vocabulary "1M" is a month, which has no fixed length.
_UNIT_MS: Final = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_FILE_STEM: Final = re.compile(r"(?P<base>[^-]+)-(?P<quote>[^-]+)-(?P<count>[1-9]\d*)(?P<unit>[mhdw])")


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
        series = {symbol: _load_csv(path) for path, symbol, _ in files}
        self._start(f"replay:{directory}", _common_timeframe(files), series, warmup_candles)

    @classmethod
    def from_series(
        cls, name: str, timeframe_ms: int, series: Mapping[str, Candles], warmup_candles: int = 300
    ) -> ReplayMarket:
        """Replay candles already loaded (and checked) by the caller, e.g. the backtest's loader,
        with the same clock as a replay directory."""
        if warmup_candles < 0:
            raise ValueError(f"warmup_candles must be >= 0, was {warmup_candles}")
        if not series:
            raise MarketDataError(f"{name}: no candle series to replay")
        market = cls.__new__(cls)
        market._start(name, timeframe_ms, dict(series), warmup_candles)
        return market

    def _start(self, name: str, timeframe_ms: int, series: dict[str, Candles], warmup_candles: int) -> None:
        self.name = name
        self.timeframe_ms = timeframe_ms
        self._series = series
        self._symbols = tuple(sorted(series))  # asked several times a cycle; the files never change
        self._times = np.unique(np.concatenate([candles.ts for candles in self._series.values()]))
        first_clock = self._times[0] + warmup_candles * self.timeframe_ms
        self._position = min(int(np.searchsorted(self._times, first_clock)), len(self._times) - 1)
        self._exhausted = False
        self._visible_end: dict[str, int] = {}
        # What ohlcv() and last_price() served, with the clock position they were served at: a
        # cycle asks for the same window and price several times (a backtest: ~100,000 times a
        # symbol-year), and both are functions of the clock alone. Used only at that position.
        self._windows: dict[tuple[str, int], tuple[int, Candles]] = {}
        self._prices: dict[str, tuple[int, Decimal]] = {}
        self._refresh_visible()

    @property
    def exhausted(self) -> bool:
        """Return True once `advance()` found no further candle in any file."""
        return self._exhausted

    def symbols(self) -> list[str]:
        """Return the symbols parsed from the file names, sorted."""
        return list(self._symbols)  # the caller's own list

    def advance(self) -> None:
        """Move the clock to the next candle time; at the end, mark exhausted and stay put."""
        if self._position + 1 < len(self._times):
            self._position += 1
            self._refresh_visible()
        else:
            self._exhausted = True

    def now_ms(self) -> int:
        """Return the open time of the latest visible candle."""
        return self._now_ms

    def resume_at(self, market_ms: int) -> bool:
        """Move the clock forward to `market_ms`, the latest candle time a previous run showed
        (its saved clock), so a restart continues the replay instead of starting it over (a replay
        that had ended stays at its end). Returns False, leaving the clock alone, when no file has
        a candle at `market_ms` or it lies before the current clock."""
        position = int(np.searchsorted(self._times, market_ms))
        if position >= len(self._times) or int(self._times[position]) != market_ms or position <= self._position:
            return False
        self._position = position
        self._refresh_visible()
        return True

    def ohlcv(self, symbol: str, limit: int) -> Candles:
        """Return the last `limit` candles at or before the clock (fewer at the start)."""
        position, served = self._position, self._windows.get((symbol, limit))
        if served is not None and served[0] == position:
            return served[1]
        window = candle_window(self._candles(symbol), self._visible_end[symbol], limit)
        self._windows[(symbol, limit)] = (position, window)
        return window

    def last_price(self, symbol: str) -> Decimal:
        """Return the latest visible close; MarketDataError if it is NaN, inf or not positive."""
        position, served = self._position, self._prices.get(symbol)
        if served is not None and served[0] == position:
            return served[1]
        price = last_close(symbol, self._candles(symbol), self._visible_end[symbol])  # a refusal raises, never kept
        self._prices[symbol] = (position, price)
        return price

    def _candles(self, symbol: str) -> Candles:
        candles = self._series.get(symbol)
        if candles is None:
            raise MarketDataError(f"{symbol}: unknown symbol, this replay has {', '.join(self.symbols())}")
        return candles

    def _refresh_visible(self) -> None:
        # One binary search per file per advance, so ohlcv() is a dict lookup and a slice. The
        # clock's time too is kept as `now_ms()` answers it: asked several times a cycle.
        clock = self._times[self._position]
        self._now_ms = int(clock)
        for symbol, candles in self._series.items():
            self._visible_end[symbol] = int(candles.ts.searchsorted(clock, side="right"))  # np.searchsorted's own call


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
    if rows.shape[1] != CANDLE_COLUMNS:
        raise MarketDataError(f"{path}: rows must have {CANDLE_COLUMNS} values, were {rows.shape[1]}")
    _check_timestamps(path, rows[:, 0])
    return read_only_candles([rows[:, i] for i in range(CANDLE_COLUMNS)])


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
                if len(fields) != CANDLE_COLUMNS:
                    raise ValueError
                for field in fields:
                    float(field)
            except ValueError:
                return f"line {reader.line_num}: expected {CANDLE_COLUMNS} numbers, was {','.join(fields)!r}"
    return "malformed candle data"
