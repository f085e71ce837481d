"""The contract, errors: refused keys are an `AuthError`, a failing read is transient once its
retries are spent, and a malformed answer is an error, never an empty balance or a missing order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nija.brokers.base import AuthError, MarketDataError, TransientError
from nija.models import QuantityUnit, Side
from tests.brokers.contract.conftest import BALANCE, LOOKUP, Harness

@pytest.mark.parametrize("bad_key", ["unknown key", "wrong secret"])
def test_refused_keys_are_an_auth_error(harness: Harness, bad_key: str) -> None:
    # Kraken's "wrong secret" is "EAPI:Invalid signature", which ccxt leaves unmapped: it was read
    # as transient and the account retried forever instead of stopping.
    broker = harness.build(cash="1000", bad_key=bad_key)
    with pytest.raises(AuthError):
        broker.balance_snapshot()
    with pytest.raises(AuthError):
        broker.place(harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "refused-key"))


@pytest.mark.parametrize("kind", ["http_5xx", "timeout"])
def test_a_failing_read_is_transient_once_its_retries_are_spent(harness: Harness, kind: str) -> None:
    if not harness.wire:
        pytest.skip("paper has no wire: its reads cannot fail in transit")
    broker = harness.build(cash="1000", timeout_s=0.3)
    options = {"delay_ms": 1000} if kind == "timeout" else {}
    harness.inject(BALANCE, kind, times=None, **options)
    with pytest.raises(TransientError):
        broker.balance_snapshot()
    assert harness.calls(BALANCE) == harness.read_attempts  # retried by the adapter, not by its library
    harness.clear_faults()
    harness.inject(BALANCE, kind, times=harness.read_attempts - 1, **options)
    assert broker.balance_snapshot().total_equity == Decimal("1000")  # the last attempt is served


@pytest.mark.parametrize("read", [BALANCE, LOOKUP])
def test_a_malformed_answer_is_an_error_never_an_empty_read(harness: Harness, read: str) -> None:
    if not harness.wire:
        pytest.skip("paper has no wire: its answers cannot arrive garbled")
    broker = harness.build(cash="1000")
    buy = harness.request(Side.BUY, "60", QuantityUnit.QUOTE, "malformed")
    broker.place(buy)
    harness.inject(read, "html_200", times=None)
    with pytest.raises((MarketDataError, TransientError)):
        if read == BALANCE:
            broker.balance_snapshot()  # never equity 0, "unfunded"
        else:
            broker.fetch_order(buy.client_order_id, harness.symbol)  # never None, "not found"
    harness.clear_faults()
    assert broker.fetch_order(buy.client_order_id, harness.symbol) is not None
    assert broker.balance_snapshot().total_equity > 0
