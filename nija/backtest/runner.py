"""Run a backtest over several symbols and put its report together.

Each symbol is its own paper account starting with the run's equity (a symbol's figures never
depend on which other files are in the run); symbols run in worker processes when there are
several, and the results are put back in symbol order, so the fingerprint does not depend on
which process finished first. The total sums the accounts.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import FrameType

from nija.backtest.candles import CandleFile
from nija.backtest.engine import RunSpec, SymbolJob, SymbolRun, replays_stopped, run_symbol, stop_replays
from nija.backtest.report import (
    Curve,
    Summary,
    buy_and_hold,
    combine_curves,
    equity_curve,
    summarize,
)
from nija.backtest.trades import Trade, closed_trades, fingerprint

__all__ = ["BacktestResult", "SymbolResult", "analyse", "backtest", "run_jobs"]


@dataclass(frozen=True)
class SymbolResult:
    """One symbol's run and its figures."""

    run: SymbolRun
    trades: tuple[Trade, ...]
    curve: Curve
    buy_hold: Curve
    summary: Summary


@dataclass(frozen=True)
class BacktestResult:
    """Every symbol's result, the total, the fill model and the closed trades' fingerprint."""

    symbols: tuple[SymbolResult, ...]
    total: Summary
    curve: Curve
    buy_hold: Curve
    fingerprint: str
    fill_model: str


def run_jobs(jobs: Sequence[SymbolJob], workers: int | None = None) -> list[SymbolRun]:
    """Run every job, in worker processes when there are several; results in the jobs' order."""
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers <= 1:
        return [run_symbol(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_signals) as pool:
        try:
            return list(pool.map(_worker_job, jobs))
        except KeyboardInterrupt:
            # Ctrl-C: drop the jobs not started, stop the running ones (SIGTERM, see
            # `_worker_signals`), and let the caller report it.
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in multiprocessing.active_children():
                worker.terminate()
            raise


_in_job = False  # a worker's: whether it is running a job (else it waits for one)


def _worker_job(job: SymbolJob) -> SymbolRun:
    """A worker's task: one symbol's replay; a worker told to stop (SIGTERM) during it ends with
    it, its store closed (a parent that is gone would never send it another task)."""
    global _in_job
    _in_job = True
    try:
        return run_symbol(job)
    finally:
        _in_job = False
        if replays_stopped():
            os._exit(128 + signal.SIGTERM)


def _worker_signals() -> None:
    """A worker's signals. Ctrl-C reaches the whole process group, but stopping the run is the
    parent's call (one "interrupted" line, no traceback per worker). SIGTERM stops a replay at its
    next cycle, where it unwinds as any error does, rather than wherever it lands (inside a store
    write, say). A worker waiting for a task just exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)


def _stop_worker(signum: int, _frame: FrameType | None) -> None:
    if not _in_job:
        raise SystemExit(128 + signum)
    stop_replays()


def analyse(runs: Sequence[SymbolRun], spec: RunSpec) -> BacktestResult:
    """The report of finished runs (one per symbol)."""
    schedule = spec.fill.schedule()
    results = []
    for run in runs:
        trades = tuple(closed_trades(run.fills))
        curve = equity_curve(run.start_equity, run.ts, run.close, run.fills)
        held = buy_and_hold(run.start_equity, run.ts, run.close, schedule, spec.fill.slippage_bps)
        results.append(SymbolResult(run, trades, curve, held, summarize(trades, run.fills, curve, held, run.start_equity)))
    starts = [r.run.start_equity for r in results]
    curve = combine_curves([r.curve for r in results], starts)
    held = combine_curves([r.buy_hold for r in results], starts)
    trades = sorted((t for r in results for t in r.trades), key=lambda t: (t.entry_ms, t.symbol))
    fills = [f for r in results for f in r.run.fills]
    total = summarize(trades, fills, curve, held, sum(starts, start=spec.equity * 0))
    return BacktestResult(tuple(results), total, curve, held, fingerprint(trades), spec.fill.describe())


def backtest(
    files: Sequence[CandleFile], spec: RunSpec, first_ms: int | None = None, last_ms: int | None = None,
    workers: int | None = None,
) -> BacktestResult:
    """Replay every file through the daemon's loop and report."""
    jobs = [SymbolJob(spec, f.symbol, f.timeframe_ms, f.candles, first_ms, last_ms) for f in files]
    return analyse(run_jobs(jobs, workers), spec)
