"""Parameter sweeps with a walk-forward split: every setting is judged on the train period and
shown beside its result on the later, unseen test period.

Each symbol's decided candles are split by count: the first `train` share is the train period,
the rest the test period. The test run starts flat with fresh equity on its first candle; its
indicators warm up on the candles before it, as a live start would.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from nija.backtest.candles import CandleFile
from nija.backtest.engine import RunSpec, SymbolJob, decision_span
from nija.backtest.params import ParamError, parse_assignment, strategy_for
from nija.backtest.runner import BacktestResult, analyse, run_jobs

__all__ = ["MAX_SWEEP_PARAMS", "SweepRow", "parse_sweep", "sweep", "walk_forward_split"]

MAX_SWEEP_PARAMS: Final = 2


@dataclass(frozen=True)
class SweepRow:
    """One setting of the swept parameters and its train and test results."""

    setting: tuple[tuple[str, str], ...]
    train: BacktestResult
    test: BacktestResult


def parse_sweep(texts: Sequence[str], strategy: str) -> dict[str, list[str]]:
    """`name=v1,v2,...` per swept parameter, each value checked against the strategy's fields."""
    grid: dict[str, list[str]] = {}
    for text in texts:
        name, values = parse_assignment(text)
        options = [v.strip() for v in values.split(",") if v.strip()]
        if not options:
            raise ParamError(f"--sweep {name} needs values, like {name}=1,2,3")
        if name in grid:
            raise ParamError(f"--sweep names {name} twice")
        for value in options:
            strategy_for(strategy, {name: value})
        grid[name] = options
    if len(grid) > MAX_SWEEP_PARAMS:
        raise ParamError(f"--sweep takes at most {MAX_SWEEP_PARAMS} parameters, was {len(grid)}: {', '.join(grid)}")
    return grid


def walk_forward_split(start: int, end: int, train: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """Split candle indices start..end (inclusive) into train and test ranges (inclusive): the
    first `train` share of the candles, then the rest; each range holds at least one candle."""
    if not 0 < train < 1:
        raise ParamError(f"--train must be between 0 and 1, was {train}")
    count = end - start + 1
    if count < 2:
        raise ParamError(f"a walk-forward split needs at least 2 candles to trade, was {count}")
    cut = start + min(max(int(count * train), 1), count - 1)  # first test candle
    return (start, cut - 1), (cut, end)


def sweep(
    files: Sequence[CandleFile], spec: RunSpec, grid: Mapping[str, Sequence[str]], train: float,
    first_ms: int | None = None, last_ms: int | None = None, workers: int | None = None,
) -> list[SweepRow]:
    """Run every setting of `grid` on each symbol's train and test periods; ranked by the train
    period's return, best first."""
    periods = []
    for f in files:
        start, end = decision_span(f.symbol, f.timeframe_ms, f.candles, first_ms, last_ms)
        (a, b), (c, d) = walk_forward_split(start, end, train)
        ts = f.candles.ts
        periods.append((f, (int(ts[a]), int(ts[b])), (int(ts[c]), int(ts[d]))))
    settings = [tuple(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    jobs: list[SymbolJob] = []
    for setting in settings:
        run = replace(spec, overrides=(*spec.overrides, *setting))
        for f, train_span, test_span in periods:
            jobs.append(SymbolJob(run, f.symbol, f.timeframe_ms, f.candles, *train_span, label="train"))
            jobs.append(SymbolJob(run, f.symbol, f.timeframe_ms, f.candles, *test_span, label="test"))
    runs = run_jobs(jobs, workers)
    rows = []
    per_setting = 2 * len(periods)
    for i, setting in enumerate(settings):
        chunk = runs[i * per_setting : (i + 1) * per_setting]
        rows.append(SweepRow(
            setting,
            analyse([r for r in chunk if r.label == "train"], spec),
            analyse([r for r in chunk if r.label == "test"], spec),
        ))
    return sorted(rows, key=lambda row: row.train.total.return_pct, reverse=True)
