"""The venue-neutral core: lifecycle, request log, standalone process and its control API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from tests.sim.simulator import Simulator
from tests.sim_tests.conftest import KRAKEN_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def test_context_manager_serves_on_loopback_and_stops() -> None:
    with Simulator() as sim:
        url = sim.url("kraken")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/kraken")
        assert _get(url + "/0/public/Time")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/0/public/Time", timeout=2)


def test_start_stop_are_explicit_and_idempotent() -> None:
    sim = Simulator(venues=["kraken"])
    sim.start()
    sim.start()
    assert sim.venue_names() == ["kraken"]
    assert _get(sim.url("kraken") + "/0/public/Time")[0] == 200
    sim.stop()
    sim.stop()


def test_unknown_venue_and_unknown_method(simulator: Simulator) -> None:
    assert _get(simulator.base_url + "/nowhere/x")[0] == 404
    assert _get(simulator.url("kraken") + "/0/public/Nope") == (200, {"error": ["EGeneral:Unknown method"]})
    with pytest.raises(KeyError):
        simulator.url("nowhere")


def test_request_log_records_params_key_status_and_filters(simulator: Simulator, kraken: ccxt.kraken) -> None:
    kraken.fetch_balance()
    kraken.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": "nj-a"})
    kraken.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": "nj-b"})
    simulator.inject("kraken", "AddOrder", "drop")
    with pytest.raises(ccxt.NetworkError):
        kraken.create_order("BTC/USD", "market", "buy", 0.001, params={"clientOrderId": "nj-a"})

    posts = simulator.requests("kraken", method="post")
    assert [r.path for r in posts] == ["/0/private/BalanceEx"] + ["/0/private/AddOrder"] * 3
    assert all(r.api_key == KRAKEN_KEY for r in posts)
    assert [r.status for r in posts] == [200, 200, 200, None]
    assert posts[-1].dropped and posts[-1].faults == ("drop",)
    assert [r.seq for r in simulator.requests("kraken")] == sorted(r.seq for r in simulator.requests("kraken"))
    assert simulator.requests("kraken", method="GET")[0].api_key is None
    assert simulator.count_orders("kraken", "nj-a") == 2
    assert simulator.count_orders("kraken", "nj-b") == 1
    assert simulator.count_orders("kraken", "nj-c") == 0


def test_session_fixture_is_shared(simulator_session: Simulator) -> None:
    simulator_session.add_account("kraken", "session-key", balances={"USD": Decimal(1)})
    assert simulator_session.balances("kraken", "session-key") == {"USD": Decimal(1)}


def test_standalone_process_prints_its_port_and_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sim", "--port", "0", "--latency-ms", "5"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        base = f"http://127.0.0.1:{first['port']}"
        assert first["venues"]["kraken"] == base + "/kraken"

        status, payload = _get(base + "/kraken/0/public/Time")
        assert status == 200 and payload["error"] == [] and payload["result"]["unixtime"] > 0

        account = {"venue": "kraken", "api_key": "bench-1", "balances": {"USD": "500"}}
        created = _post(base + "/_sim/add_account", account)
        client = ccxt.kraken({"apiKey": "bench-1", "secret": created["result"]["secret"], "enableRateLimit": False})
        client.urls["api"] = {"public": base + "/kraken", "private": base + "/kraken"}
        assert client.fetch_balance()["total"]["USD"] == 500.0
        _post(base + "/_sim/set_price", {"venue": "kraken", "symbol": "BTC/USD", "price": "55000"})
        assert client.fetch_ticker("BTC/USD")["last"] == 55000.0
        _post(base + "/_sim/inject", {"venue": "kraken", "path_regex": "BalanceEx", "kind": "http_5xx"})
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_balance()
        assert _get(base + "/_sim/requests?venue=kraken&path_contains=BalanceEx")[1]["result"][-1]["status"] == 503
        assert _get(base + "/_sim/nope")[0] == 404
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_a_simulator_bug_is_answered_500_and_kept_for_the_fixture_to_fail_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Simulator(venues=["kraken"]) as sim:
        venue = sim.venue("kraken")

        def broken(call: object) -> None:
            raise RuntimeError("bug in a handler")

        monkeypatch.setattr(venue, "server_time", broken)
        status, payload = _get(sim.url("kraken") + "/0/public/Time")

        assert status == 500 and "bug in a handler" in payload["sim_internal_error"]
        assert len(sim.internal_errors) == 1


def test_stop_wakes_handlers_sleeping_in_a_timeout_fault() -> None:
    sim = Simulator(venues=["kraken"]).start()
    sim.inject("kraken", "Time", "timeout", delay_ms=30_000)
    client = ccxt.kraken({"timeout": 200, "enableRateLimit": False})
    client.urls["api"] = {"public": sim.url("kraken"), "private": sim.url("kraken")}
    with pytest.raises(ccxt.RequestTimeout):
        client.fetch_time()

    started = time.monotonic()
    sim.stop()

    while sim.requests("kraken")[0].status is None and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert time.monotonic() - started < 2  # the 30 s sleep was cut short and the handler finished
    assert sim.requests("kraken")[0].status == 200
