"""Candle files for the backtest: find them, load them and refuse anything a replay could mistake.

A backtest's figures are only as good as its candles, so this loader is stricter than the
daemon's replay (which trusts its operator's files and fails a cycle on a bad price): the header
must be exactly `timestamp,open,high,low,close,volume`, every row six finite numbers, prices
positive, volume positive, timestamps strictly increasing on the file's timeframe grid, and no
hole longer than `max_gap_candles`. Every refusal is one `CandleError` line naming the file and,
when there is one, the line. Pure apart from reading the files: no clock, no store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from nija.models import Candles

__all__ = [
    "DEFAULT_MAX_GAP_CANDLES",
    "CandleError",
    "CandleFile",
    "candle_paths",
    "load_candle_file",
    "parse_day",
    "symbol_of",
]

HEADER: Final = ("timestamp", "open", "high", "low", "close", "volume")
# Real exchange files miss a candle now and then (no trade in those minutes): ADA-BTC-5m of the
# shared set has a 34-candle hole. Up to this many missing candles the replay just steps over;
# a longer hole would let indicators span a different market, so it is refused.
DEFAULT_MAX_GAP_CANDLES: Final = 36
_UNIT_MS: Final = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_STEM: Final = re.compile(r"(?P<base>[A-Za-z0-9]+)-(?P<quote>[A-Za-z0-9]+)-(?P<count>[1-9]\d*)(?P<unit>[mhd])")


class CandleError(ValueError):
    """A candle file, or the set of them, cannot be backtested; the message is one line."""


@dataclass(frozen=True)
class CandleFile:
    """One checked candle file: its symbol ("ETH/BTC"), timeframe and candles."""

    path: Path
    symbol: str
    timeframe_ms: int
    candles: Candles


def symbol_of(path: Path) -> tuple[str, int]:
    """Return the symbol and timeframe (ms) a name like ETH-BTC-5m.csv encodes."""
    match = _STEM.fullmatch(path.stem)
    if path.suffix != ".csv" or match is None:
        raise CandleError(f"{path}: file name must be BASE-QUOTE-TIMEFRAME.csv, like ETH-BTC-5m.csv")
    return f"{match['base']}/{match['quote']}", int(match["count"]) * _UNIT_MS[match["unit"]]


def candle_paths(sources: Iterable[Path]) -> list[Path]:
    """Expand each source (a directory: its *.csv files; or a file) into candle files, in order."""
    paths: list[Path] = []
    for source in sources:
        if source.is_dir():
            found = sorted(source.glob("*.csv"))
            if not found:
                raise CandleError(f"{source}: no *.csv candle files in directory")
            paths.extend(found)
        elif source.is_file():
            paths.append(source)
        else:
            raise CandleError(f"{source}: no such file or directory")
    symbols: dict[str, Path] = {}
    for path in paths:
        symbol, _ = symbol_of(path)
        if symbol in symbols and symbols[symbol].resolve() != path.resolve():
            raise CandleError(f"{path}: {symbol} is also in {symbols[symbol]}; one file per symbol")
        symbols[symbol] = path
    return list(dict.fromkeys(paths))


def load_candle_file(path: Path, max_gap_candles: int = DEFAULT_MAX_GAP_CANDLES) -> CandleFile:
    """Load and check one candle file; CandleError names the file, the line and the problem."""
    symbol, timeframe_ms = symbol_of(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CandleError(f"{path}: cannot read candle file ({error})") from error
    lines = text.splitlines()
    header = tuple(part.strip() for part in lines[0].split(",")) if lines else ()
    if header != HEADER:
        raise CandleError(f"{path}: line 1: columns must be {','.join(HEADER)}, were {','.join(header) or 'nothing'}")
    rows, numbers = _rows(path, lines)
    if not rows:
        raise CandleError(f"{path}: no candle rows after the header")
    table = np.array(rows, dtype=np.float64)
    _check_timestamps(path, table[:, 0], numbers, timeframe_ms, max_gap_candles)
    candles = Candles(*(np.ascontiguousarray(table[:, i]) for i in range(len(HEADER))))
    return CandleFile(path, symbol, timeframe_ms, candles)


def _rows(path: Path, lines: Sequence[str]) -> tuple[list[list[float]], list[int]]:
    # Parsed by hand rather than np.loadtxt: the first bad value must be named with its line.
    rows: list[list[float]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(HEADER):
            raise CandleError(f"{path}: line {number}: expected {len(HEADER)} values, was {len(fields)}")
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise CandleError(f"{path}: line {number}: values must be numbers, was {line.strip()!r}") from None
        for name, value in zip(HEADER, values, strict=True):
            if not math.isfinite(value):
                raise CandleError(f"{path}: line {number}: {name} must be finite, was {value}")
        if min(values[1:5]) <= 0:
            raise CandleError(f"{path}: line {number}: prices must be positive, was {line.strip()!r}")
        if values[5] <= 0:
            raise CandleError(f"{path}: line {number}: volume must be positive, was {values[5]:g}")
        rows.append(values)
        numbers.append(number)
    return rows, numbers


def _check_timestamps(path: Path, ts: np.ndarray, numbers: Sequence[int], timeframe_ms: int, max_gap: int) -> None:
    steps = np.diff(ts)
    for label, bad in (
        ("duplicate timestamp", steps == 0),
        ("timestamps out of order", steps < 0),
        (f"timestamp off the {timeframe_ms // 60_000}-minute grid", (steps > 0) & (steps % timeframe_ms != 0)),
        (f"gap of more than {max_gap} missing candles", steps > (max_gap + 1) * timeframe_ms),
    ):
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise CandleError(
                f"{path}: line {numbers[row]}: {label}: {int(ts[row])} after {int(ts[row - 1])}"
            )


def parse_day(text: str, *, end: bool = False) -> int:
    """Epoch ms of a YYYY-MM-DD day's start (or, with `end`, of its last millisecond), or of an
    ISO timestamp; UTC unless the text names a zone."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
            return int(moment.timestamp() * 1000) - (1 if end else 0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CandleError(f"date must be YYYY-MM-DD or an ISO timestamp, was {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
