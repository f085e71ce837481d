"""The backtest's fill model: which fee table row and paper spread/slippage its orders fill at.

Nothing here fills an order: the paper broker does, exactly as in the daemon's paper mode. This
module only picks the numbers it fills with (`--broker`'s fee row, overridden by `--fee`,
`--spread-bps`) and puts that row in force for the run, because the broker loop reads the fee
table too (sizing's fee reserve and the take-profit fee floor): one table, one set of numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from nija.brokers.fees import DEFAULT_FEES, configure_fees, fee_schedule
from nija.models import BrokerName, FeeSchedule

__all__ = ["FillModel", "fees_in_force"]

_BPS: Final = Decimal("0.0001")
_PCT: Final = Decimal("0.01")


@dataclass(frozen=True)
class FillModel:
    """How market orders fill: at the cycle's price (the candle's close) ± half the spread ±
    slippage, paying the taker fee on the notional."""

    broker: BrokerName
    spread_bps: Decimal | None = None  # None: the broker's typical spread from the fee table
    slippage_bps: Decimal = Decimal(5)  # the daemon's paper default (NIJA_PAPER_SLIPPAGE_BPS)
    fee_pct: Decimal | None = None  # taker fee in percent; None: the broker's table row

    def schedule(self) -> FeeSchedule:
        """The fee table row this run trades under."""
        row = DEFAULT_FEES[self.broker]
        return FeeSchedule(
            taker=row.taker if self.fee_pct is None else self.fee_pct * _PCT,
            maker=row.maker,
            spread=row.spread if self.spread_bps is None else self.spread_bps * _BPS,
        )

    def describe(self) -> str:
        """One sentence stating the fill model, for the report."""
        row = self.schedule()
        return (
            f"market orders fill at the candle close ± half the {row.spread / _BPS:g} bps spread"
            f" ± {self.slippage_bps:g} bps slippage, paying {row.taker / _PCT:g}% taker fee"
            f" ({self.broker} fee table{', overridden' if self.fee_pct is not None or self.spread_bps is not None else ''})"
        )


@contextmanager
def fees_in_force(broker: BrokerName, schedule: FeeSchedule) -> Iterator[None]:
    """Put `schedule` in the fee table for `broker` while a run builds and runs, then restore it."""
    saved = {name: fee_schedule(name) for name in BrokerName}
    configure_fees({**saved, broker: schedule})
    try:
        yield
    finally:
        configure_fees(saved)
