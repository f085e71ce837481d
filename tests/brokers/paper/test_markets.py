"""Tests for the offline paper markets: CSV replay over the shared candles, and the synthetic market."""

from __future__ import annotations

import csv
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from nija.brokers import base
from nija.brokers.paper.market import MarketDataError, MarketSource, paper_market_rules
from nija.brokers.paper.replay import ReplayMarket
from nija.brokers.paper.synthetic import DEFAULT_SYNTHETIC_SYMBOLS, SYNTHETIC_START_MS, SyntheticMarket

FIVE_MINUTES_MS = 300_000
HEADER = "timestamp,open,high,low,close,volume\n"
SHARED_FIRST_TS = 1515560100000  # first candle of every 2018 BTC-quoted file


def _shared_candles_dir() -> Path:
    override = os.environ.get("NIJA_TEST_CANDLES_DIR")
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "candles"
    directory = Path(override) if override else default
    if not directory.is_dir():
        pytest.skip(f"shared candle data not found at {directory} (set NIJA_TEST_CANDLES_DIR)")
    return directory


@pytest.fixture
def shared_dir() -> Path:
    return _shared_candles_dir()


@pytest.fixture
def five_minute_dir(shared_dir: Path, tmp_path: Path) -> Path:
    """The shared 5m files, linked (not copied) into a directory without the 1m file."""
    for path in sorted(shared_dir.glob("*-5m.csv")):
        (tmp_path / path.name).symlink_to(path)
    return tmp_path


def _read_rows(path: Path) -> np.ndarray:
    """Independent reader for expected values: the csv module, no numpy parsing."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array([[float(field) for field in row] for row in rows])


def _write(directory: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = directory / name
    path.write_text(header + "".join(f"{row}\n" for row in rows))
    return path


def _flat_rows(first: int, count: int, close: float = 1.0) -> list[str]:
    """`count` 5m candles starting at candle index `first`, every price equal to `close`."""
    return [f"{(first + i) * FIVE_MINUTES_MS},{close},{close},{close},{close},10" for i in range(count)]


# --- replay over the shared data ---------------------------------------------------------------


def test_replay_parses_symbols_and_timeframe(five_minute_dir: Path) -> None:
    market = ReplayMarket(five_minute_dir)
    assert isinstance(market, MarketSource)
    assert market.symbols() == [
        "ADA/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "TRX/BTC", "XLM/BTC", "XMR/BTC", "XRP/USDT"
    ]
    assert market.timeframe_ms == FIVE_MINUTES_MS
    assert market.name == f"replay:{five_minute_dir}"
    assert market.exhausted is False


def test_replay_warmup_shows_history_before_the_clock(five_minute_dir: Path) -> None:
    market = ReplayMarket(five_minute_dir, warmup_candles=50)
    assert market.now_ms() == SHARED_FIRST_TS + 50 * FIVE_MINUTES_MS
    eth = market.ohlcv("ETH/BTC", 1_000)
    assert len(eth) == 51  # ETH/BTC has no gaps: 50 candles of warmup plus the current one
    assert eth.ts[0] == SHARED_FIRST_TS and eth.ts[-1] == market.now_ms()
    assert (eth.open[0], eth.close[0]) == (0.0984, 0.0994766)  # first row of ETH-BTC-5m.csv
    assert np.all(np.diff(eth.ts) == FIVE_MINUTES_MS)
    # XRP/USDT starts in 2021: nothing visible yet, and no price to quote
    assert len(market.ohlcv("XRP/USDT", 10)) == 0
    with pytest.raises(MarketDataError, match="XRP/USDT"):
        market.last_price("XRP/USDT")


def test_replay_advance_moves_one_candle(five_minute_dir: Path) -> None:
    market = ReplayMarket(five_minute_dir, warmup_candles=100)
    rows = _read_rows(five_minute_dir / "ETH-BTC-5m.csv")
    before = market.ohlcv("ETH/BTC", 20)
    market.advance()
    after = market.ohlcv("ETH/BTC", 20)
    assert market.now_ms() == SHARED_FIRST_TS + 101 * FIVE_MINUTES_MS
    assert np.array_equal(after.ts[:-1], before.ts[1:])
    assert after.ts[-1] == rows[101, 0] == market.now_ms()
    assert np.array_equal(after.close, rows[82:102, 4])
    assert market.last_price("ETH/BTC") == Decimal(str(rows[101, 4]))


def test_replay_aligns_files_by_timestamp(five_minute_dir: Path) -> None:
    market = ReplayMarket(five_minute_dir, warmup_candles=300)
    for _ in range(700):
        market.advance()
    now = market.now_ms()
    assert now == SHARED_FIRST_TS + 1_000 * FIVE_MINUTES_MS
    for symbol in market.symbols():
        rows = _read_rows(five_minute_dir / f"{symbol.replace('/', '-')}-5m.csv")
        visible = market.ohlcv(symbol, 10_000)
        assert len(visible) == int(np.sum(rows[:, 0] <= now)), symbol  # ADA/BTC has gaps, so fewer
        if len(visible):
            assert np.array_equal(visible.close, rows[: len(visible), 4])
            assert visible.ts[-1] <= now


def test_replay_arrays_are_read_only(five_minute_dir: Path) -> None:
    market = ReplayMarket(five_minute_dir, warmup_candles=10)
    with pytest.raises(ValueError):
        market.ohlcv("LTC/BTC", 5).close[0] = 1.0  # one broker must not corrupt another's view


def test_replay_rejects_a_directory_mixing_timeframes(shared_dir: Path) -> None:
    with pytest.raises(MarketDataError, match=r"ADA-BTC-5m\.csv.*UNITTEST-BTC-1m\.csv"):
        ReplayMarket(shared_dir)


def test_replay_two_instances_serve_the_same_market(five_minute_dir: Path) -> None:
    first, second = ReplayMarket(five_minute_dir), ReplayMarket(five_minute_dir)
    for _ in range(3):
        first.advance()
        second.advance()
    assert first.now_ms() == second.now_ms()
    assert np.array_equal(first.ohlcv("XMR/BTC", 300).close, second.ohlcv("XMR/BTC", 300).close)


# --- replay over hand-written files ------------------------------------------------------------


def test_replay_exhausts_and_freezes(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 5))  # candles 0..4
    _write(tmp_path, "BBB-USD-5m.csv", _flat_rows(2, 5, close=2.0))  # candles 2..6
    market = ReplayMarket(tmp_path, warmup_candles=1)
    assert market.now_ms() == FIVE_MINUTES_MS
    assert len(market.ohlcv("BBB/USD", 10)) == 0
    for _ in range(5):
        market.advance()
    assert market.now_ms() == 6 * FIVE_MINUTES_MS and not market.exhausted
    assert len(market.ohlcv("AAA/USD", 10)) == 5 and len(market.ohlcv("BBB/USD", 10)) == 5
    for _ in range(3):
        market.advance()
        assert market.exhausted
        assert market.now_ms() == 6 * FIVE_MINUTES_MS
        assert market.ohlcv("BBB/USD", 10).ts[-1] == 6 * FIVE_MINUTES_MS
        assert market.last_price("BBB/USD") == Decimal("2.0")


def test_replay_skips_stretches_without_any_candle(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 2) + _flat_rows(1_000, 2))
    market = ReplayMarket(tmp_path, warmup_candles=0)
    market.advance()
    market.advance()
    assert market.now_ms() == 1_000 * FIVE_MINUTES_MS  # no 998 idle cycles
    assert len(market.ohlcv("AAA/USD", 10)) == 3


def test_replay_warmup_longer_than_the_data_starts_at_the_last_candle(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 3))
    market = ReplayMarket(tmp_path, warmup_candles=300)
    assert market.now_ms() == 2 * FIVE_MINUTES_MS and len(market.ohlcv("AAA/USD", 300)) == 3
    market.advance()
    assert market.exhausted


def test_replay_serves_bad_closes_but_refuses_to_price_them(tmp_path: Path) -> None:
    rows = _flat_rows(0, 2, close=0.1) + [
        f"{2 * FIVE_MINUTES_MS},0.1,0.1,0.1,nan,10",
        f"{3 * FIVE_MINUTES_MS},0.1,0.1,0.1,0,10",
    ]
    _write(tmp_path, "AAA-USD-5m.csv", rows)
    market = ReplayMarket(tmp_path, warmup_candles=1)
    assert market.last_price("AAA/USD") == Decimal("0.1")
    assert str(market.last_price("AAA/USD")) == "0.1"
    market.advance()
    window = market.ohlcv("AAA/USD", 10)  # served as is: the strategy rejects NaN windows itself
    assert len(window) == 3 and np.isnan(window.close[-1])
    with pytest.raises(MarketDataError, match=r"AAA/USD.*was nan"):
        market.last_price("AAA/USD")
    market.advance()
    with pytest.raises(MarketDataError, match=r"AAA/USD.*was 0\.0"):
        market.last_price("AAA/USD")


def test_replay_rejects_a_bad_header(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 3), header="time,open,high,low,close,volume\n")
    with pytest.raises(MarketDataError, match=r"AAA-USD-5m\.csv: header must be"):
        ReplayMarket(tmp_path)


def test_replay_rejects_timestamps_that_do_not_increase(tmp_path: Path) -> None:
    rows = _flat_rows(0, 3)
    rows.insert(3, rows[2])  # the 4th data row repeats the 3rd: line 5 of the file
    _write(tmp_path, "AAA-USD-5m.csv", rows)
    expected = r"AAA-USD-5m\.csv: line 5: timestamps must strictly increase, was 600000 after 600000"
    with pytest.raises(MarketDataError, match=expected):
        ReplayMarket(tmp_path)


def test_replay_names_the_malformed_line(tmp_path: Path) -> None:
    rows = _flat_rows(0, 3)
    rows[1] = f"{FIVE_MINUTES_MS},1,1,1,oops,10"
    _write(tmp_path, "AAA-USD-5m.csv", rows)
    with pytest.raises(MarketDataError, match=r"AAA-USD-5m\.csv: line 3: expected 6 numbers"):
        ReplayMarket(tmp_path)


def test_replay_rejects_a_file_without_rows(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", [])
    with pytest.raises(MarketDataError, match=r"AAA-USD-5m\.csv: no candle rows"):
        ReplayMarket(tmp_path)


def test_replay_rejects_a_file_name_without_timeframe(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 3))
    _write(tmp_path, "BBB-USD.csv", _flat_rows(0, 3))
    with pytest.raises(MarketDataError, match=r"BBB-USD\.csv: file name must be"):
        ReplayMarket(tmp_path)


def test_replay_rejects_mixed_timeframes_in_hand_written_files(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 3))
    _write(tmp_path, "BBB-USD-1h.csv", _flat_rows(0, 3))
    with pytest.raises(MarketDataError, match=r"AAA-USD-5m\.csv \(5m\) and BBB-USD-1h\.csv \(1h\)"):
        ReplayMarket(tmp_path)


def test_replay_rejects_empty_and_missing_directories(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match=rf"{tmp_path}: no \*\.csv"):
        ReplayMarket(tmp_path)
    with pytest.raises(MarketDataError, match=r"nowhere: candle directory does not exist"):
        ReplayMarket(tmp_path / "nowhere")


def test_replay_unknown_symbol(tmp_path: Path) -> None:
    _write(tmp_path, "AAA-USD-5m.csv", _flat_rows(0, 3))
    market = ReplayMarket(tmp_path, warmup_candles=1)
    assert MarketDataError is base.MarketDataError  # the broker loop catches this one class
    with pytest.raises(MarketDataError, match=r"ZZZ/USD: unknown symbol, this replay has AAA/USD"):
        market.ohlcv("ZZZ/USD", 10)
    with pytest.raises(MarketDataError, match=r"ZZZ/USD: unknown symbol"):
        market.last_price("ZZZ/USD")


# --- synthetic market --------------------------------------------------------------------------


def _all_windows(market: SyntheticMarket, limit: int) -> dict[str, np.ndarray]:
    return {symbol: np.stack(_columns(market, symbol, limit)) for symbol in market.symbols()}


def _columns(market: SyntheticMarket, symbol: str, limit: int) -> list[np.ndarray]:
    c = market.ohlcv(symbol, limit)
    return [c.ts, c.open, c.high, c.low, c.close, c.volume]


def test_synthetic_is_deterministic_per_seed() -> None:
    first, second, other = SyntheticMarket(seed=7), SyntheticMarket(seed=7), SyntheticMarket(seed=8)
    for market in (first, second, other):
        for _ in range(10):
            market.advance()
    assert isinstance(first, MarketSource)
    assert first.name == "synthetic(seed=7)" and first.exhausted is False
    assert first.symbols() == sorted(DEFAULT_SYNTHETIC_SYMBOLS)
    a, b, c = _all_windows(first, 500), _all_windows(second, 500), _all_windows(other, 500)
    for symbol in first.symbols():
        assert a[symbol].shape == (6, 410)
        assert np.array_equal(a[symbol], b[symbol])
        assert not np.array_equal(a[symbol][4], c[symbol][4])
    assert first.last_price("BTC/USD") == second.last_price("BTC/USD") != other.last_price("BTC/USD")


def test_synthetic_does_not_depend_on_how_often_it_is_asked() -> None:
    polled, silent = SyntheticMarket(history_candles=100), SyntheticMarket(history_candles=100)
    for _ in range(600):
        polled.advance()
        polled.ohlcv("ETH/USD", 50)
        silent.advance()
    long_history = SyntheticMarket(history_candles=700)  # same clock, reached without advancing
    assert polled.now_ms() == silent.now_ms() == long_history.now_ms()
    for market in (silent, long_history):
        for symbol, window in _all_windows(market, 700).items():
            assert np.array_equal(window, _all_windows(polled, 700)[symbol])


def test_synthetic_prices_are_realistic() -> None:
    market = SyntheticMarket(history_candles=2_000)
    levels = {"BTC/USD": 60_000, "ETH/USD": 3_000, "SOL/USD": 150, "ADA/USD": 0.5}
    for symbol in market.symbols():
        c = market.ohlcv(symbol, 2_000)
        assert len(c) == 2_000
        for column in (c.open, c.high, c.low, c.close, c.volume):
            assert np.all(np.isfinite(column)) and np.all(column > 0)
        assert np.all(c.low <= np.minimum(c.open, c.close))
        assert np.all(c.high >= np.maximum(c.open, c.close))
        assert np.mean(c.high > np.maximum(c.open, c.close)) > 0.99  # wicks beyond the body
        assert np.array_equal(c.open[1:], c.close[:-1])
        step_pct = np.std(np.diff(np.log(c.close))) * 100
        assert 0.1 < step_pct < 0.45, symbol
        big_moves = np.abs(np.log(c.close / c.open)) > 2 * step_pct / 100
        assert np.median(c.volume[big_moves] * c.close[big_moves]) > np.median(c.volume * c.close)
        if symbol in levels:
            assert levels[symbol] / 2 < c.close[0] < levels[symbol] * 2


def test_synthetic_timestamps_and_advance() -> None:
    market = SyntheticMarket(history_candles=400)
    btc = market.ohlcv("BTC/USD", 1_000)
    assert len(btc) == 400
    assert btc.ts[0] == SYNTHETIC_START_MS == 1_767_225_600_000  # 2026-01-01T00:00Z
    assert np.all(np.diff(btc.ts) == FIVE_MINUTES_MS)
    assert market.now_ms() == btc.ts[-1] == SYNTHETIC_START_MS + 399 * FIVE_MINUTES_MS
    market.advance()
    after = market.ohlcv("BTC/USD", 1_000)
    assert len(after) == 401 and market.now_ms() == after.ts[-1] == btc.ts[-1] + FIVE_MINUTES_MS
    assert np.array_equal(after.close[:-1], btc.close)
    assert market.last_price("BTC/USD") == Decimal(str(after.close[-1]))
    assert len(market.ohlcv("BTC/USD", 100)) == 100


def test_synthetic_switches_between_up_and_down_trends() -> None:
    market = SyntheticMarket(history_candles=2_000)
    for symbol in market.symbols():
        close = market.ohlcv(symbol, 2_000).close
        returns_50 = np.log(close[50:] / close[:-50])
        assert returns_50.max() > 0.02 and returns_50.min() < -0.02, symbol
        assert np.mean(np.abs(returns_50) > 0.01) > 0.3, symbol


def test_synthetic_trends_trigger_the_apex_trend_filter() -> None:
    talib = pytest.importorskip("talib")
    market = SyntheticMarket(history_candles=400)
    onsets = 0
    for symbol in market.symbols():
        c = market.ohlcv(symbol, 400)
        ema9, ema21, ema50 = (talib.EMA(c.close, n) for n in (9, 21, 50))
        trend = (ema9 > ema21) & (ema21 > ema50) & (talib.ADX(c.high, c.low, c.close, 14) > 20)
        onsets += int(np.sum(trend[101:] & ~trend[100:-1]))
    assert onsets >= 8  # a demo must show entries: several per few hundred candles over 8 symbols


def test_synthetic_memory_stays_bounded() -> None:
    market = SyntheticMarket(symbols=("BTC/USD", "DOGE/USD"), history_candles=10)
    for _ in range(20_000):
        market.advance()
    for symbol, level in (("BTC/USD", 60_000), ("DOGE/USD", 0.15)):
        kept = market.ohlcv(symbol, 1_000_000)
        assert 3_000 < len(kept) <= 4_096
        assert kept.ts[-1] == market.now_ms() == SYNTHETIC_START_MS + 20_009 * FIVE_MINUTES_MS
        assert level / 5 < market.last_price(symbol) < level * 5  # weeks of running stay plausible


def test_synthetic_unknown_symbols() -> None:
    first, second = SyntheticMarket(symbols=("FOO/EUR", "BTC/USD")), SyntheticMarket(symbols=("FOO/EUR",))
    assert first.last_price("FOO/EUR") == second.last_price("FOO/EUR") > 0
    with pytest.raises(MarketDataError, match=r"ETH/USD: unknown symbol"):
        first.ohlcv("ETH/USD", 10)
    with pytest.raises(ValueError):
        SyntheticMarket(symbols=("BTCUSD",))


# --- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "price", "price_step"),
    [
        ("BTC/USD", "60000", "0.01"),
        ("SOL/USD", "150.25", "0.01"),
        ("LINK/USD", "15.3", "0.001"),
        ("XRP/USD", "0.6", "0.00001"),
        ("ADA/BTC", "0.0000529", "0.00000001"),
    ],
)
def test_paper_market_rules(symbol: str, price: str, price_step: str) -> None:
    rules = paper_market_rules(symbol, Decimal(price))
    base, quote = symbol.split("/")
    assert (rules.symbol, rules.base, rules.quote) == (symbol, base, quote)
    assert rules.price_step == Decimal(price_step)
    assert rules.amount_step == rules.min_amount == Decimal("0.00000001")
    assert rules.min_cost == Decimal(1)


def test_paper_market_rules_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        paper_market_rules("BTCUSD", Decimal(1))
    with pytest.raises(ValueError, match="positive"):
        paper_market_rules("BTC/USD", Decimal(0))
