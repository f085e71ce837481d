"""ccxt exceptions map onto the broker error taxonomy by class, most specific first."""

from __future__ import annotations

import ccxt
import pytest

from nija.brokers.base import AuthError, InsufficientFunds, InvalidNonce, OrderRejected, TransientError
from nija.brokers.ccxt.client import redirect
from nija.brokers.ccxt.errors import ccxt_errors
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


def test_a_2xx_answer_is_parsed_once_and_a_non_json_one_refused() -> None:
    from nija.brokers.ccxt.client import _refuse_non_json

    client = ccxt.kraken()
    calls: list[str] = []
    parse = client.on_json_response
    client.on_json_response = lambda text: (calls.append(text), parse(text))[1]  # ccxt's parser, counted
    _refuse_non_json(client)
    body = client.on_rest_response(200, "OK", "u", "POST", {}, ' {"result": {"txid": ["O1"]}} ', {}, None)
    assert client.parse_json(body) == {"result": {"txid": ["O1"]}}
    assert calls == [body]  # the check's value was handed to ccxt: one parse per answer
    assert client.parse_json('{"other": 1}') == {"other": 1}  # any other text is parsed as before
    with pytest.raises(ccxt.BadResponse, match="not JSON"):
        client.on_rest_response(200, "OK", "u", "GET", {}, "<html>busy</html>", {}, None)
    assert client.on_rest_response(502, "Bad", "u", "GET", {}, "<html>busy</html>", {}, None) == "<html>busy</html>"


def test_kraken_invalid_signature_is_an_auth_error_not_transient() -> None:
    # ccxt maps "EAPI:Invalid key" but leaves "EAPI:Invalid signature" (a wrong secret) a plain
    # ExchangeError; read as transient, the account would retry forever instead of stopping.
    with pytest.raises(AuthError, match="Invalid signature"):
        with ccxt_errors(BrokerName.KRAKEN):
            raise ccxt.ExchangeError('kraken {"error":["EAPI:Invalid signature"]}')
    with pytest.raises(TransientError):  # the same text from another venue is not Kraken's answer
        with ccxt_errors(BrokerName.BINANCE):
            raise ccxt.ExchangeError("EAPI:Invalid signature")
