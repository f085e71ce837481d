"""ccxt exceptions translated into the broker error taxonomy: one table, one context manager.

`ccxt_errors` is the only place ccxt exceptions are caught; the table is matched most specific
first, and an unmapped venue error is transient (fail the cycle, never assume success).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import ccxt

from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    InvalidNonce,
    OrderRejected,
    TransientError,
)
from nija.brokers.ccxt import binance, kraken, okx
from nija.models import BrokerName

__all__ = ["ccxt_errors"]

# Most specific first: ccxt's InvalidNonce is also a NetworkError, PermissionDenied an AuthenticationError.
_CCXT_ERRORS: Final[tuple[tuple[type[Exception], type[BrokerError]], ...]] = (
    (ccxt.InvalidNonce, InvalidNonce),
    (ccxt.AuthenticationError, AuthError),
    (ccxt.AccountSuspended, AuthError),
    (ccxt.InsufficientFunds, InsufficientFunds),
    (ccxt.BadSymbol, OrderRejected),
    (ccxt.InvalidOrder, OrderRejected),
    (ccxt.NetworkError, TransientError),  # timeouts, 5xx, DDoSProtection and RateLimitExceeded (siblings in 4.5)
    (ccxt.BadResponse, TransientError),
    (ccxt.NotSupported, OrderRejected),
    (ccxt.BaseError, TransientError),  # unmapped venue errors: fail the cycle, never assume success
)


# Venue answers ccxt leaves unmapped or maps by a class that misleads (a plain ExchangeError reads
# as transient; Kraken's cancel-only market is an OnMaintenance, a network error), matched on the
# venue's own text before the class table: one table per venue, in its module (kraken.ERRORS).
_VENUE_TEXTS: Final[dict[BrokerName, Callable[[str], type[BrokerError] | None]]] = {
    BrokerName.KRAKEN: lambda text: row.error if (row := kraken.error_for(text)) is not None else None,
    BrokerName.BINANCE: binance.error_class,
    BrokerName.OKX: okx.error_for,
}


@contextmanager
def ccxt_errors(broker: BrokerName) -> Iterator[None]:
    """Translate ccxt exceptions into the broker error taxonomy (the only place they are caught)."""
    try:
        yield
    except ccxt.BaseError as exc:
        classify = _VENUE_TEXTS.get(broker)
        if classify is not None and not isinstance(exc, ccxt.InvalidNonce):
            target = classify(str(exc))
            if target is not None:
                raise target(f"{broker}: {type(exc).__name__}: {exc}") from exc
        for source, target in _CCXT_ERRORS:
            if isinstance(exc, source):
                raise target(f"{broker}: {type(exc).__name__}: {exc}") from exc
        raise  # unreachable: BaseError is the last row
