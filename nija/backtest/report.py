"""Report arithmetic: equity curves, drawdown, exposure, buy-and-hold and the summary figures.

Pure: functions of fill records, closes and Decimals; no I/O. Money stays Decimal; it is rounded
only where it is shown (`outputs`). A candle's equity is taken after that candle's cycle: cash
plus what is held at the candle's close, the paper broker's own formula.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, overload

import numpy as np

from nija.backtest.engine import FillRecord
from nija.backtest.trades import EXIT_REASONS, Trade, exit_reason
from nija.models import FeeSchedule, Side

__all__ = [
    "Curve",
    "Summary",
    "buy_and_hold",
    "combine_curves",
    "equity_curve",
    "max_drawdown",
    "summarize",
]

_ZERO: Final = Decimal(0)
_BPS: Final = Decimal("0.0001")


def _price(close: float) -> Decimal:
    # As the paper market quotes it: via str, so 0.1 stays 0.1.
    return Decimal(str(close))


@dataclass(frozen=True)
class Curve:
    """Equity per candle (after its cycle) and whether anything was held then."""

    ts: np.ndarray
    equity: Sequence[Decimal]
    held: tuple[bool, ...]


def equity_curve(start: Decimal, ts: np.ndarray, close: np.ndarray, fills: Sequence[FillRecord]) -> Curve:
    """Cash plus holdings at each candle's close, replaying `fills` (all of one symbol)."""
    cash, qty = start, _ZERO
    equity: list[Decimal] = []
    held: list[bool] = []
    closes = close.tolist()
    # The candle each fill counts from: the first whose open time is at or after it.
    starts = np.searchsorted(ts, [fill.ts_ms for fill in fills], side="left").tolist()
    at, next_fill = 0, 0
    while at < len(closes):
        while next_fill < len(fills) and starts[next_fill] <= at:
            fill = fills[next_fill]
            notional = fill.qty * fill.price
            if fill.side is Side.BUY:
                cash, qty = cash - notional - fill.fee, qty + fill.qty
            else:
                cash, qty = cash + notional - fill.fee, qty - fill.qty
            next_fill += 1
        until = starts[next_fill] if next_fill < len(fills) else len(closes)  # candles to the next fill
        if qty:
            equity.extend(cash + qty * _price(price) for price in closes[at:until])
        else:  # flat: the cash, candle after candle
            equity.extend([cash] * (until - at))
        held.extend([qty > 0] * (until - at))
        at = until
    return Curve(ts, tuple(equity), tuple(held))


def buy_and_hold(start: Decimal, ts: np.ndarray, close: np.ndarray, fees: FeeSchedule, slippage_bps: Decimal) -> Curve:
    """All of `start` bought at the first candle's close through the same fill model (half the
    spread, slippage, taker fee), then valued at each close."""
    if not len(close):
        return Curve(ts, (), ())
    price = _price(close[0]) * (1 + fees.spread / 2) * (1 + slippage_bps * _BPS)
    notional = start / (1 + fees.taker)  # the fee comes out of the same cash
    return Curve(ts, _HeldAtCloses(notional / price, close), (True,) * len(close))


class _HeldAtCloses(Sequence[Decimal]):
    """A quantity valued at each close, each value computed when read: the summary reads only
    the last (a sweep's hundreds of runs), the written curve and chart every one."""

    def __init__(self, qty: Decimal, close: np.ndarray) -> None:
        self._qty, self._close = qty, close

    def __len__(self) -> int:
        return int(self._close.shape[0])

    @overload
    def __getitem__(self, index: int) -> Decimal: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Decimal, ...]: ...
    def __getitem__(self, index: int | slice) -> Decimal | tuple[Decimal, ...]:
        if isinstance(index, slice):
            return tuple(self._qty * _price(c) for c in self._close[index].tolist())
        return self._qty * _price(float(self._close[index]))  # IndexError past either end, as a tuple's

    def __iter__(self) -> Iterator[Decimal]:
        qty = self._qty
        return (qty * _price(c) for c in self._close.tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, but not hashable as one


def max_drawdown(equity: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """The deepest fall from a running peak: (money, percent of that peak)."""
    peak, worst, worst_pct = None, _ZERO, _ZERO
    for value in equity:
        if peak is None or value > peak:
            peak = value
        fall = peak - value
        if fall > worst:
            worst = fall
            worst_pct = fall / peak * 100 if peak > 0 else _ZERO
    return worst, worst_pct


def combine_curves(curves: Sequence[Curve], starts: Sequence[Decimal]) -> Curve:
    """The sum of several accounts' curves on the union of their candle times; an account counts
    its starting equity before its first candle and its last equity after its last."""
    if len(curves) == 1:
        return curves[0]
    times = np.unique(np.concatenate([c.ts for c in curves])) if curves else np.empty(0)
    totals = [_ZERO] * len(times)
    held = [False] * len(times)
    for curve, start in zip(curves, starts, strict=True):
        at = np.searchsorted(curve.ts, times, side="right") - 1
        for i, j in enumerate(at.tolist()):
            totals[i] += start if j < 0 else curve.equity[j]
            held[i] = held[i] or (j >= 0 and curve.held[j])
    return Curve(times, tuple(totals), tuple(held))


@dataclass(frozen=True)
class Summary:
    """The figures of one symbol, or of all of them."""

    candles: int
    start_equity: Decimal
    end_equity: Decimal
    trades: int
    wins: int
    mean_trade_pct: Decimal
    median_trade_pct: Decimal
    mean_trade: Decimal
    median_trade: Decimal
    fees: Decimal
    gross: Decimal
    net: Decimal  # closed trades only; end - start also counts a position still open
    max_drawdown: Decimal
    max_drawdown_pct: Decimal
    exposure_pct: Decimal
    avg_hold_minutes: Decimal
    buy_hold_end: Decimal
    exits: Mapping[str, int] = field(default_factory=dict)

    @property
    def win_rate_pct(self) -> Decimal:
        """Share of closed trades that made money after fees."""
        return Decimal(self.wins) / self.trades * 100 if self.trades else _ZERO

    @property
    def return_pct(self) -> Decimal:
        """Change of equity over the run, open positions at their last close."""
        return (self.end_equity - self.start_equity) / self.start_equity * 100

    @property
    def buy_hold_pct(self) -> Decimal:
        """Buy-and-hold's change over the same candles."""
        return (self.buy_hold_end - self.start_equity) / self.start_equity * 100


def summarize(
    trades: Sequence[Trade], fills: Sequence[FillRecord], curve: Curve, buy_hold: Curve, start: Decimal
) -> Summary:
    """The report's figures for these trades, fills and curves."""
    nets = [t.net for t in trades]
    pcts = [t.net_pct for t in trades]
    holds = [Decimal(t.exit_ms - t.entry_ms) / 60_000 for t in trades]
    exits = dict.fromkeys(EXIT_REASONS, 0)
    for fill in fills:
        if fill.side is Side.SELL:
            reason = exit_reason(fill.reason)
            exits[reason] = exits.get(reason, 0) + 1
    money, pct = max_drawdown(curve.equity)
    return Summary(
        candles=len(curve.equity),
        start_equity=start,
        end_equity=curve.equity[-1] if curve.equity else start,
        trades=len(trades),
        wins=sum(1 for n in nets if n > 0),
        mean_trade_pct=_mean(pcts),
        median_trade_pct=statistics.median(pcts) if pcts else _ZERO,
        mean_trade=_mean(nets),
        median_trade=statistics.median(nets) if nets else _ZERO,
        fees=sum((f.fee for f in fills), _ZERO),
        gross=sum((t.gross for t in trades), _ZERO),
        net=sum(nets, _ZERO),
        max_drawdown=money,
        max_drawdown_pct=pct,
        exposure_pct=Decimal(sum(curve.held)) / len(curve.held) * 100 if curve.held else _ZERO,
        avg_hold_minutes=_mean(holds),
        buy_hold_end=buy_hold.equity[-1] if buy_hold.equity else start,
        exits=exits,
    )


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, _ZERO) / len(values) if values else _ZERO
