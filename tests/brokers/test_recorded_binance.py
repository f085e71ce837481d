"""Binance's recorded real answers (tests/brokers/recorded/binance/*.json) through the adapter.

Each file names its public source and any change made to the body. Its answers are served by the
simulator in place of the venue's own (that status, that exact body, on that method and path), so
ccxt's signing, its `handle_errors` and parsers, and the adapter's parsing all run for real; the
test asserts the exact report, fills, balances or error class the file expects. Before an error
is served the key has already worked once (a balance read), as in a running daemon: ccxt reads
-2015 differently on a key that worked before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nija.brokers import base
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.execution.positions import held_change
from nija.models import BrokerName
from tests.brokers.recorded_ccxt import assert_balance, assert_report_totals, call_adapter
from tests.sim.model import Market
from tests.sim.simulator import Simulator

RECORDED = Path(__file__).parent / "recorded" / "binance"
FILES = sorted(RECORDED.glob("*.json"))
KEY = "binance-recorded"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["binance"]) as simulator:
        for symbol, base_asset, quote, price in (
            ("LTC/USDT", "LTC", "USDT", 70), ("BNB/USDT", "BNB", "USDT", 600), ("LDO/USDT", "LDO", "USDT", "1.5"),
            ("BNB/BTC", "BNB", "BTC", "0.01"), ("LTC/BTC", "LTC", "BTC", "0.001"),
        ):
            market = Market(symbol, base_asset, quote, 8, 3, Decimal("0.001"), Decimal("0.0001"), 8)
            simulator.add_market("binance", market, Decimal(price))
        yield simulator


@pytest.fixture
def broker(sim: Simulator, tmp_path: Path) -> Iterator[CcxtBroker]:
    account = sim.add_account("binance", KEY, balances={"USDT": 1000, "BTC": 1})
    sim.set_price("binance", "BTC/USDT", Decimal(60000))
    adapter = CcxtBroker(
        BrokerName.BINANCE, "master", {"api_key": KEY, "api_secret": account.secret}, SharedMarkets(),
        api_url=sim.url("binance"), data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False,
    )
    adapter.begin_cycle()  # markets first: only the recorded answers are replaced
    adapter.balance_snapshot()  # the key has worked once, as in a running daemon
    yield adapter
    sim.clear_faults("binance")
    adapter.close()


def _serve(sim: Simulator, recorded: dict[str, Any]) -> None:
    for served in recorded["answers"]:
        body = served["body"] if isinstance(served["body"], str) else json.dumps(served["body"])
        sim.inject("binance", served["path"], "http_5xx", times=None, method=served["method"],
                   status=served["status"], body=body)


def _check_error(sim: Simulator, broker: CcxtBroker, recorded: dict[str, Any]) -> None:
    expect = recorded["expect"]
    with pytest.raises(base.BrokerError) as info:
        call_adapter(broker, recorded["call"])
    assert type(info.value) is getattr(base, expect["error"])
    assert recorded["answers"][0]["body"]["msg"] in str(info.value)
    if expect.get("paused"):
        # Binance asks the caller to back off: the read's retries and the next call send nothing
        assert len(sim.requests("binance", path_contains="/api/v3/account")) == 1
        with pytest.raises(base.TransientError, match="paused"):
            broker.ticker("BTC/USDT")
        assert sim.requests("binance", path_contains="/api/v3/ticker") == []


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_recorded_answer_reads_exactly_as_expected(sim: Simulator, broker: CcxtBroker, path: Path) -> None:
    recorded = json.loads(path.read_text())
    expect = recorded["expect"]
    sim.clear_requests()
    _serve(sim, recorded)
    if "error" in expect:
        _check_error(sim, broker, recorded)
        return
    result = call_adapter(broker, recorded["call"])
    if expect.get("none"):
        assert result is None
        return
    if recorded["call"]["method"] == "balance":
        assert_balance(result, expect)
        return
    assert_report_totals(result, expect)
    got = [(f.trade_id, f.qty, f.price, f.fee, f.fee_in_base, f.fee_currency, held_change(f)) for f in result.fills]
    assert got == [
        (f["trade_id"], Decimal(f["qty"]), Decimal(f["price"]), Decimal(f["fee"]), Decimal(f["fee_in_base"]),
         f["fee_currency"], Decimal(f["held_change"]))
        for f in expect["fills"]
    ]
