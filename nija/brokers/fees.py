"""The one fee table: taker, maker and typical spread per broker, as fractions.

Every part of NIJA that needs a fee reads it from here; the original kept four tables that
disagreed (Kraken at 0.26 %, 0.36 %, 0.52 % and 0.67 % in different modules). An operator on a
better fee tier overrides a broker's row once at start (`NIJA_FEES_<BROKER>`, via
`configure_fees`); from then on every reader sees the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from nija.models import BrokerName, FeeSchedule

__all__ = [
    "DEFAULT_FEES",
    "FeeSchedule",
    "configure_fees",
    "fee_schedule",
]


# Published base-tier schedules (Coinbase Advanced, Kraken Pro, OKX, Binance spot, Alpaca).
DEFAULT_FEES: Final = MappingProxyType(
    {
        BrokerName.COINBASE: FeeSchedule(Decimal("0.0060"), Decimal("0.0040"), Decimal("0.0020")),
        BrokerName.KRAKEN: FeeSchedule(Decimal("0.0026"), Decimal("0.0016"), Decimal("0.0010")),
        BrokerName.OKX: FeeSchedule(Decimal("0.0010"), Decimal("0.0008"), Decimal("0.0005")),
        BrokerName.BINANCE: FeeSchedule(Decimal("0.0010"), Decimal("0.0010"), Decimal("0.0005")),
        BrokerName.ALPACA: FeeSchedule(Decimal("0"), Decimal("0"), Decimal("0.0010")),
    }
)

_active: Mapping[BrokerName, FeeSchedule] = DEFAULT_FEES


def configure_fees(overrides: Mapping[BrokerName, FeeSchedule]) -> None:
    """Replace some brokers' rows (from settings), once at start, before any thread reads them."""
    global _active
    _active = MappingProxyType({**DEFAULT_FEES, **overrides})


def fee_schedule(broker: BrokerName) -> FeeSchedule:
    """Return the fee schedule of `broker` in force."""
    return _active[broker]
