"""Alpaca's error answers translated into the broker error taxonomy, in one place.

`alpaca_errors` is the only place alpaca-py and requests exceptions are caught. Alpaca uses one
403 code for several refusals, so funds are told apart by the message (`classify_api_error`,
one test per message); anything unmapped is transient, never a refusal the venue did not say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import requests
from alpaca.common.exceptions import APIError

from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    MarketDataError,
    OrderRejected,
    TransientError,
)
from nija.models import BrokerName

# _NotFound and _DuplicateClientOrderId are signals for alpaca/broker.py only, not part of the taxonomy.
__all__ = ["alpaca_errors", "classify_api_error"]

_INSUFFICIENT: Final = "insufficient"
_DUPLICATE_CLIENT_ID: Final = "client_order_id must be unique"
_VALIDATION_CODE: Final = 40010001


class _NotFound(MarketDataError):
    """404 on a read: `fetch_order` turns it into None, `market_rules` into an unknown symbol."""


class _DuplicateClientOrderId(OrderRejected):
    """422 on create: the venue already holds an order with this client id (an earlier send landed)."""


def classify_api_error(status: int | None, code: int | None, message: str, *, placing: bool) -> type[BrokerError]:
    """The broker error for one Alpaca error answer; `placing` is True for the order POST.

    Alpaca answers insufficient buying power and insufficient qty with the same 403/40310000 it
    uses for PDT protection, wash trades and "cost basis must be >= 1", so only the message tells
    funds apart. Other 403s on an order refuse that order; on a read they mean the key or
    account may not do this (AuthError). Anything unmapped (408, 429, 5xx) is transient: never
    assume an order was refused when the venue did not say so.
    """
    text = message.lower()
    if status in (403, 422) and _INSUFFICIENT in text:
        return InsufficientFunds
    if placing and status == 422 and code == _VALIDATION_CODE and _DUPLICATE_CLIENT_ID in text:
        return _DuplicateClientOrderId
    if status == 401:
        return AuthError
    if status == 403:
        return OrderRejected if placing else AuthError
    if status == 404:
        return OrderRejected if placing else _NotFound
    if status in (400, 422):
        return OrderRejected if placing else MarketDataError
    return TransientError


def _error_payload(exc: APIError) -> tuple[int | None, str]:
    # alpaca-py parses the body lazily and raises on a non-JSON one (an HTML 502 page)
    try:
        body = json.loads(str(exc))
    except ValueError:
        return None, str(exc)[:200]
    if not isinstance(body, dict):
        return None, str(body)[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message", ""))


@contextmanager
def alpaca_errors(broker: BrokerName, *, placing: bool = False) -> Iterator[None]:
    """Translate alpaca-py and requests exceptions into the broker taxonomy (the only place they are caught)."""
    try:
        yield
    except APIError as exc:
        code, message = _error_payload(exc)
        target = classify_api_error(exc.status_code, code, message, placing=placing)
        raise target(f"{broker}: HTTP {exc.status_code} code {code}: {message}") from exc
    except requests.RequestException as exc:  # timeout, refused or dropped connection, a 200 that is not JSON
        raise TransientError(f"{broker}: {type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        # pydantic's ValidationError is a ValueError; alpaca-py builds a model from an empty 200 as
        # `Model(**None)`, a TypeError. Either way the answer is unusable.
        raise MarketDataError(f"{broker}: malformed answer: {type(exc).__name__}: {exc}") from exc
