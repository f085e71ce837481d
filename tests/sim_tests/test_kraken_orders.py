"""Kraken market orders through the real ccxt client: fills, fees, client ids, lookups."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.sim.model import OrderStatus
from tests.sim.simulator import Simulator
from tests.sim_tests.conftest import KRAKEN_KEY

CID = "nj0123456789abcdef"  # the daemon's 18-character client order id shape


def test_market_buy_by_base_amount_fills_at_the_price_and_charges_0_26_percent(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    order = kraken.create_order("BTC/USD", "market", "buy", 0.01)

    [request] = simulator.requests("kraken", path_contains="AddOrder")
    assert {k: v for k, v in request.params.items() if k != "nonce"} == {
        "pair": "XXBTZUSD",
        "type": "buy",
        "ordertype": "market",
        "volume": "0.01",
    }
    assert order["id"] == simulator.orders("kraken")[0].order_id
    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("9398.4400"), "BTC": Decimal("0.01")}
    balance = kraken.fetch_balance()
    assert balance["total"] == {"USD": 9398.44, "BTC": 0.01}
    fetched = kraken.fetch_order(order["id"])
    assert (fetched["status"], fetched["filled"], fetched["average"]) == ("closed", 0.01, 60000.0)
    assert fetched["cost"] == 600.0
    assert fetched["fees"] == [{"cost": 1.56, "rate": None, "currency": "USD"}]
    assert fetched["fee"]["cost"] == "1.56000"  # ccxt 4.5.90 leaves kraken's order fee a string


def test_market_buy_by_quote_cost_sends_viqc_and_is_refused_like_the_live_api(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    # ccxt #22521: the live API answered a funded viqc market buy with "Invalid arguments:volume"
    with pytest.raises(ccxt.InvalidOrder, match="EGeneral:Invalid arguments:volume"):
        kraken.create_market_buy_order_with_cost("BTC/USD", 100)

    [request] = simulator.requests("kraken", path_contains="AddOrder")
    assert (request.params["volume"], request.params["oflags"]) == ("100", "viqc")
    assert simulator.orders("kraken") == []
    assert simulator.balances("kraken", KRAKEN_KEY)["USD"] == Decimal("10000")


def test_market_sell_credits_the_quote_minus_fee(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.set_balance("kraken", KRAKEN_KEY, "BTC", Decimal("0.5"))
    simulator.set_price("kraken", "BTC/USD", Decimal("50000"))

    kraken.create_order("BTC/USD", "market", "sell", 0.1, params={"oflags": "fciq"})

    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("14987.0000"), "BTC": Decimal("0.4")}
    [trade] = kraken.fetch_my_trades()
    assert (trade["side"], trade["amount"], trade["price"], trade["fee"]["cost"]) == ("sell", 0.1, 50000.0, 13.0)


def test_client_order_id_is_sent_as_cl_ord_id_and_comes_back(simulator: Simulator, kraken: ccxt.kraken) -> None:
    order = kraken.create_order("ETH/USD", "market", "buy", 0.1, params={"clientOrderId": CID})

    [request] = simulator.requests("kraken", path_contains="AddOrder")
    assert request.params["cl_ord_id"] == CID
    assert order["clientOrderId"] is None  # AddOrder's answer carries only descr and txid
    assert kraken.fetch_order(order["id"])["clientOrderId"] == CID
    assert simulator.count_orders("kraken", CID) == 1


def test_order_lookup_by_client_id_works_through_open_and_closed_orders(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    kraken.create_order("ETH/USD", "market", "buy", 0.1, params={"clientOrderId": CID})
    kraken.create_order("ETH/USD", "market", "buy", 0.1, params={"clientOrderId": "nj-other"})

    [closed] = kraken.fetch_closed_orders(params={"clientOrderId": CID})
    assert (closed["clientOrderId"], closed["status"], closed["filled"]) == (CID, "closed", 0.1)
    assert kraken.fetch_open_orders(params={"clientOrderId": CID}) == []
    bodies = [r.params for r in simulator.requests("kraken") if r.path.endswith(("OpenOrders", "ClosedOrders"))]
    assert [b["cl_ord_id"] for b in bodies] == [CID, CID]


def test_ccxt_fetch_order_by_client_id_is_unusable_on_kraken(simulator: Simulator, kraken: ccxt.kraken) -> None:
    # ccxt sends QueryOrders txid="" userref=<client id>: Kraken has no client-id filter there
    kraken.create_order("ETH/USD", "market", "buy", 0.1, params={"clientOrderId": CID})

    with pytest.raises(ccxt.BadRequest, match="EGeneral:Invalid arguments"):
        kraken.fetch_order_with_client_order_id(CID)
    [query] = simulator.requests("kraken", path_contains="QueryOrders")
    assert (query.params["txid"], query.params["userref"]) == ("", CID)


def test_real_insufficient_funds_and_minimums_map_to_ccxt_classes(simulator: Simulator, kraken: ccxt.kraken) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        kraken.create_order("BTC/USD", "market", "buy", 1)
    with pytest.raises(ccxt.InsufficientFunds):
        kraken.create_order("BTC/USD", "market", "sell", 0.001)
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        kraken.create_order("BTC/USD", "market", "buy", 0.00001)
    simulator.set_price("kraken", "XRP/USD", Decimal("0.2"))
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Cost minimum not met") as cost_min:
        kraken.create_order("XRP/USD", "market", "buy", 2)  # 2 XRP * 0.2 USD < 0.5 USD costmin
    assert type(cost_min.value) is ccxt.ExchangeError  # not in ccxt's map: no InvalidOrder
    assert simulator.orders("kraken") == []


def test_partial_fill_leaves_the_order_open_with_a_hold_until_canceled(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    simulator.inject("kraken", "AddOrder", "partial_fill", fraction="0.4")

    order = kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"clientOrderId": CID})

    fetched = kraken.fetch_order(order["id"])
    assert (fetched["status"], fetched["filled"], fetched["remaining"]) == ("open", 0.004, 0.006)
    [open_order] = kraken.fetch_open_orders(params={"clientOrderId": CID})
    assert open_order["id"] == order["id"]
    assert kraken.fetch_balance()["used"]["USD"] == pytest.approx(0.006 * 60000 * 1.0026)
    with pytest.raises(ccxt.ExchangeError, match="Duplicate cl_ord_id"):
        kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"clientOrderId": CID})

    kraken.cancel_order(order["id"])

    fetched = kraken.fetch_order(order["id"])
    assert (fetched["status"], fetched["filled"]) == ("canceled", 0.004)
    assert simulator.holds("kraken", KRAKEN_KEY) == {}
    assert simulator.balances("kraken", KRAKEN_KEY)["BTC"] == Decimal("0.004")
    with pytest.raises(ccxt.OrderNotFound):
        kraken.cancel_order(order["id"])


def test_an_open_order_can_be_filled_later_at_the_new_price(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.inject("kraken", "AddOrder", "partial_fill", fraction="0")
    order = kraken.create_order("BTC/USD", "market", "buy", 0.01)
    assert kraken.fetch_order(order["id"])["filled"] == 0

    simulator.set_price("kraken", "BTC/USD", Decimal("62000"))
    simulator.fill_order("kraken", order["id"])

    fetched = kraken.fetch_order(order["id"])
    assert (fetched["status"], fetched["filled"], fetched["average"]) == ("closed", 0.01, 62000.0)
    assert simulator.holds("kraken", KRAKEN_KEY) == {}


def test_cancel_by_client_order_id(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.inject("kraken", "AddOrder", "partial_fill", fraction="0.5")
    order = kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"clientOrderId": CID})

    kraken.cancel_order("", params={"clientOrderId": CID})

    [request] = simulator.requests("kraken", path_contains="CancelOrder")
    assert request.params["cl_ord_id"] == CID and "txid" not in request.params
    assert simulator.order("kraken", order["id"]).status is OrderStatus.CANCELED


def test_cl_ord_id_formats_follow_kraken(simulator: Simulator, kraken: ccxt.kraken) -> None:
    uuid = "6d1b345e-2821-40e2-ad83-4ecb18a06876"
    assert kraken.create_order("ETH/USD", "market", "buy", 0.01, params={"clientOrderId": uuid})["id"]
    with pytest.raises(ccxt.ExchangeError, match="EGeneral:Invalid arguments:cl_ord_id"):
        kraken.create_order("ETH/USD", "market", "buy", 0.01, params={"clientOrderId": "x" * 19})
    assert [o.client_order_id for o in simulator.orders("kraken")] == [uuid]
