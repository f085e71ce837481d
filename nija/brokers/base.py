"""The `Broker` protocol every adapter implements, and the error taxonomy the loops act on.

Error tree (what the broker loop does with each)::

    BrokerError
    ├── TransientError      network, timeout, 5xx, rate limit: cycle fails, health degraded, retried
    │   └── InvalidNonce    transient: the nonce source jumps forward, the call is retried once
    ├── InsufficientFunds   definitive: the order is recorded rejected, nothing re-sent
    ├── OrderRejected       definitive: below minimum, bad symbol, bad amount; recorded rejected
    ├── AuthError           permanent: health failed, this account stops, the others go on
    └── MarketDataError     a malformed answer (NaN price, missing field): that cycle fails

Adapters translate their library's exceptions into these in one place; nothing outside
`brokers/` ever sees a ccxt or alpaca-py exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from nija.models import (
    BalanceSnapshot,
    BrokerName,
    Candles,
    ExecutionReport,
    MarketRules,
    Order,
    OrderRequest,
    Ticker,
)

__all__ = [
    "AuthError",
    "Broker",
    "BrokerError",
    "InsufficientFunds",
    "InvalidNonce",
    "MarketDataError",
    "OrderRejected",
    "TransientError",
    "read_retrying",
    "secret_text",
    "venue_decimal",
]


class BrokerError(Exception):
    """Base of every error an adapter raises."""


class TransientError(BrokerError):
    """Network, timeout, 5xx or rate limit: the cycle fails and is retried with backoff."""


class InvalidNonce(TransientError):
    """The venue saw a nonce out of order: jump the nonce forward and retry once."""


class InsufficientFunds(BrokerError):
    """The venue (or the paper ledger) refused an order for lack of balance. Definitive."""


class OrderRejected(BrokerError):
    """The order is invalid for this market (minimums, precision, unknown symbol). Definitive."""


class AuthError(BrokerError):
    """Credentials refused or lacking permission. Permanent: the account stops trading."""


class MarketDataError(BrokerError):
    """Market data is missing or malformed (NaN price, unknown symbol): the cycle fails."""


def venue_decimal(value: Any, what: str) -> Decimal:
    """A number from a venue answer as Decimal; anything else (None, text, NaN) is a MarketDataError."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MarketDataError(f"{what}: not a number, was {value!r}") from exc
    if not number.is_finite():
        raise MarketDataError(f"{what}: must be finite, was {value!r}")
    return number


def read_retrying(attempts: int) -> Retrying:
    """The retry policy of every adapter read (never of an order): transient errors only,
    exponential backoff with full jitter so accounts do not retry in step, about 2 s at most."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.2, max=1.0),
        reraise=True,
    )


def secret_text(value: Any) -> str:
    """The plain text of a credential part (a pydantic SecretStr or a str), for a client config."""
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


@runtime_checkable
class Broker(Protocol):
    """One account on one venue, used by exactly one thread.

    Every report carries the order's fills: the venue's own trades (trade id, quantity, price,
    fee, fee currency, venue time) where its answer has them, else one fill per new cumulative
    total, derived deterministically (`brokers.fills`). Each adapter's docstring says which.

    | method                  | returns            | notes                                              |
    |-------------------------|--------------------|----------------------------------------------------|
    | `begin_cycle()`         | None               | once per cycle before anything else (paper: market |
    |                         |                    | time moves one candle; live: refresh markets)      |
    | `balance_snapshot()`    | BalanceSnapshot    | equity = free cash + holdings at mark price        |
    | `holdings()`            | {base asset: qty}  | every non-zero base asset, excluding cash          |
    | `symbols()`             | [symbol]           | the tradable universe, unified "BASE/QUOTE"        |
    | `is_market_open()`      | bool               | False while the venue's session is closed (stocks) |
    | `ticker(symbol)`        | Ticker             |                                                    |
    | `ohlcv(symbol, limit)`  | Candles            | 5-minute candles, oldest first, closed ones        |
    | `market_rules(symbol)`  | MarketRules        | minimums and precision steps                       |
    | `submit(request)`       | ExecutionReport    | send a market order carrying its client order id;  |
    |                         |                    | returns at the venue's acknowledgment (fills only  |
    |                         |                    | if the answer carries them)                        |
    | `place(request)`        | ExecutionReport    | submit, then read the fill of a market order       |
    | `fetch_order(cid, sym,  | ExecutionReport?   | look up by client order id; None if the venue has  |
    |   recorded)`            |                    | never seen it; fills since `recorded` (the order   |
    |                         |                    | as the caller holds it)                            |
    | `cancel_order(order)`   | bool               | ask the venue to cancel an order it holds open (by |
    |                         |                    | its id); False when it refuses (closed meanwhile,  |
    |                         |                    | unknown): a lookup says what became of the order   |
    | `close()`               | None               | release sessions                                   |
    """

    name: BrokerName
    account: str
    cash_currency: str
    scan_batch: int | None  # symbols scanned for entries per cycle (None: all), to fit public limits
    # True: every market settles in `cash_currency` whatever its quote (the paper ledger); False:
    # each in its own quote, as a venue does (ETH/BTC spends BTC).
    settles_in_cash: bool

    def begin_cycle(self) -> None: ...

    def balance_snapshot(self) -> BalanceSnapshot: ...

    def holdings(self) -> Mapping[str, Decimal]: ...

    def symbols(self) -> list[str]: ...

    def is_market_open(self) -> bool: ...

    def ticker(self, symbol: str) -> Ticker: ...

    def ohlcv(self, symbol: str, limit: int) -> Candles: ...

    def market_rules(self, symbol: str) -> MarketRules: ...

    def submit(self, request: OrderRequest) -> ExecutionReport: ...

    def place(self, request: OrderRequest) -> ExecutionReport: ...

    def fetch_order(self, client_order_id: str, symbol: str, recorded: Order | None = None) -> ExecutionReport | None: ...

    def cancel_order(self, order: Order) -> bool: ...

    def close(self) -> None: ...
