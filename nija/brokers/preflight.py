"""What `python -m nija.doctor` asks a venue beyond the `Broker` protocol, venue-neutral.

A `Probe` wraps one built adapter and answers the preflight questions the trading loops never
ask: which environment the client talks to, the venue's clock, the key's permissions, a market's
trading status, the Kraken key's nonce state and a dry-run order. Each family implements it in
its own folder (`brokers/ccxt/preflight.py`, `brokers/alpaca/preflight.py`), keeping the
venue-specific calls there. A probe never places a real order and never moves money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from nija.brokers.base import Broker

__all__ = [
    "DryRun",
    "MarketState",
    "NonceState",
    "Permissions",
    "Probe",
    "ServerClock",
    "probe_for",
]


@dataclass(frozen=True, slots=True)
class ServerClock:
    """The venue's clock against ours: `skew_ms` = venue − local midpoint of the request."""

    skew_ms: float
    resolution_ms: float  # the venue's answer is this coarse (Kraken: whole seconds)
    signed_with_time: bool  # requests carry a timestamp the venue checks (a skew refuses them)
    source: str  # the endpoint asked


@dataclass(frozen=True, slots=True)
class Permissions:
    """What the key may do, as far as the venue says; None: the venue does not tell."""

    can_trade: bool | None
    can_withdraw: bool | None
    source: str  # how it was learnt, for the operator


@dataclass(frozen=True, slots=True)
class MarketState:
    """Whether a market exists at the venue and takes new orders (not cancel-only, halted, ...)."""

    symbol: str
    exists: bool
    tradable: bool
    status: str  # the venue's own word (online, cancel_only, TRADING, live, ...)


@dataclass(frozen=True, slots=True)
class NonceState:
    """A Kraken key's persistent nonce: its file, its saved value and any unit it was converted from."""

    fingerprint: str  # non-secret sha256 prefix of the key; names the file
    path: str
    saved_ms: int  # the mark on disk, in NIJA's unit (milliseconds)
    ahead_ms: int  # how far the mark is ahead of the clock (negative: behind)
    converted_from: str | None  # "microseconds" / "nanoseconds": the key was last used at a larger scale


@dataclass(frozen=True, slots=True)
class DryRun:
    """A dry-run order: `supported` False when the venue has none (then `detail` says what instead)."""

    supported: bool
    accepted: bool
    detail: str


class Probe(Protocol):
    """The preflight questions one account answers; each method may raise a `BrokerError`."""

    def environment(self) -> str:
        """Which environment the client talks to (production, sandbox/testnet, paper, custom URL)."""
        ...

    def cash_currencies(self) -> tuple[str, ...]:
        """The quote currencies counted as cash in equity."""
        ...

    def price_symbol(self, asset: str) -> str | None:
        """The market an asset is valued on (None: no market in a cash currency)."""
        ...

    def server_clock(self) -> ServerClock:
        """The venue's time against ours."""
        ...

    def permissions(self) -> Permissions:
        """What the key may do (trade, withdraw), where the venue exposes it."""
        ...

    def nonce_state(self) -> NonceState | None:
        """The key's persistent nonce (Kraken); None where the venue signs with time instead."""
        ...

    def market_state(self, symbol: str) -> MarketState:
        """Whether `symbol` exists and is tradable."""
        ...

    def dry_run_buy(self, symbol: str, quote_amount: Decimal) -> DryRun:
        """Validate, without placing it, a market buy spending `quote_amount` (sized as NIJA would send it)."""
        ...


def probe_for(broker: Broker, *, paper: bool = False) -> Probe:
    """The probe of a built live adapter (a ccxt or Alpaca account); `paper`: an Alpaca account's
    keys open its paper account (ccxt adapters know their own sandbox)."""
    from nija.brokers.alpaca import AlpacaBroker
    from nija.brokers.alpaca.preflight import AlpacaProbe
    from nija.brokers.ccxt import CcxtBroker
    from nija.brokers.ccxt.preflight import CcxtProbe

    if isinstance(broker, CcxtBroker):
        return CcxtProbe(broker)
    if isinstance(broker, AlpacaBroker):
        return AlpacaProbe(broker, paper=paper)
    raise TypeError(f"no preflight probe for {type(broker).__name__}: only live venue accounts are checked")
