"""ccxt exceptions map onto the broker error taxonomy by class, most specific first."""

from __future__ import annotations

import ccxt
import pytest

from nija.brokers.base import AuthError, InsufficientFunds, InvalidNonce, OrderRejected, TransientError
from nija.brokers.ccxt_broker import ccxt_errors, redirect
from nija.models import BrokerName


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.InvalidNonce, InvalidNonce),  # also a NetworkError: must not become a plain transient
        (ccxt.AuthenticationError, AuthError),
        (ccxt.PermissionDenied, AuthError),
        (ccxt.AccountSuspended, AuthError),
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.InvalidOrder, OrderRejected),
        (ccxt.OrderNotFound, OrderRejected),
        (ccxt.BadSymbol, OrderRejected),
        (ccxt.RequestTimeout, TransientError),
        (ccxt.ExchangeNotAvailable, TransientError),
        (ccxt.OnMaintenance, TransientError),
        (ccxt.DDoSProtection, TransientError),  # Kraken's rate limit answer
        (ccxt.RateLimitExceeded, TransientError),  # a sibling of DDoSProtection in ccxt 4.5
        (ccxt.NetworkError, TransientError),
        (ccxt.BadResponse, TransientError),
        (ccxt.ExchangeError, TransientError),  # unmapped venue errors never pass as success
    ],
)
def test_every_ccxt_error_class_is_translated(raised: type[Exception], expected: type[Exception]) -> None:
    with pytest.raises(expected) as info, ccxt_errors(BrokerName.KRAKEN):
        raise raised("venue said no")
    assert type(info.value) is expected
    assert isinstance(info.value.__cause__, raised)
    assert str(info.value).startswith(f"kraken: {raised.__name__}: ")


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), ccxt_errors(BrokerName.OKX):
        raise KeyError("not a venue error")


def test_redirect_keeps_paths() -> None:
    client = ccxt.binance()
    redirect(client, "http://127.0.0.1:9/binance")
    assert client.urls["api"]["public"] == "http://127.0.0.1:9/binance/api/v3"
    assert client.urls["api"]["sapi"].startswith("http://127.0.0.1:9/binance/sapi/")
