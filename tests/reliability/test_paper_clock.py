"""The paper market resumes where it stopped after a restart (issue 11): its clock is the market
time its master last published to the store, and the next daemon's market continues from there
instead of replaying the same candles (synthetic and replayed markets alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nija.brokers.paper import ReplayMarket, SyntheticMarket
from nija.build import Shared, build_loops
from nija.config import load_settings
from nija.logs import get_logger
from nija.store import Store, db_path

STEP = 300_000


def _master(store: Store):  # the paper master a daemon start builds
    (loop,), failed = build_loops(load_settings(), "paper", store, get_logger("test"), Shared())
    assert failed == []
    return loop.broker


def _write_replay(directory: Path, candles: int = 400) -> None:
    directory.mkdir()
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"{1_700_000_000_000 + i * STEP},{100 + i},{101 + i},{99 + i},{100 + i},10" for i in range(candles)]
    (directory / "BTC-USD-5m.csv").write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("market", ["synthetic", "replay"])
def test_a_restarted_paper_market_continues_from_its_stored_clock(
    market: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIJA_PAPER_BROKERS", "kraken")
    monkeypatch.setenv("NIJA_SYNTHETIC_SYMBOLS", "BTC/USD")
    if market == "replay":
        _write_replay(tmp_path / "replay")
        monkeypatch.setenv("NIJA_REPLAY_DIR", str(tmp_path / "replay"))
    store = Store(db_path(tmp_path / "data"))
    try:
        first = _master(store)
        start = first.market.now_ms()
        for _ in range(5):
            first.begin_cycle()
        stopped_at, price = first.market.now_ms(), first.market.last_price("BTC/USD")
        assert stopped_at == start + 5 * STEP

        again = _master(store)  # the restart: same store, a new market
        assert isinstance(again.market, ReplayMarket if market == "replay" else SyntheticMarket)
        assert again.market.now_ms() == stopped_at  # was: start, the same candles traded again
        assert again.market.last_price("BTC/USD") == price
        again.begin_cycle()
        first.begin_cycle()
        assert again.market.now_ms() == first.market.now_ms() == stopped_at + STEP
        assert again.market.last_price("BTC/USD") == first.market.last_price("BTC/USD")  # the same market, continued
        assert store.paper_prices("kraken")[1] == stopped_at + STEP
    finally:
        store.close()


def test_a_clock_that_is_not_this_markets_is_ignored() -> None:
    market = SyntheticMarket(("BTC/USD",))
    start = market.now_ms()
    assert not market.resume_at(start - STEP)  # before the warm-up
    assert not market.resume_at(start + STEP + 1)  # not a candle time (a live market's wall clock)
    assert market.now_ms() == start
    assert market.resume_at(start + 10 * STEP) and market.now_ms() == start + 10 * STEP
