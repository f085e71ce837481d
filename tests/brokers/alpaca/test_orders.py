"""Pure reading of Alpaca order and asset answers (`nija.brokers.alpaca.orders`): commission,
asset flags and whole-share sizing, with no simulator and no network."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from alpaca.trading.models import Asset

from nija.brokers.alpaca.orders import asset_rules, parse_order, whole_shares_for
from nija.brokers.base import MarketDataError

ORDER: dict[str, Any] = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "nj0123456789abcdef",
    "created_at": "2021-03-16T18:38:01.942282Z", "updated_at": "2021-03-16T18:38:01.942282Z",
    "submitted_at": "2021-03-16T18:38:01.937734Z", "asset_id": "904837e3-3b76-47ec-b432-046db621571b",
    "symbol": "AAPL", "asset_class": "us_equity", "qty": "1", "filled_qty": "0", "order_class": "simple",
    "order_type": "market", "type": "market", "side": "buy", "time_in_force": "day", "status": "accepted",
    "extended_hours": False,
}  # fmt: skip
ASSET: dict[str, Any] = {
    "id": "904837e3-3b76-47ec-b432-046db621571b", "class": "us_equity", "exchange": "NASDAQ", "symbol": "AAPL",
    "status": "active", "tradable": True, "marginable": True, "shortable": True, "easy_to_borrow": True,
    "fractionable": True,
}  # fmt: skip


@pytest.mark.parametrize(
    ("commission", "expected"), [(None, Decimal(0)), (1.25, Decimal("1.25")), ("0.5", Decimal("0.5")), (0, Decimal(0))]
)
def test_the_commission_is_read_from_the_raw_answer(commission: Any, expected: Decimal) -> None:
    raw = ORDER if commission is None else {**ORDER, "commission": commission}
    answer = parse_order(raw)
    assert answer.commission == expected and str(answer.order.id) == ORDER["id"]
    assert (answer.fee(Decimal(0)), answer.fee(Decimal("0.1"))) == (Decimal(0), expected)  # charged on execution


@pytest.mark.parametrize("raw", [[ORDER], None, {**ORDER, "commission": -1}, {**ORDER, "commission": "NaN"}])
def test_a_malformed_order_answer_is_market_data_error(raw: Any) -> None:
    with pytest.raises(MarketDataError):
        parse_order(raw)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, (True, Decimal("1e-9"), Decimal("1e-9"), Decimal("0.01"), "", "")),
        ({"fractionable": False}, (False, Decimal(1), Decimal(1), Decimal("0.01"), "", "")),
        ({"tradable": False}, (True, Decimal("1e-9"), Decimal("1e-9"), Decimal("0.01"),
                               "AAPL is not tradable at Alpaca: closing orders only", "")),
        ({"status": "inactive", "tradable": False}, (True, Decimal("1e-9"), Decimal("1e-9"), Decimal("0.01"),
                                                     "AAPL is inactive at Alpaca: no orders",
                                                     "AAPL is inactive at Alpaca: no orders")),
        ({"min_order_size": "0.0001", "min_trade_increment": "0.0001", "price_increment": "1"},
         (True, Decimal("0.0001"), Decimal("0.0001"), Decimal("1"), "", "")),
        ({"fractionable": False, "min_order_size": "5", "min_trade_increment": "0.5"},
         (False, Decimal(1), Decimal(5), Decimal("0.01"), "", "")),
    ],
)  # fmt: skip
def test_asset_rules_follow_the_flags(flags: dict[str, Any], expected: tuple[Any, ...]) -> None:
    rules = asset_rules(Asset(**{**ASSET, **flags}))
    got = (rules.fractionable, rules.amount_step, rules.min_amount, rules.price_step, rules.opening_refusal,
           rules.closing_refusal)  # fmt: skip
    assert got == expected


@pytest.mark.parametrize(
    ("budget", "ask", "shares"), [("599.99", "200", 2), ("600", "200", 3), ("199.99", "200", 0), ("1000", "333.33", 3)]
)
def test_whole_shares_never_cost_more_than_the_budget(budget: str, ask: str, shares: int) -> None:
    got = whole_shares_for(Decimal(budget), Decimal(ask))
    assert got == shares and got * Decimal(ask) <= Decimal(budget)
    with pytest.raises(MarketDataError):
        whole_shares_for(Decimal(budget), Decimal(0))
