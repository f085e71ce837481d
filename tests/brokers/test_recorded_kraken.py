"""Kraken's recorded real answers (tests/brokers/recorded/kraken/*.json) through the adapter.

Each file names its public source and any change made to the body. The answer is served by the
simulator in place of the venue's own (a 200 with that exact body), so ccxt's signing, its
`handle_errors` and parsers, and the adapter's parsing all run for real; the test asserts the
exact report, fills, balances or error class the file expects.
"""

from __future__ import annotations

import base64
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

RECORDED = Path(__file__).parent / "recorded" / "kraken"
FILES = sorted(RECORDED.glob("*.json"))
KEY = "kraken-recorded"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["kraken"]) as simulator:
        simulator.add_market("kraken", Market("LTC/USDT", "LTC", "USDT", 2, 8, Decimal("0.05"), Decimal("0.5"), 6), Decimal(70))
        simulator.add_market("kraken", Market("ADA/USD", "ADA", "USD", 6, 8, Decimal(5), Decimal("0.5"), 4), Decimal("0.5"))
        simulator.add_market("kraken", Market("DOT/USD", "DOT", "USD", 4, 8, Decimal("0.5"), Decimal("0.5"), 4), Decimal(5))
        yield simulator


@pytest.fixture
def broker(sim: Simulator, tmp_path: Path) -> Iterator[CcxtBroker]:
    secret = base64.b64encode(b"recorded").decode()
    sim.add_account("kraken", KEY, secret, {"USD": Decimal(1000), "BTC": Decimal(1)})
    sim.set_price("kraken", "BTC/USD", Decimal(60000))
    sim.set_price("kraken", "SOL/USD", Decimal(150))
    adapter = CcxtBroker(
        BrokerName.KRAKEN, "master", {"api_key": KEY, "api_secret": secret}, SharedMarkets(), api_url=sim.url("kraken"),
        data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False,
    )
    adapter.begin_cycle()  # markets first: only the recorded answer is replaced
    yield adapter
    sim.clear_faults("kraken")
    adapter.close()


def _serve(sim: Simulator, recorded: dict[str, Any]) -> None:
    sim.inject("kraken", rf"/0/private/{recorded['endpoint']}$", "http_5xx", times=None, status=200,
               body=json.dumps(recorded["answer"]))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_recorded_answer_reads_exactly_as_expected(sim: Simulator, broker: CcxtBroker, path: Path) -> None:
    recorded = json.loads(path.read_text())
    expect = recorded["expect"]
    _serve(sim, recorded)
    if "error" in expect:
        with pytest.raises(base.BrokerError) as info:
            call_adapter(broker, recorded["call"])
        assert type(info.value) is getattr(base, expect["error"])
        assert recorded["answer"]["error"][0] in str(info.value)
        return
    result = call_adapter(broker, recorded["call"])
    if recorded["call"]["method"] == "balance":
        assert_balance(result, expect)
        return
    assert_report_totals(result, expect)
    got = [(f.qty, f.price, f.fee, f.fee_in_base, held_change(f)) for f in result.fills]
    assert got == [
        (Decimal(f["qty"]), Decimal(f["price"]), Decimal(f["fee"]), Decimal(f["fee_in_base"]), Decimal(f["held_change"]))
        for f in expect["fills"]
    ]
