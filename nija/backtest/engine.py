"""The replay engine: one symbol's candles through the daemon's own broker loop, on market time.

What runs is what the daemon runs in paper mode with NIJA_REPLAY_DIR: `ReplayMarket` serving the
candles, `PaperBroker` filling orders, `execution/` recording them in a store, and
`BrokerLoop.run_cycle` deciding with the strategy and the risk rules, configured from the
daemon's defaults (`build.loop_config`). The differences are the harness only: the store is a
database in memory in the store's throwaway mode (reads cached until the next write) that keeps
no health rows or equity history (`_ScratchStore`), the operator's switches are kept in memory
(`_ScratchSwitches`), so a run leaves nothing on disk; the loop's pacing clock is market time (as
`build.build_loop` sets it for offline markets), nothing sleeps, and the log is silent.

Speed without a second rule set: while the account is flat, a cycle can only act through an entry
signal, so the engine asks the strategy's whole-series evaluation (`Strategy.precompute`, equal
to its per-window decisions) and moves market time straight to the next candle that signals
(`signals.EntrySignals`: on a long span, scanned ahead in a second process). While a position is
held, most cycles hold it with the same exit state and leave the kill switch's marks where they
are: `quiet.QuietHolds` asks the strategy's exit decision and the risk rules of each candle,
with the loop's own functions, and the engine moves market time to the first candle where one
would act. Every other cycle is the loop's. `every_candle=True` turns both skips off; tests prove
both give the same trades, and that each candle judged quiet is one the loop's cycle leaves as is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from decimal import Decimal, DefaultContext, localcontext
from pathlib import Path
from typing import Any, Final

import numpy as np

from nija.backtest.candles import CandleError
from nija.backtest.fills import FillModel, fees_in_force
from nija.backtest.params import strategy_for
from nija.backtest.quiet import QuietHolds
from nija.backtest.series import SeriesStrategy
from nija.backtest.signals import EntrySignals
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker, ReplayMarket
from nija.build import loop_config
from nija.config import Settings
from nija.models import (
    MASTER_ACCOUNT,
    BrokerName,
    Candles,
    EquityMarks,
    HealthStatus,
    IntentStatus,
    Order,
    Position,
    Side,
)
from nija.store import IN_MEMORY, ManualIntent, Recording, Store, StrategyState
from nija.strategy.base import SeriesEvaluation, Strategy
from nija.trading.broker_loop import BrokerLoop
from nija.trading.halt import halt_line, halt_path, halt_reason

__all__ = [
    "BacktestError", "FillRecord", "RunSpec", "SymbolJob", "SymbolRun", "decision_span", "replays_stopped", "run_symbol",
    "span_indices", "stop_replays",
]


class BacktestError(RuntimeError):
    """A cycle of the replayed loop failed: the run's figures would be wrong, so it stops."""


@dataclass(frozen=True)
class RunSpec:
    """Everything about a run but its candles; picklable, so worker processes get it whole."""

    fill: FillModel
    equity: Decimal = Decimal(1000)
    strategy: str = "apex"
    overrides: tuple[tuple[str, str], ...] = ()
    every_candle: bool = False  # True: a loop cycle on every candle, flat or not
    precomputed: bool = True  # False: the strategy computes its indicators per window, as live

    def build_strategy(self) -> Strategy:
        """The registered strategy with this run's overrides applied."""
        return strategy_for(self.strategy, dict(self.overrides))


@dataclass(frozen=True)
class SymbolJob:
    """One symbol's replay: its candles and the span of candles the loop decides on."""

    spec: RunSpec
    symbol: str
    timeframe_ms: int
    candles: Candles
    first_ms: int | None = None  # first candle decided on; None: right after the replay's warm-up
    last_ms: int | None = None  # last candle decided on; None: the last one
    label: str = ""  # "train" / "test" in a walk-forward sweep


@dataclass(frozen=True)
class FillRecord:
    """One fill as the store holds it, with the reason its order was sent."""

    ts_ms: int  # market time of the candle the fill happened on
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    reason: str


@dataclass(frozen=True)
class SymbolRun:
    """What one symbol's replay produced: the candles decided on, every fill, final equity."""

    symbol: str
    timeframe_ms: int
    start_equity: Decimal
    ts: np.ndarray  # open times of the candles the loop decided on
    close: np.ndarray  # their closes (the price each cycle acted at)
    fills: tuple[FillRecord, ...]
    final_equity: Decimal  # the paper broker's own equity after the last cycle
    cycles: int  # loop cycles actually run (the rest were flat, signal-free candles)
    label: str = ""


class _SilentLog:
    """A structlog-shaped logger that drops everything: the backtest reports, it does not log."""

    def bind(self, **_: Any) -> _SilentLog:
        return self

    def __getattr__(self, _name: str) -> Any:
        return _drop

    # The levels the loop logs at every cycle, as plain methods: found on the class, without
    # the failed lookup `__getattr__` answers after (the rest still goes there).
    def debug(self, *_: Any, **__: Any) -> None:
        return None

    info = warning = error = debug


def _drop(*_: Any, **__: Any) -> None:
    return None


_STOP: Final = threading.Event()  # `stop_replays`: every replay in this process stops at its next cycle


def stop_replays() -> None:
    """Make every replay in this process stop before its next cycle by raising KeyboardInterrupt
    there: it unwinds as any error does, its store closed. Safe to call from
    a signal handler (a worker's SIGTERM, see `runner`); there is no undoing it."""
    _STOP.set()


def replays_stopped() -> bool:
    """Whether `stop_replays` was called in this process."""
    return _STOP.is_set()


# The loop's data dir holds only the operator's switch files, which a run keeps in memory
# (`_ScratchSwitches`), as it keeps its store: a run leaves nothing on disk. So it names a folder
# that cannot exist: anything written there would fail that cycle, not leave a file behind.
_NO_DATA_DIR: Final = Path(os.devnull) / "nija-backtest"
_FAILED_CYCLE: Final = frozenset({HealthStatus.DEGRADED, HealthStatus.FAILED})  # what `cycle_failed` moves to
_UNREAD: Final = object()  # `_remember`: no read kept under that key (None is a read's answer)

# The table each read `_ScratchStore` keeps as models comes from (see `_keeping_reads`).
_TABLES_READ: Final = {
    "positions": "positions", "paper_balances": "paper_balances", "orders_in_status": "orders",
    "strategy_states": "strategy_state", "risk_state": "broker_risk", "manual_intents": "manual_intents",
}


class _ScratchStore(Store):
    """The run's throwaway store (`Store(IN_MEMORY, throwaway=True)`), minus the writes only an operator
    reads: the loop's health row and equity history (status, dashboard and reports read them; the
    loop never reads them back within a run: its equity comes from the broker's snapshot), each
    entry's fee against the cheaper broker's (status's fee routing reads it), the copy signals of
    its fills (the copy engine reads them; none runs in a backtest), and a
    kill-switch marks row rewritten with the marks and halt it already holds (the row differs only
    in its `updated_at`; `risk_state` reads the same), and the valued holdings saved with the marks,
    kept in memory (only a restart or a failed save reads them back: `execution.transfers`).
    Everything else the cycle reads is written.

    Reads the cycle repeats are kept as built (`_remember`) until the next write; a write the
    store makes to one table only (a strategy state, the kill-switch marks)
    keeps the reads of the other tables (`_keeping_reads`)."""

    def __init__(self) -> None:
        # In memory: no file to write each commit to (the loop commits several times a cycle).
        super().__init__(IN_MEMORY, throwaway=True)
        self._marks: dict[tuple[str, str], tuple[Any, ...]] = {}  # the row last written, per account
        self._holdings: dict[tuple[str, str], Any] = {}  # `save_risk_marks`'s holdings, per account
        self._kept: dict[tuple[Any, ...], Any] = {}  # `_remember`
        self._epoch = self.reads_epoch

    def _remember(self, key: tuple[Any, ...], read: Callable[..., Any], *args: Any) -> Any:
        """`read(*args)`, or what it returned since the store's last write transaction
        (`reads_epoch`): the store's own row cache, kept one step further as the frozen models
        built from those rows."""
        if self._epoch != self.reads_epoch:
            self._kept.clear()
            self._epoch = self.reads_epoch
        kept = self._kept.get(key, _UNREAD)
        if kept is _UNREAD:
            kept = self._kept[key] = read(*args)
        return kept

    # The loop and the paper broker read these several times a cycle. Each call still gets a new
    # list or dict of its own (of frozen models and Decimals), as from the store.
    def positions(self, broker: Any, account: str) -> list[Position]:
        return list(self._remember(("positions", broker, account), super().positions, broker, account))

    def paper_balances(self, broker: Any, account: str) -> dict[str, Decimal]:
        return dict(self._remember(("paper_balances", broker, account), super().paper_balances, broker, account))

    def orders_in_status(self, broker: Any, account: str, statuses: Any) -> list[Order]:
        wanted = tuple(statuses)
        key = ("orders_in_status", broker, account, wanted)
        return list(self._remember(key, super().orders_in_status, broker, account, wanted))

    def strategy_states(self, broker: Any, account: str) -> dict[str, StrategyState]:
        # The states' JSON values are copied, so a caller's changes never reach the kept read.
        kept = self._remember(("strategy_states", broker, account), super().strategy_states, broker, account)
        return {symbol: _copied_state(state) for symbol, state in kept.items()}

    def risk_state(self, broker: Any, account: str) -> tuple[EquityMarks | None, str | None]:
        return self._remember(("risk_state", broker, account), super().risk_state, broker, account)  # immutable

    def manual_intents(self, broker: Any, status: IntentStatus = IntentStatus.PENDING) -> list[ManualIntent]:
        return list(self._remember(("manual_intents", broker, status), super().manual_intents, broker, status))

    def _keeping_reads(self, table: str, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`write(*args, **kwargs)`, a write transaction that changes `table` and nothing else,
        keeping the reads of every other table cached before it: the store forgets all its reads
        at a write, but these still read the same (one thread, no triggers). A write that raises
        keeps nothing."""
        assert self._reads is not None
        rows = {key: kept for key, kept in self._reads.items() if table not in key[0]}
        current = self._epoch == self.reads_epoch  # else `_kept` is stale already: nothing of it stays
        models = {key: kept for key, kept in self._kept.items() if _TABLES_READ[key[0]] != table} if current else {}
        result = write(*args, **kwargs)
        self._reads.update(rows)
        self._kept, self._epoch = models, self.reads_epoch
        return result

    def save_strategy_state(self, broker: Any, account: str, symbol: str, state: StrategyState) -> None:
        self._keeping_reads("strategy_state", super().save_strategy_state, broker, account, symbol, state)

    def record_entry_cost(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record(self, recording: Recording) -> None:
        super().record(replace(recording, signals=()))  # no copy engine reads them in a run

    def save_health(self, health: Any) -> bool:
        return True

    def record_equity(self, broker: Any, account: str, snapshot: Any) -> None:
        return None

    def save_risk_marks(
        self, broker: Any, account: str, marks: Any, halted_reason: str | None, holdings: Any = None,
        transfer: Any = None,
    ) -> None:
        # A transfer record is for the operator (a replay's account sees none: no one moves money).
        if holdings is not None:
            self._holdings[(broker, account)] = holdings
        # Compared as stored (text): Decimal("1.0") == Decimal("1.00"), but they read back differently.
        row = (str(marks.high_water_mark), marks.day, str(marks.day_start_equity), halted_reason)
        if self._marks.get((broker, account)) == row:
            return
        self._keeping_reads("broker_risk", super().save_risk_marks, broker, account, marks, halted_reason)
        self._marks[(broker, account)] = row

    def valued_holdings(self, broker: Any, account: str) -> Any:
        return self._holdings.get((broker, account))

    def forget_risk_marks(self, broker: Any, account: str) -> None:
        self._marks.pop((broker, account), None)
        super().forget_risk_marks(broker, account)


class _ScratchSwitches:
    """The run's operator switches (`halt.Switches`), in memory: no operator can reach a run,
    so the only switch ever set is the run's own kill switch's halt,
    answered exactly as the file it would have written reads back. The loop asks for both files
    every cycle; as files, those two checks were a tenth of a symbol-year's run."""

    def __init__(self) -> None:
        self._halts: dict[BrokerName, str] = {}  # what each halt file would hold

    def halted(self, broker: BrokerName) -> str | None:
        text = self._halts.get(broker)
        return None if text is None else halt_reason(text, halt_path(Path(), broker).name)

    def halt(self, broker: BrokerName, reason: str) -> None:
        self._halts[broker] = halt_line(reason)

    def emergency_stop(self) -> bool:
        return False


def _copied_state(state: StrategyState) -> StrategyState:
    """A copy of a kept strategy state whose JSON values are the caller's own."""
    pending = state.pending_state
    return StrategyState(
        _json_copy(state.state), state.pending_client_order_id, None if pending is None else _json_copy(pending)
    )


_JSON_SCALARS: Final = frozenset({str, int, float, bool, type(None)})  # immutable: shared, not copied


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (what `json.loads` builds: dicts, lists and immutable scalars)."""
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, dict):
        return {key: item if type(item) in _JSON_SCALARS else _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def span_indices(ts: np.ndarray, warmup_end: int, first_ms: int | None, last_ms: int | None) -> tuple[int, int]:
    """First and last candle index the loop decides on: after the warm-up candle `warmup_end`
    (the replay clock's start), within [first_ms, last_ms]."""
    start = warmup_end + 1
    if first_ms is not None:
        start = max(start, int(np.searchsorted(ts, first_ms, side="left")))
    end = len(ts) - 1 if last_ms is None else int(np.searchsorted(ts, last_ms, side="right")) - 1
    return start, end


def _market(symbol: str, timeframe_ms: int, candles: Candles) -> ReplayMarket:
    return ReplayMarket.from_series(f"backtest:{symbol}", timeframe_ms, {symbol: candles})


def decision_span(
    symbol: str, timeframe_ms: int, candles: Candles, first_ms: int | None = None, last_ms: int | None = None
) -> tuple[int, int]:
    """First and last index of the candles the loop decides on; CandleError when there are none."""
    warmup_end = int(np.searchsorted(candles.ts, _market(symbol, timeframe_ms, candles).now_ms()))
    start, end = span_indices(candles.ts, warmup_end, first_ms, last_ms)
    if start > end:
        raise CandleError(
            f"{symbol}: no candle to trade in the date range (the replay warms up on the first {warmup_end + 1} candles)"
        )
    return start, end


def run_symbol(job: SymbolJob) -> SymbolRun:
    """Replay one symbol through the daemon's loop; BacktestError if a cycle fails."""
    # Decimal arithmetic as in every daemon thread (a fresh copy of the default context), whatever
    # the calling thread's context has been set to.
    with localcontext(DefaultContext):
        return _run_symbol(job)


def _run_symbol(job: SymbolJob) -> SymbolRun:
    spec, candles = job.spec, job.candles
    strategy = spec.build_strategy()
    start, end = decision_span(job.symbol, job.timeframe_ms, candles, job.first_ms, job.last_ms)
    market = _market(job.symbol, job.timeframe_ms, candles)
    ts = candles.ts
    if start - 1 > int(np.searchsorted(ts, market.now_ms())):
        market.resume_at(int(ts[start - 1]))  # the first cycle advances the clock onto `start`
    schedule = spec.fill.schedule()
    with fees_in_force(spec.fill.broker, schedule):
        store = _ScratchStore()
        try:
            broker = PaperBroker(
                spec.fill.broker, MASTER_ACCOUNT, store, market, fee_schedule(spec.fill.broker),
                starting_cash=spec.equity, slippage_bps=spec.fill.slippage_bps,
            )
            if spec.precomputed:
                strategy = SeriesStrategy(strategy, candles)
            config = replace(
                loop_config(Settings.model_construct()), data_dir=_NO_DATA_DIR, strategy=strategy,
                switches=_ScratchSwitches(),
            )
            loop = BrokerLoop(
                broker, store, config, _SilentLog(), threading.Event(), clock=lambda: market.now_ms() / 1000
            )
            # The skip asks the very strategy object the loop decides with (fee floor included).
            series = None if spec.every_candle else loop.strategy.precompute(candles)
            quiet = None if series is None else QuietHolds(
                job.symbol, candles, series, loop.strategy, store, broker, config.risk_limits, config.switches
            )
            cycles = _replay(job, loop, broker, store, market, series, quiet, start, end)
            final = broker.balance_snapshot().total_equity
            fills = _fill_records(store, broker)
        finally:
            store.close()
    return SymbolRun(
        symbol=job.symbol, timeframe_ms=job.timeframe_ms, start_equity=spec.equity,
        ts=ts[start : end + 1], close=candles.close[start : end + 1], fills=fills, final_equity=final,
        cycles=cycles, label=job.label,
    )


def _replay(
    job: SymbolJob, loop: BrokerLoop, broker: PaperBroker, store: Store, market: ReplayMarket,
    series: SeriesEvaluation | None, quiet: QuietHolds | None, start: int, end: int,
) -> int:
    """Run the loop's cycle on candles start..end, skipping flat, signal-free ones when `series`
    is given and held ones the cycle would leave alone when `quiet` is; count the cycles run."""
    ts = job.candles.ts
    index, cycles = start, 0
    with EntrySignals(series, start, end) if series is not None else nullcontext() as signals:
        while index <= end:
            if _STOP.is_set():
                raise KeyboardInterrupt(f"{job.symbol}: replay stopped at candle {int(ts[index])}")
            if signals is not None and _flat(store, broker):
                signal = signals.next_at(index)
                if signal > end:
                    break  # flat to the end: the equity is cash, whatever the last price
                if signal > index:
                    market.resume_at(int(ts[signal - 1]))
                    index = signal
            elif quiet is not None and (loud := quiet.next_loud(index, end)) > index:
                # To the candle before: the cycle moves onto the loud one. Past the end, the
                # market shows the last candle, the one the final equity is valued at.
                market.resume_at(int(ts[loud - 1]))
                index = loud
                if index > end:
                    break
            health = loop.run_cycle()
            cycles += 1
            # Halted (the kill switch tripped) and unfunded are trading states the daemon goes
            # on cycling in, exits included; only a cycle that failed stops the run.
            if health.status in _FAILED_CYCLE:
                raise BacktestError(f"{job.symbol}: cycle at candle {int(ts[index])} failed: {health.last_error}")
            index += 1
    return cycles


def _flat(store: Store, broker: PaperBroker) -> bool:
    # Nothing held and no position recorded: a cycle can then act only through an entry. The
    # recorded positions are asked first: while one is open (most cycles) that answers alone.
    return not store.positions(broker.name, broker.account) and not broker.holdings()


def _fill_records(store: Store, broker: PaperBroker) -> tuple[FillRecord, ...]:
    """Every fill of the run with its order's reason, in the order they happened."""
    reasons = store.order_reasons(broker.name, broker.account)
    return tuple(
        FillRecord(
            ts_ms=int(fill.ts_exchange.timestamp() * 1000), symbol=fill.symbol, side=fill.side, qty=fill.qty,
            price=fill.price, fee=fill.fee, reason=reasons.get(fill.client_order_id, ""),
        )
        for fill in store.fills(broker.name, broker.account)
    )
