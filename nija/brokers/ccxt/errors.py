"""ccxt exceptions translated into the broker error taxonomy: one table, one context manager.

`ccxt_errors` is the only place ccxt exceptions are caught; the table is matched most specific
first, and an unmapped venue error is transient (fail the cycle, never assume success).
"""

from __future__ import annotations

from collections.abc import Iterator
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


# Venue answers ccxt leaves as a plain ExchangeError (so they would read as transient), matched on
# the venue's own text before the class table. Kraken answers a wrong API secret with
# "EAPI:Invalid signature", which ccxt 4.5 does not map (it maps only "EAPI:Invalid key").
_VENUE_TEXTS: Final[dict[BrokerName, tuple[tuple[str, type[BrokerError]], ...]]] = {
    BrokerName.KRAKEN: (("EAPI:Invalid signature", AuthError),),
}


@contextmanager
def ccxt_errors(broker: BrokerName) -> Iterator[None]:
    """Translate ccxt exceptions into the broker error taxonomy (the only place they are caught)."""
    try:
        yield
    except ccxt.BaseError as exc:
        if not isinstance(exc, ccxt.NetworkError):
            for text, target in _VENUE_TEXTS.get(broker, ()):
                if text in str(exc):
                    raise target(f"{broker}: {type(exc).__name__}: {exc}") from exc
        for source, target in _CCXT_ERRORS:
            if isinstance(exc, source):
                raise target(f"{broker}: {type(exc).__name__}: {exc}") from exc
        raise  # unreachable: BaseError is the last row
