"""OKX's recorded real answers (tests/brokers/recorded/okx/*.json) through the adapter.

Each file names its public source and any change made to the body. The answer is served by the
simulator in place of the venue's own (that exact body, with the file's HTTP status), so ccxt's
signing, its `handle_errors` and parsers, and the adapter's parsing all run for real; the test
asserts the exact equity, funding note, report, fills, fees or error class the file expects.
Balance files may set the trading account (`call.trading`) the funding answer is read beside;
the simulator prices BTC/USDT 60000, ETH/USDT 3000 and TUSD/USDT 0.9995.
"""

from __future__ import annotations

import json
import re
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

RECORDED = Path(__file__).parent / "recorded" / "okx"
FILES = sorted(RECORDED.glob("*.json"))
PASS = "recorded-pass"
DEFAULT_TRADING = {"USDT": "1000", "BTC": "1"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["okx"]) as simulator:
        simulator.add_market("okx", Market("TUSD/USDT", "TUSD", "USDT", 4, 4, Decimal(1), Decimal(1)), Decimal("0.9995"))
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


def _broker(sim: Simulator, tmp_path: Path, trading: dict[str, str]) -> CcxtBroker:
    key = f"okx-recorded-{tmp_path.name}"
    account = sim.add_account("okx", key, balances={a: Decimal(q) for a, q in trading.items()}, passphrase=PASS)
    sim.set_price("okx", "BTC/USDT", Decimal(60000))
    sim.set_price("okx", "ETH/USDT", Decimal(3000))
    adapter = CcxtBroker(
        BrokerName.OKX, "master", {"api_key": key, "api_secret": account.secret, "passphrase": PASS}, SharedMarkets(),
        api_url=sim.url("okx"), data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False, read_attempts=1,
    )
    adapter.begin_cycle()  # markets first: only the recorded answer is replaced
    return adapter


def _serve(sim: Simulator, recorded: dict[str, Any]) -> None:
    sim.inject("okx", re.escape(recorded["path"]) + "$", "http_5xx", times=None, status=recorded.get("status", 200),
               body=json.dumps(recorded["answer"]))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_recorded_answer_reads_exactly_as_expected(sim: Simulator, tmp_path: Path, path: Path) -> None:
    recorded = json.loads(path.read_text())
    expect, call = recorded["expect"], recorded["call"]
    broker = _broker(sim, tmp_path, call.get("trading", DEFAULT_TRADING))
    _serve(sim, recorded)
    try:
        _check(broker, call, expect)
    finally:
        sim.clear_faults("okx")
        broker.close()


def _check(broker: CcxtBroker, call: dict[str, Any], expect: dict[str, Any]) -> None:
    if "error" in expect:
        with pytest.raises(base.BrokerError) as info:
            call_adapter(broker, call)
        assert type(info.value) is getattr(base, expect["error"])
        assert expect["text"] in str(info.value)
        return
    result = call_adapter(broker, call)
    if expect.get("not_found"):
        assert result is None
        return
    if call["method"] == "balance":
        assert_balance(result, expect)
        assert result[0].note == expect["note"]  # the snapshot: what waits in the funding account
        return
    assert_report_totals(result, expect)
    got = [(f.qty, f.price, f.fee, f.fee_in_base, held_change(f)) for f in result.fills]
    assert got == [
        (Decimal(f["qty"]), Decimal(f["price"]), Decimal(f["fee"]), Decimal(f["fee_in_base"]), Decimal(f["held_change"]))
        for f in expect["fills"]
    ]
