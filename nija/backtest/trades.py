"""Closed trades from a run's fills, the exit-reason vocabulary, and the trades' fingerprint.

Pure: functions of fill records. A trade opens with a buy when nothing is held and closes when
the sells have brought the quantity back to zero; a partial take-profit is one of its exits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from nija.backtest.engine import FillRecord
from nija.models import Side

__all__ = ["EXIT_REASONS", "Trade", "closed_trades", "exit_reason", "fingerprint"]

# The report's exit columns, in the order a position can meet them.
EXIT_REASONS: Final = ("emergency", "stop", "tp1", "tp2", "tp3", "trailing", "ema_cross", "kill_switch")
_ENTRY: Final = re.compile(r"\w+ entry\b")  # the loop's entry reason: "<strategy> entry score=..."
_ACTIONS: Final = {
    "emergency": "emergency", "stop": "stop", "trailing_stop": "trailing", "ema_cross": "ema_cross",
    "kill_switch": "kill_switch",
}


@dataclass(frozen=True)
class Trade:
    """One round trip: everything bought from flat, and the sells that brought it back to flat."""

    symbol: str
    entry_ms: int
    exit_ms: int
    qty: Decimal  # base bought
    cost: Decimal  # quote paid for it, fees excluded
    proceeds: Decimal  # quote received for it, fees excluded
    fees: Decimal
    exits: tuple[str, ...]  # exit reason of each sell, in order

    @property
    def gross(self) -> Decimal:
        """Profit before fees (the spread and slippage are in the fill prices)."""
        return self.proceeds - self.cost

    @property
    def net(self) -> Decimal:
        """Profit after fees."""
        return self.gross - self.fees

    @property
    def net_pct(self) -> Decimal:
        """Profit after fees, in percent of what was paid for the position."""
        return self.net / self.cost * 100

    @property
    def reason(self) -> str:
        """Why the position finally closed."""
        return self.exits[-1]


def exit_reason(order_reason: str) -> str:
    """The report's exit reason for an order reason the broker loop wrote ("action: detail");
    "entry" for a buy, "other" for anything the vocabulary does not know."""
    action, _, detail = order_reason.partition(":")
    if action == "take_profit":
        stage = detail.strip().removeprefix("take profit ").split(":")[0]
        return f"tp{stage}" if stage.isdigit() else "tp"
    if action == "entry" or _ENTRY.match(order_reason):
        return "entry"
    return _ACTIONS.get(action, "other")


def closed_trades(fills: Iterable[FillRecord]) -> list[Trade]:
    """Group fills into round trips per symbol; a position still open at the end is left out."""
    open_by_symbol: dict[str, list[FillRecord]] = {}
    held: dict[str, Decimal] = {}
    trades: list[Trade] = []
    for fill in fills:
        legs = open_by_symbol.setdefault(fill.symbol, [])
        legs.append(fill)
        change = fill.qty if fill.side is Side.BUY else -fill.qty
        held[fill.symbol] = held.get(fill.symbol, Decimal(0)) + change
        if held[fill.symbol] <= 0:
            trades.append(_trade(legs))
            open_by_symbol[fill.symbol] = []
            held[fill.symbol] = Decimal(0)
    return sorted(trades, key=lambda t: (t.entry_ms, t.symbol))


def _trade(legs: Sequence[FillRecord]) -> Trade:
    buys = [f for f in legs if f.side is Side.BUY]
    sells = [f for f in legs if f.side is Side.SELL]
    return Trade(
        symbol=legs[0].symbol,
        entry_ms=legs[0].ts_ms,
        exit_ms=legs[-1].ts_ms,
        qty=sum((f.qty for f in buys), Decimal(0)),
        cost=sum((f.qty * f.price for f in buys), Decimal(0)),
        proceeds=sum((f.qty * f.price for f in sells), Decimal(0)),
        fees=sum((f.fee for f in legs), Decimal(0)),
        exits=tuple(exit_reason(f.reason) for f in sells),
    )


def fingerprint(trades: Iterable[Trade]) -> str:
    """sha256 of the closed trades (times, quantities, money, exits), in a canonical order: any
    change to what was traded changes it; running symbols in another order or process does not."""
    rows = sorted(
        (t.symbol, t.entry_ms, t.exit_ms, str(t.qty), str(t.cost), str(t.proceeds), str(t.fees), list(t.exits))
        for t in trades
    )
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
