"""Which master brokers could take an entry right now, and which of them trades it cheaper.

Capital stays isolated: an entry found on one broker is never moved to another. This registry
only lets a loop report, per entry, whether another funded broker listed the same market at a
lower round-trip fee (`cheaper_broker`), so the operator sees what isolation costs
(`nija.status`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Final

from nija.brokers.fees import fee_schedule
from nija.models import BrokerName, FeeSchedule

__all__ = ["EligibleBrokers", "cheaper_broker", "same_market"]

# Quotes that price the same thing for fee comparison: BTC/USD on Kraken vs BTC/USDT on Binance.
_DOLLAR_QUOTES: Final = frozenset({"USD", "USDT", "USDC"})


class EligibleBrokers:
    """Broker → symbols it can enter now (funded, not halted, entries allowed). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._symbols: dict[BrokerName, frozenset[str]] = {}

    def update(self, broker: BrokerName, eligible: bool, symbols: Iterable[str] = ()) -> None:
        """Record the broker's state after its cycle."""
        with self._lock:
            if eligible:
                self._symbols[broker] = frozenset(symbols)
            else:
                self._symbols.pop(broker, None)

    def snapshot(self) -> dict[BrokerName, frozenset[str]]:
        """A copy, safe to read without the lock."""
        with self._lock:
            return dict(self._symbols)


def same_market(symbol: str, other: str) -> bool:
    """Whether two symbols trade the same asset against the dollar (or are simply equal)."""
    if symbol == other:
        return True
    base, _, quote = symbol.partition("/")
    other_base, _, other_quote = other.partition("/")
    return base == other_base and quote in _DOLLAR_QUOTES and other_quote in _DOLLAR_QUOTES


def cheaper_broker(
    symbol: str, broker: BrokerName, tradable: Mapping[BrokerName, Iterable[str]]
) -> tuple[BrokerName, FeeSchedule] | None:
    """The cheapest other broker (by round trip) that lists `symbol`, if it is cheaper than `broker`.

    `tradable` maps each funded broker to the symbols it can trade. Pure; used to report the
    cost of capital isolation, never to move an entry.
    """
    own = fee_schedule(broker).round_trip
    best: tuple[BrokerName, FeeSchedule] | None = None
    for other, symbols in sorted(tradable.items()):
        if other == broker or not any(same_market(symbol, s) for s in symbols):
            continue
        schedule = fee_schedule(other)
        if schedule.round_trip < own and (best is None or schedule.round_trip < best[1].round_trip):
            best = (other, schedule)
    return best
