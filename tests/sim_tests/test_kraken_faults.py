"""Each injected fault reaches the real ccxt client as the exception research §4 measured."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pytest

from tests.sim.simulator import Simulator
from tests.sim_tests.conftest import KrakenFactory

CID = "nj00000000000000aa"
_FAST = {"timeout": 300}  # ms; timeout faults sleep past it


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("invalid_nonce", {}, ccxt.InvalidNonce),
        ("insufficient_funds", {}, ccxt.InsufficientFunds),
        ("rate_limit", {}, ccxt.DDoSProtection),
        ("auth_error", {}, ccxt.AuthenticationError),
        ("http_5xx", {}, ccxt.ExchangeNotAvailable),
        ("http_5xx", {"status": 502, "body": "<html><body>Bad gateway</body></html>"}, ccxt.ExchangeNotAvailable),
        ("http_5xx", {"status": 504}, ccxt.RequestTimeout),
        ("http_429", {}, ccxt.RateLimitExceeded),
        ("http_429", {"body": '{"error":["EAPI:Rate limit exceeded"]}'}, ccxt.DDoSProtection),
        ("timeout", {"delay_ms": 800}, ccxt.RequestTimeout),
        ("timeout", {"delay_ms": 800, "drop": True}, ccxt.RequestTimeout),
        ("drop", {}, ccxt.NetworkError),
    ],
)
def test_fault_maps_to_the_ccxt_exception(
    simulator: Simulator, make_kraken: KrakenFactory, kind: str, options: dict[str, object], expected: type[Exception]
) -> None:
    client = make_kraken(**_FAST)
    client.load_markets()
    simulator.inject("kraken", "BalanceEx", kind, **options)

    with pytest.raises(expected) as raised:
        client.fetch_balance()

    if expected is ccxt.RateLimitExceeded:
        assert not isinstance(raised.value, ccxt.DDoSProtection)  # siblings in 4.5.90, not parent and child
    assert client.fetch_balance()["total"] == {"USD": 10000.0, "BTC": 0.0}  # times=1: the next call is clean


def test_drop_is_a_plain_network_error_not_a_subclass(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.inject("kraken", "BalanceEx", "drop")
    with pytest.raises(ccxt.NetworkError) as raised:
        kraken.fetch_balance()
    assert type(raised.value) is ccxt.NetworkError
    [request] = simulator.requests("kraken", path_contains="BalanceEx")
    assert request.dropped and request.status is None


def test_html_200_raises_nothing_and_create_order_returns_id_none(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.inject("kraken", "BalanceEx", "html_200")
    assert kraken.fetch_balance()["total"] == {}

    simulator.inject("kraken", "AddOrder", "html_200")
    order = kraken.create_order("BTC/USD", "market", "buy", 0.001)
    assert order["id"] is None
    assert simulator.orders("kraken") == []  # before-processing: the venue never saw it


_CLIENT_ERROR: list[tuple[str, dict[str, object], type[Exception] | None]] = [
    ("drop", {}, ccxt.NetworkError),
    ("timeout", {"delay_ms": 800}, ccxt.RequestTimeout),
    ("timeout", {"delay_ms": 800, "drop": True}, ccxt.RequestTimeout),
    ("http_5xx", {}, ccxt.ExchangeNotAvailable),
    ("html_200", {}, None),
]


@pytest.mark.parametrize(("kind", "options", "expected"), _CLIENT_ERROR)
def test_apply_after_leaves_the_order_at_the_venue_though_the_client_failed(
    simulator: Simulator,
    make_kraken: KrakenFactory,
    kind: str,
    options: dict[str, object],
    expected: type[Exception] | None,
) -> None:
    client = make_kraken(**_FAST)
    client.load_markets()
    simulator.inject("kraken", "AddOrder", kind, apply_after=True, **options)

    if expected is None:
        assert client.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": CID})["id"] is None
    else:
        with pytest.raises(expected):
            client.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": CID})

    [found] = client.fetch_closed_orders(params={"clientOrderId": CID})
    assert (found["clientOrderId"], found["status"], found["filled"]) == (CID, "closed", 0.001)
    assert simulator.count_orders("kraken", CID) == 1
    [record] = simulator.requests("kraken", path_contains="AddOrder")
    assert record.faults == (f"after:{kind}",)


def test_before_processing_faults_create_nothing(simulator: Simulator, make_kraken: KrakenFactory) -> None:
    client = make_kraken(**_FAST)
    client.load_markets()
    for kind in ("drop", "http_5xx", "invalid_nonce"):
        simulator.inject("kraken", "AddOrder", kind)
        with pytest.raises(ccxt.NetworkError):
            client.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": CID})

    assert simulator.orders("kraken") == []
    assert client.fetch_closed_orders(params={"clientOrderId": CID}) == []
    assert simulator.count_orders("kraken", CID) == 3


def test_a_persistent_fault_stays_until_cleared(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.inject("kraken", "/0/private/", "http_5xx", times=None, status=520)
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            kraken.fetch_balance()
    kraken.fetch_ticker("BTC/USD")  # public path untouched

    simulator.clear_faults("kraken")

    assert kraken.fetch_balance()["total"]["USD"] == 10000.0


def test_faults_can_target_one_key_and_one_method(simulator: Simulator, make_kraken: KrakenFactory) -> None:
    other = simulator.add_account("kraken", "kraken-key-2", balances={"USD": 50})
    mine, theirs = make_kraken(), make_kraken("kraken-key-2", other.secret)
    simulator.inject("kraken", "BalanceEx", "auth_error", times=None, api_key="kraken-key-2")
    simulator.inject("kraken", "Ticker", "http_5xx", times=None, method="POST")

    assert mine.fetch_balance()["total"]["USD"] == 10000.0
    with pytest.raises(ccxt.AuthenticationError):
        theirs.fetch_balance()
    assert mine.fetch_ticker("BTC/USD")["last"] == 60000.0


def _elapsed_ms(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return (time.monotonic() - started) * 1000


def test_latency_fault_and_venue_latency_delay_answers(simulator: Simulator, kraken: ccxt.kraken) -> None:
    assert _elapsed_ms(kraken.fetch_balance) < 100
    simulator.inject("kraken", "BalanceEx", "latency", delay_ms=150)
    assert 150 <= _elapsed_ms(kraken.fetch_balance) < 400

    simulator.set_latency("kraken", 120)
    assert 120 <= _elapsed_ms(lambda: kraken.fetch_ticker("BTC/USD")) < 400
    simulator.set_latency("kraken", 0)
    assert _elapsed_ms(lambda: kraken.fetch_ticker("BTC/USD")) < 100


def test_injected_partial_fill_needs_a_fraction(simulator: Simulator) -> None:
    with pytest.raises(ValueError, match="fraction"):
        simulator.inject("kraken", "AddOrder", "partial_fill")
