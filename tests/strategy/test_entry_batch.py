"""The loop's scan decides every symbol in one call (`Strategy.evaluate_entries`): each decision
must be exactly what `evaluate_entry` decides on that symbol alone, whatever its neighbours hold."""

from __future__ import annotations

import numpy as np

from nija.models import Candles
from nija.strategy.apex import evaluate_entries, evaluate_entry
from nija.strategy.registry import default_strategy
from tests.strategy.builders import downtrend_arrays, entry_arrays, pause_hammer_arrays, to_candles


def _walk(rng: np.random.Generator, n: int) -> Candles:
    close = rng.uniform(0.5, 5_000.0) * np.exp(np.cumsum(rng.normal(0.0003, rng.uniform(0.002, 0.01), n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.003, (2, n)))
    ts = 1_700_000_000_000 + 300_000 * np.arange(n, dtype=np.float64)
    return Candles(ts, open_, np.maximum(open_, close) * (1 + wick[0]), np.minimum(open_, close) * (1 - wick[1]),
                   close, rng.lognormal(5.0, 0.8, n))  # fmt: skip


def _with(candles: Candles, **arrays: np.ndarray) -> Candles:
    fields = {name: getattr(candles, name) for name in ("ts", "open", "high", "low", "close", "volume")}
    return Candles(**{**fields, **arrays})


def _universe() -> list[Candles]:
    rng = np.random.default_rng(11)
    walks = [_walk(rng, int(rng.integers(261, 400))) for _ in range(40)]
    nan_price = walks[1].close.copy()
    nan_price[-7] = np.nan
    inf_volume = walks[2].volume.copy()
    inf_volume[-200] = np.inf
    zero_volume = walks[3].volume.copy()
    zero_volume[-100:] = 0.0
    # No hour starts where the seed must be: the 62 candidates lie within one hour, after a gap.
    gap = walks[4].ts.copy()
    first = len(gap) - 261
    gap[:first] -= 2 * 3_600_000
    gap[first : first + 62] = gap[first] // 3_600_000 * 3_600_000 + 60_000 + 10_000 * np.arange(62)
    return [
        *walks[5:],
        to_candles(entry_arrays()), to_candles(downtrend_arrays()), to_candles(pause_hammer_arrays()),
        _with(walks[0], close=walks[0].close[:-1]),  # arrays of different lengths
        _with(walks[1], close=nan_price),
        _with(walks[2], volume=inf_volume),
        _with(walks[3], volume=zero_volume),  # nothing traded in the VWAP window: the close stands in
        _with(walks[4], ts=gap),
        _with(walks[5], low=-walks[5].low),
        walks[6].tail(260),  # one candle short
        _with(walks[7], volume=np.array(["x"] * len(walks[7]), dtype=object)),  # non-numeric
        *walks[8:12],
    ]  # fmt: skip


def test_each_decision_in_a_batch_is_the_decision_alone() -> None:
    universe = _universe()
    together = evaluate_entries(universe)
    alone = [evaluate_entry(candles) for candles in universe]
    assert [repr(d) for d in together] == [repr(d) for d in alone]
    reasons = " | ".join(d.reason for d in together)
    for expected in ("arrays of different lengths", "NaN or infinite", "non-positive price", "insufficient candles (260",
                     "no 60-minute period starts", "bad candle data: Cannot cast"):  # fmt: skip
        assert expected in reasons, expected
    assert any(d.enter for d in together)
    assert [d.reason for d in default_strategy().evaluate_entries(universe)] == [d.reason for d in alone]


def test_an_empty_scan_decides_nothing() -> None:
    assert evaluate_entries([]) == []
