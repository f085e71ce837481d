"""Local exchange simulator: real venue clients (ccxt, alpaca-py) talk HTTP to 127.0.0.1.

One `ThreadingHTTPServer` hosts every venue under a path prefix (`/kraken`, `/binance`, ...);
each venue dialect is one module in `tests/sim/venues/`. Test-only code: never imported by `nija`.
"""

from __future__ import annotations

from tests.sim.faults import FaultKind
from tests.sim.model import Account, Candle, Fill, Market, Order, OrderStatus, Reject, Side
from tests.sim.requestlog import RequestRecord
from tests.sim.simulator import Simulator

__all__ = [
    "Account",
    "Candle",
    "FaultKind",
    "Fill",
    "Market",
    "Order",
    "OrderStatus",
    "Reject",
    "RequestRecord",
    "Side",
    "Simulator",
]
