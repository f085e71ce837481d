"""Which master brokers could take an entry right now, shared by the broker loops.

Capital stays isolated: an entry found on one broker is never moved to another. This registry
only lets a loop report, per entry, whether another funded broker listed the same market at a
lower round-trip fee, so the operator sees what isolation costs (`nija.status`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from nija.models import BrokerName

__all__ = ["EligibleBrokers"]


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
