"""What the ccxt venues' recorded-answer suites share: the adapter call a recording names, and the
exact balance and order-report checks every venue's `expect` block makes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nija.brokers.ccxt import CcxtBroker
from nija.models import ExecutionReport, OrderRequest, QuantityUnit, Side


def call_adapter(broker: CcxtBroker, call: dict[str, str]) -> Any:
    """The adapter call a recording's `call` names: balance (snapshot, holdings), an order lookup,
    or an order submit with a fixed client order id."""
    if call["method"] == "balance":
        return broker.balance_snapshot(), broker.holdings()
    if call["method"] == "fetch_order":
        return broker.fetch_order(call["client_order_id"], call["symbol"])
    request = OrderRequest(
        broker=broker.name, account="master", symbol=call["symbol"], side=Side(call["side"]),
        quantity=Decimal(call["quantity"]), unit=QuantityUnit(call["unit"]), client_order_id="njrecorded00000b",
    )
    return broker.submit(request)


def assert_balance(result: Any, expect: dict[str, Any]) -> None:
    """Holdings, free cash and equity exactly as the recording expects."""
    snapshot, holdings = result
    assert holdings == {a: Decimal(q) for a, q in expect["holdings"].items()}
    assert snapshot.available == Decimal(expect["available"])
    assert snapshot.total_equity == Decimal(expect["total_equity"])


def assert_report_totals(result: ExecutionReport | None, expect: dict[str, Any]) -> None:
    """The report's status, venue id, filled quantity, fees and average price (fills are each
    venue's own check)."""
    assert result is not None
    assert (result.status.value, result.exchange_order_id) == (expect["status"], expect["exchange_order_id"])
    assert result.filled_qty == Decimal(expect["filled_qty"])
    assert (result.fee, result.fee_in_base) == (Decimal(expect["fee"]), Decimal(expect["fee_in_base"]))
    if "avg_price" in expect:
        assert result.avg_price == Decimal(expect["avg_price"])
