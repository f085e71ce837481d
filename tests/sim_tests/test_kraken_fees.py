"""Kraken's fee currency (`oflags` fciq / fcib) through the real ccxt client.

Under `fcib` the fee leaves in the base asset on both sides, while the order and trade answers keep
reporting its quote value (Kraken: `fee` = "Total fee (quote currency)"); ccxt 4.5.90 then labels
that quote figure with the base currency. See tests/sim/venues/kraken.py for the sources.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.sim.simulator import Simulator
from tests.sim_tests.conftest import KRAKEN_KEY, KrakenFactory


def test_without_a_flag_a_buy_pays_in_quote_and_a_sell_in_base(simulator: Simulator, kraken: ccxt.kraken) -> None:
    # Kraken's documented default: "fcib ... (default if selling)", fciq when buying
    kraken.create_order("BTC/USD", "market", "buy", 0.01)
    kraken.create_order("BTC/USD", "market", "sell", 0.004)

    # 600 + 1.56 out, 240 in; the sell gives up 0.004 + 0.0000104 BTC of fee
    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("9638.4400"), "BTC": Decimal("0.0059896000")}
    buy, sell = simulator.orders("kraken")
    assert (buy.fee_in_base, buy.extra["oflags"], sell.fee_in_base, sell.extra["oflags"]) == (False, "fciq", True, "fcib")


def test_fciq_on_a_sell_pays_the_fee_in_quote(simulator: Simulator, kraken: ccxt.kraken) -> None:
    kraken.create_order("BTC/USD", "market", "buy", 0.01)
    kraken.create_order("BTC/USD", "market", "sell", 0.004, params={"oflags": "fciq"})

    # 600 + 1.56 out, 240 - 0.624 in; the coins move by exactly what was traded
    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("9637.8160"), "BTC": Decimal("0.006")}


def test_an_overriding_fee_in_base_beats_the_orders_fciq(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.set_fee_in_base("kraken", api_key=KRAKEN_KEY, overriding=True)
    kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"oflags": "fciq"})

    [order] = simulator.orders("kraken")
    assert (order.fee_in_base, order.extra["oflags"]) == (True, "fcib")
    simulator.set_fee_in_base("kraken", enabled=False, api_key=KRAKEN_KEY, overriding=True)
    kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"oflags": "fciq"})
    assert simulator.orders("kraken")[-1].extra["oflags"] == "fciq"


def test_fcib_buy_credits_the_coins_minus_the_fee_and_reports_the_fee_in_quote(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    order = kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"oflags": "fcib"})

    [request] = simulator.requests("kraken", path_contains="AddOrder")
    assert request.params["oflags"] == "fcib"
    # the cost alone leaves the quote balance; 0.01 * 0.26 % = 0.000026 BTC never arrives
    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("9400.0000"), "BTC": Decimal("0.009974")}
    fetched = kraken.fetch_order(order["id"])
    assert (fetched["info"]["oflags"], fetched["info"]["fee"], fetched["info"]["cost"]) == ("fcib", "1.56000", "600.00000")
    # ccxt's reading: Kraken's quote-valued fee, labelled with the base currency
    assert fetched["fee"] == {"cost": "1.56000", "rate": None, "currency": "BTC"}
    assert fetched["fees"] == [{"cost": 1.56, "rate": None, "currency": "BTC"}]
    [trade] = kraken.fetch_my_trades()
    assert trade["info"]["fee"] == "1.56000"  # the trade, too, shows the quote value


def test_fcib_sell_gives_up_the_coins_plus_the_fee_and_credits_the_full_proceeds(
    simulator: Simulator, kraken: ccxt.kraken
) -> None:
    simulator.set_balance("kraken", KRAKEN_KEY, "BTC", Decimal("0.5"))
    simulator.set_price("kraken", "BTC/USD", Decimal("50000"))

    order = kraken.create_order("BTC/USD", "market", "sell", 0.1, params={"oflags": "fcib"})

    # 0.1 + 0.00026 BTC out, the whole 5000 USD in
    assert simulator.balances("kraken", KRAKEN_KEY) == {"USD": Decimal("15000.0000"), "BTC": Decimal("0.39974")}
    fetched = kraken.fetch_order(order["id"])
    assert (fetched["info"]["oflags"], fetched["fee"]["cost"], fetched["fee"]["currency"]) == ("fcib", "13.00000", "BTC")
    [fill] = simulator.fills("kraken")
    assert (fill.fee, fill.fee_asset, fill.fee_quote) == (Decimal("0.0002600000"), "BTC", Decimal("13.0000"))


def test_the_base_fee_is_booked_to_the_assets_decimals(simulator: Simulator, kraken: ccxt.kraken) -> None:
    kraken.create_order("BTC/USD", "market", "buy", 0.01234567, params={"oflags": "fcib"})

    [fill] = simulator.fills("kraken")
    assert fill.fee == Decimal("0.0000320987")  # 0.000032098742 to XBT's 10 decimals, half up
    assert simulator.balances("kraken", KRAKEN_KEY)["BTC"] == Decimal("0.0123135713")
    assert kraken.fetch_balance()["total"]["BTC"] == 0.0123135713  # BalanceEx prints all 10 places


def test_a_key_or_the_venue_can_default_to_fcib(
    simulator: Simulator, kraken: ccxt.kraken, make_kraken: KrakenFactory
) -> None:
    other = simulator.add_account("kraken", "kraken-key-2", balances={"USD": Decimal("10000")})
    other_client = make_kraken("kraken-key-2", other.secret)
    simulator.set_fee_in_base("kraken", api_key=KRAKEN_KEY)

    kraken.create_order("BTC/USD", "market", "buy", 0.01)  # no flag sent
    other_client.create_order("BTC/USD", "market", "buy", 0.01)
    kraken.create_order("BTC/USD", "market", "sell", 0.001, params={"oflags": "fciq"})  # the order's own flag wins

    first, second, third = simulator.orders("kraken")
    assert [o.extra["oflags"] for o in (first, second, third)] == ["fcib", "fciq", "fciq"]
    assert simulator.balances("kraken", "kraken-key-2")["BTC"] == Decimal("0.01")

    simulator.set_fee_in_base("kraken")  # every key without a setting of its own
    other_client.create_order("BTC/USD", "market", "buy", 0.01)
    assert simulator.orders("kraken")[-1].extra["oflags"] == "fcib"
    assert simulator.balances("kraken", "kraken-key-2")["BTC"] == Decimal("0.019974")
    simulator.set_fee_in_base("kraken", enabled=False, api_key=KRAKEN_KEY)
    kraken.create_order("BTC/USD", "market", "buy", 0.01)
    assert simulator.orders("kraken")[-1].extra["oflags"] == "fciq"


def test_viqc_is_refused_whatever_the_fee_flag(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.set_fee_in_base("kraken", api_key=KRAKEN_KEY)

    with pytest.raises(ccxt.InvalidOrder, match="EGeneral:Invalid arguments:volume"):
        kraken.create_market_buy_order_with_cost("BTC/USD", 100)
    assert simulator.orders("kraken") == []


def test_fcib_sell_needs_the_fee_in_base_and_both_flags_are_refused(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.set_balance("kraken", KRAKEN_KEY, "BTC", Decimal("0.1"))

    with pytest.raises(ccxt.InsufficientFunds):
        kraken.create_order("BTC/USD", "market", "sell", 0.1, params={"oflags": "fcib"})
    with pytest.raises(ccxt.BadRequest):
        kraken.create_order("BTC/USD", "market", "buy", 0.01, params={"oflags": "fcib,fciq"})
    assert simulator.orders("kraken") == []
    kraken.create_order("BTC/USD", "market", "sell", 0.1, params={"oflags": "fciq"})  # in quote all can go
    assert simulator.balances("kraken", KRAKEN_KEY)["BTC"] == Decimal("0")


def test_an_open_fcib_sell_holds_the_fee_too(simulator: Simulator, kraken: ccxt.kraken) -> None:
    simulator.set_balance("kraken", KRAKEN_KEY, "BTC", Decimal("1"))
    simulator.inject("kraken", "AddOrder", "partial_fill", fraction="0.5")

    kraken.create_order("BTC/USD", "market", "sell", 0.2, params={"oflags": "fcib"})

    assert simulator.holds("kraken", KRAKEN_KEY) == {"BTC": Decimal("0.1002600000")}
    [order] = simulator.orders("kraken")
    simulator.fill_order("kraken", order.order_id)
    assert simulator.holds("kraken", KRAKEN_KEY) == {}
    assert simulator.balances("kraken", KRAKEN_KEY)["BTC"] == Decimal("0.7994800000")


def test_venues_without_the_mode_refuse_it(simulator: Simulator) -> None:
    with pytest.raises(ValueError, match="no fee-in-base mode"):
        simulator.set_fee_in_base("binance")
