"""Which held candles a loop cycle would leave exactly as it found them: the held side of the skip.

The engine skips flat, signal-free candles (`signals`). While a position is open, most cycles
too change nothing: the exit decision is to hold with the same exit state, and the kill switch's
marks neither move nor trip. `QuietHolds.next_loud` finds the next candle where that is no longer
so, and the engine moves market time straight to it; the loop then runs that cycle itself.

No rule is restated here. Each candle is asked the loop's own questions, with the loop's own
functions, on what the loop would read there:
- the exit decision: the strategy's whole-series `evaluate_exit` (what `SeriesStrategy` hands
  the loop), at the candle's close (`market.last_close`, the paper ticker's last price);
- the kill switch: `risk.advance_marks` and `risk.kill_switch_reason` on the equity of
  `PaperBroker.equity_at` (what `balance_snapshot` would read there).

The kill switch is asked of every candle because every cycle of a replay reads the account
afresh: candles are a minute or more apart (`candles` accepts m, h and d files), the pacing's
monitoring interval at most 30 s. So a skip never changes which cycles measure the marks.

What this module knows is only which questions a held cycle asks. A cycle is loud (run, never
skipped) as soon as any answer would act or change a stored value. Anything else about the
account that a cycle would act on makes no candle quiet: an open order or a taken manual trade,
a pending exit state or a state without its position, a position without its state, fewer base
units held than recorded, a halt, no marks yet, or a symbol of the market that no position holds
(an entry could be taken there). Tests run the loop on every candle this judges quiet and check it
changes nothing (`tests/backtest/test_quiet.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from nija.brokers.base import MarketDataError
from nija.brokers.paper import PaperBroker
from nija.brokers.paper.broker import market_datetime
from nija.brokers.paper.market import last_close
from nija.models import OPEN_ORDER_STATUSES, Candles, EquityMarks, IntentStatus, Position
from nija.store import Store
from nija.strategy.base import ExitAction, ExitState, SeriesEvaluation, Strategy
from nija.strategy.risk import RiskLimits, advance_marks, kill_switch_reason
from nija.trading.halt import Switches

__all__ = ["QuietHolds"]


@dataclass(frozen=True, slots=True)
class _Held:
    """What the loop reads of a held account, read once per scan: unchanged on quiet candles."""

    positions: tuple[tuple[Position, ExitState], ...]
    marks: EquityMarks


class QuietHolds:
    """The held candles of one symbol's replay on which the loop's cycle would change nothing."""

    def __init__(
        self, symbol: str, candles: Candles, series: SeriesEvaluation, strategy: Strategy, store: Store,
        broker: PaperBroker, limits: RiskLimits, switches: Switches,
    ) -> None:
        self._symbol, self._candles, self._series, self._strategy = symbol, candles, series, strategy
        self._store, self._broker, self._limits, self._switches = store, broker, limits, switches
        self._ts: Sequence[int] = candles.ts.astype(np.int64).tolist()  # open times, epoch ms

    def next_loud(self, index: int, end: int) -> int:
        """The first candle in [index, end] whose cycle would act or change what is stored;
        `index` itself when the account is not one a cycle leaves alone; end + 1 when none is loud."""
        held = self._held()
        if held is None:
            return index
        for at in range(index, end + 1):
            if self._loud(held, at):
                return at
        return end + 1

    def _held(self) -> _Held | None:
        store, broker = self._store, self._broker
        name, account = broker.name, broker.account
        if self._switches.halted(name) is not None:
            return None  # halted: every held position is sold
        marks, halted = store.risk_state(name, account)
        if marks is None or halted is not None:
            return None
        if store.orders_in_status(name, account, OPEN_ORDER_STATUSES) or store.manual_intents(name, IntentStatus.TAKEN):
            return None  # reconciled or finished by the cycle
        positions = store.positions(name, account)
        if broker.symbols() != [self._symbol] or [p.symbol for p in positions] != [self._symbol]:
            return None  # flat, or a symbol an entry could go to
        states = store.strategy_states(name, account)
        if set(states) != {p.symbol for p in positions}:
            return None  # a state without its position is forgotten by the cycle, a missing one saved
        holdings = broker.holdings()
        if set(holdings) != {self._symbol.split("/")[0]}:
            return None  # the equity would count coins of another market
        decided = []
        for position in positions:
            stored = states[position.symbol]
            if stored.pending_client_order_id is not None:
                return None  # a pending exit's state to settle
            if holdings.get(position.symbol.split("/")[0], Decimal(0)) < position.qty:
                return None  # the exit is decided on what is held: a different position
            decided.append((position, self._strategy.state_from_record(stored.state)))
        return _Held(tuple(decided), marks)

    def _loud(self, held: _Held, at: int) -> bool:
        """Whether the cycle at candle `at` would sell, move an exit state or move or trip the marks."""
        try:
            price = last_close(self._symbol, self._candles, at + 1)
        except MarketDataError:
            return True  # the loop's own read refuses it: that cycle fails as it would
        for position, state in held.positions:
            decision = self._series.evaluate_exit(at, position, state, price)
            if decision.action is not ExitAction.NONE or (decision.state is not state and decision.state != state):
                return True
        taken_at = market_datetime(self._ts[at])
        equity = self._broker.equity_at(lambda _symbol: price)  # the one symbol held is priced at `price`
        marks = advance_marks(held.marks, equity, taken_at.date())
        return marks != held.marks or kill_switch_reason(marks, equity, self._limits) is not None

