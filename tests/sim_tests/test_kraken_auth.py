"""Kraken API-Sign verification, strict per-key nonces, and the per-key call counter."""

from __future__ import annotations

import base64
import threading
from decimal import Decimal

import ccxt
import pytest

from tests.sim.simulator import Simulator
from tests.sim_tests.conftest import KRAKEN_KEY, KrakenFactory


def test_unknown_key_is_authentication_error(simulator: Simulator, make_kraken: KrakenFactory) -> None:
    client = make_kraken("no-such-key")
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        client.fetch_balance()


def test_wrong_secret_is_invalid_signature_which_ccxt_leaves_unmapped(
    simulator: Simulator, make_kraken: KrakenFactory
) -> None:
    client = make_kraken(secret=base64.b64encode(b"not the secret").decode())
    with pytest.raises(ccxt.ExchangeError, match="EAPI:Invalid signature") as raised:
        client.fetch_balance()
    assert type(raised.value) is ccxt.ExchangeError
    assert simulator.invalid_nonces("kraken", KRAKEN_KEY) == 0  # refused before the nonce is looked at


def test_a_tampered_body_fails_the_signature(simulator: Simulator, kraken: ccxt.kraken) -> None:
    signed = kraken.sign("BalanceEx", ["private"], "POST", {})
    import requests

    answer = requests.post(signed["url"], data=signed["body"] + "&asset=XXBT", headers=signed["headers"], timeout=5)
    assert answer.json() == {"error": ["EAPI:Invalid signature"]}


def test_nonce_must_grow_strictly_per_key(simulator: Simulator, kraken: ccxt.kraken) -> None:
    kraken.fetch_balance()
    kraken.options["lastNonce"] = 0
    kraken.nonce = lambda: 1  # an old nonce, as from a client whose clock is behind

    with pytest.raises(ccxt.InvalidNonce, match="EAPI:Invalid nonce"):
        kraken.fetch_balance()
    assert simulator.invalid_nonces("kraken", KRAKEN_KEY) == 1


def test_a_key_poisoned_by_a_microsecond_client_rejects_millisecond_nonces(
    simulator: Simulator, make_kraken: KrakenFactory
) -> None:
    micro, milli = make_kraken(), make_kraken()
    micro.nonce = lambda: micro.microseconds()
    micro.fetch_balance()

    for _ in range(3):
        with pytest.raises(ccxt.InvalidNonce):
            milli.fetch_balance()
    assert simulator.invalid_nonces("kraken", KRAKEN_KEY) == 3


def test_two_instances_on_one_key_from_four_threads_collide_on_nonces(
    simulator: Simulator, make_kraken: KrakenFactory
) -> None:
    clients = [make_kraken(), make_kraken()]
    for client in clients:
        client.load_markets()
    failures: list[int] = []
    calls_per_thread = 25

    def hammer(client: ccxt.kraken) -> None:
        failed = 0
        for _ in range(calls_per_thread):
            try:
                client.fetch_balance()
            except ccxt.InvalidNonce:
                failed += 1
        failures.append(failed)

    threads = [threading.Thread(target=hammer, args=(clients[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    rejected = sum(failures)
    assert 0 < rejected < 4 * calls_per_thread  # the simulator is strict, and some calls do pass
    assert simulator.invalid_nonces("kraken", KRAKEN_KEY) == rejected


def test_rate_counter_refuses_past_the_maximum_and_drains_per_second(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    simulator.set_rate_limit("kraken", KRAKEN_KEY, max_count=4, decay_per_s=0)
    kraken.fetch_balance()  # +1
    kraken.fetch_my_trades()  # TradesHistory: +2
    kraken.create_order("BTC/USD", "market", "buy", 0.001)  # AddOrder: not counted
    kraken.fetch_balance()  # +1 = 4

    with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
        kraken.fetch_balance()
    kraken.create_order("BTC/USD", "market", "buy", 0.001)  # trading calls still pass
    kraken.fetch_ticker("BTC/USD")  # public calls are not on the key's counter

    simulator.set_rate_limit("kraken", KRAKEN_KEY, max_count=20, decay_per_s=1)
    for _ in range(20):
        kraken.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection):
        kraken.fetch_balance()


def test_rate_counter_is_off_by_default(simulator: Simulator, kraken: ccxt.kraken) -> None:
    for _ in range(40):
        kraken.fetch_balance()
    assert simulator.balances("kraken", KRAKEN_KEY)["USD"] == Decimal("10000")
