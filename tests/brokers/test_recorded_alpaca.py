"""Alpaca's recorded real answers (tests/brokers/recorded/alpaca/*.json) through the adapter.

Each file names its public source and any change made to the body. The simulator serves the
recorded body (with the recorded HTTP status) in place of its own answer on that one endpoint, so
alpaca-py's `TradingClient` (its request, its `APIError`), the adapter's error translation and
its parsing all run for real; everything else the call needs (the asset, the quote) is the
simulator's. The test asserts the exact report, fills, balance, asset rules or error class.
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
from nija.brokers.alpaca import AlpacaBroker
from nija.models import BrokerName, ExecutionReport, Order, OrderRequest, QuantityUnit, Side, utc_now
from tests.sim.simulator import Simulator

RECORDED = Path(__file__).parent / "recorded" / "alpaca"
FILES = sorted(RECORDED.glob("*.json"))
VENUE = "alpaca"
_keys = iter(range(10**6))



@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=[VENUE]) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


@pytest.fixture
def broker(sim: Simulator) -> Iterator[AlpacaBroker]:
    key = f"PKRECORDED{next(_keys):010d}"
    account = sim.add_account(VENUE, key, balances={"USD": Decimal(1000), "AAPL": Decimal(2)})
    sim.set_price(VENUE, "AAPL", Decimal(200))
    sim.venue(VENUE).set_market_open(True)  # type: ignore[attr-defined]
    adapter = AlpacaBroker("master", {"api_key": key, "api_secret": account.secret}, api_url=sim.url(VENUE),
                           timeout_s=3.0, read_attempts=1)  # fmt: skip
    yield adapter
    sim.clear_faults(VENUE)
    sim.clear_requests()
    adapter.close()


def _serve(sim: Simulator, recorded: dict[str, Any]) -> None:
    method, path = recorded["endpoint"].split(" ", 1)
    sim.inject(VENUE, f"^{re.escape(path)}$", "http_5xx", times=None, method=method, status=recorded["status"],
               body=json.dumps(recorded["answer"]))  # fmt: skip


def _request(call: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.ALPACA, account="master", symbol=call["symbol"], side=Side(call["side"]),
        quantity=Decimal(call["quantity"]), unit=QuantityUnit(call["unit"]), client_order_id=call["client_order_id"],
    )


def _call(sim: Simulator, broker: AlpacaBroker, recorded: dict[str, Any]) -> Any:
    call = recorded["call"]
    if call["method"] == "balance":
        _serve(sim, recorded)
        return broker.balance_snapshot()
    if call["method"] == "fetch_order":
        _serve(sim, recorded)
        return broker.fetch_order(call["client_order_id"], call["symbol"])
    if call.get("placed_before"):
        broker.place(_request(call))  # the first send landed: the venue holds this client id
    _serve(sim, recorded)
    return broker.submit(_request(call))


def _assert_report(report: ExecutionReport, expect: dict[str, Any]) -> None:
    assert report.status.value == expect["status"]
    if "exchange_order_id" in expect:
        assert report.exchange_order_id == expect["exchange_order_id"]
    assert (report.filled_qty, report.fee) == (Decimal(expect["filled_qty"]), Decimal(expect["fee"]))
    assert report.avg_price == (Decimal(expect["avg_price"]) if "avg_price" in expect else None)
    got = [(f.qty, f.price, f.fee, f.symbol, f.side.value) for f in report.fills]
    assert got == [(Decimal(f["qty"]), Decimal(f["price"]), Decimal(f["fee"]), f["symbol"], f["side"])
                   for f in expect["fills"]]  # fmt: skip


def _assert_asset(sim: Simulator, broker: AlpacaBroker, recorded: dict[str, Any]) -> None:
    call, expect = recorded["call"], recorded["expect"]
    _serve(sim, recorded)
    rules = broker.asset_rules(call["symbol"])
    assert (rules.fractionable, rules.amount_step, rules.min_amount, rules.price_step, rules.opening_refusal) == (
        expect["fractionable"], Decimal(expect["amount_step"]), Decimal(expect["min_amount"]),
        Decimal(expect["price_step"]), expect["opening_refusal"],
    )
    if "buy_quote" not in call:
        return
    buy = _request({**call, "side": "buy", "quantity": call["buy_quote"], "unit": "quote",
                    "client_order_id": f"njrecordedasset{len(sim.requests(VENUE))}"})  # fmt: skip
    if "buy_error" in expect:
        with pytest.raises(base.BrokerError) as refused:
            broker.submit(buy)
        assert type(refused.value) is getattr(base, expect["buy_error"])
        assert expect["opening_refusal"] in str(refused.value)
        assert sim.requests(VENUE, path_contains="/v2/orders", method="POST") == []  # refused before sending
        return
    broker.submit(buy)
    (post,) = sim.requests(VENUE, path_contains="/v2/orders", method="POST")
    sent = {k: post.params[k] for k in ("qty", "notional") if k in post.params}
    assert sent == expect["sent"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_recorded_answer_reads_exactly_as_expected(sim: Simulator, broker: AlpacaBroker, path: Path) -> None:
    recorded = json.loads(path.read_text())
    expect = recorded["expect"]
    if recorded["call"]["method"] == "asset":
        _assert_asset(sim, broker, recorded)
        return
    if "error" in expect:
        with pytest.raises(base.BrokerError) as info:
            _call(sim, broker, recorded)
        assert type(info.value) is getattr(base, expect["error"])
        assert recorded["answer"]["message"] in str(info.value)
        return
    result = _call(sim, broker, recorded)
    if recorded["call"]["method"] == "balance":
        assert (result.total_equity, result.available) == (Decimal(expect["total_equity"]), Decimal(expect["available"]))
        return
    if "found" in expect:
        assert result is None and expect["found"] is None
        return
    assert result is not None
    _assert_report(result, expect)


def test_the_commission_reaches_the_fill_once_across_partial_reads(sim: Simulator, broker: AlpacaBroker) -> None:
    """Defect #11: the recorded commission is the order's fee, booked with its first fill only."""
    recorded = json.loads((RECORDED / "order_by_client_id_filled_commission.json").read_text())
    _serve(sim, recorded)
    first = broker.fetch_order(recorded["call"]["client_order_id"], "AAPL")
    assert first is not None and first.fee == Decimal("1.25") and first.fills[0].fee == Decimal("1.25")
    held = Order(request=_request({**recorded["call"], "side": "buy", "quantity": "0.1", "unit": "base"}),
                 status=first.status, exchange_order_id=first.exchange_order_id, filled_qty=first.filled_qty,
                 avg_price=first.avg_price, fee=first.fee, created_at=utc_now(), updated_at=utc_now())  # fmt: skip
    again = broker.fetch_order(recorded["call"]["client_order_id"], "AAPL", held)
    assert again is not None and again.fee == Decimal("1.25") and again.fills == ()  # read twice, charged once
