"""Kraken's real-venue defects (research note real-venues.md #1, #2, #3, #7, #12), each through the
real ccxt client against the simulator speaking Kraken's real shapes.

#1 quote buys are sent in base from the ask (viqc is refused), #2 every order carries fciq (a sell's
default is fcib), #3/#12 Auto Earn and staking balances count, fee credits and EUR do not, #7 every
Kraken error text lands in the right class with the right backoff, and a cancel-only market takes
no entry while an exit says why it waits.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.base import (
    InsufficientFunds,
    OrderRejected,
    TransientError,
)
from nija.brokers.ccxt import CcxtBroker, SharedMarkets, kraken
from nija.brokers.ccxt.kraken_budget import KeyBudget
from nija.models import (
    BrokerName,
    OrderRequest,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from tests.sim.simulator import Simulator

_ids = itertools.count()
Open = Callable[..., tuple[CcxtBroker, str]]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["kraken"]) as simulator:
        yield simulator


@pytest.fixture
def open_account(sim: Simulator, tmp_path: Path) -> Iterator[Open]:
    brokers: list[CcxtBroker] = []

    def open_(balances: dict[str, str], *, rate_limit: bool = False) -> tuple[CcxtBroker, str]:
        key = f"kraken-defects-{next(_ids)}"
        secret = base64.b64encode(f"secret-{key}".encode()).decode()
        sim.add_account("kraken", key, secret, {k: Decimal(v) for k, v in balances.items()})
        sim.set_price("kraken", "BTC/USD", Decimal(60000))
        broker = CcxtBroker(
            BrokerName.KRAKEN, "master", {"api_key": key, "api_secret": secret}, SharedMarkets(),
            api_url=sim.url("kraken"), data_dir=tmp_path / key, timeout_ms=3000, enable_rate_limit=rate_limit,
        )
        brokers.append(broker)
        return broker, key

    yield open_
    sim.clear_faults("kraken")
    for broker in brokers:
        broker.close()


def _request(side: Side, qty: str, unit: QuantityUnit = QuantityUnit.BASE, symbol: str = "BTC/USD") -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.KRAKEN, account="master", symbol=symbol, side=side, quantity=Decimal(qty), unit=unit,
        client_order_id=client_order_id_for("kraken-defects", next(_ids)),
    )


def _sent(sim: Simulator, client_order_id: str) -> dict[str, str]:
    [request] = [r for r in sim.requests("kraken", path_contains="AddOrder") if client_order_id in r.client_order_ids]
    return {k: str(v) for k, v in request.params.items() if k != "nonce"}


# -- #1: buys sized in base from the ask ----------------------------------------------------------


def test_a_quote_buy_is_sent_in_base_from_the_ask_rounded_down_and_stays_within_the_budget(
    sim: Simulator, open_account: Open
) -> None:
    broker, key = open_account({"USD": "1000"})
    request = _request(Side.BUY, "500", QuantityUnit.QUOTE)

    report = broker.place(request)

    sent = _sent(sim, request.client_order_id)
    assert "viqc" not in sent["oflags"] and sent["oflags"] == "fciq"
    # (500 - 0.0001) / (60000 x 1.0026) = 0.008311721...: rounded DOWN to the 1e-8 lot
    assert Decimal(sent["volume"]) == Decimal("0.00831172")
    [order] = sim.orders("kraken", client_order_id=request.client_order_id)
    spent = order.cost + order.fee
    assert spent <= Decimal(500) and spent == Decimal(1000) - sim.balances("kraken", key)["USD"]
    assert report.filled_qty == Decimal("0.00831172") == sim.balances("kraken", key)["BTC"]  # booked in base
    assert (report.fee, report.fee_in_base) == (order.fee, Decimal(0))


def test_a_quote_buy_too_small_for_the_lot_or_minimum_is_refused_before_sending(
    sim: Simulator, open_account: Open
) -> None:
    broker, _ = open_account({"USD": "1000"})
    request = _request(Side.BUY, "2", QuantityUnit.QUOTE)  # 0.0000332 BTC < ordermin 0.00005
    with pytest.raises(OrderRejected, match="below the minimum"):
        broker.place(request)
    assert sim.count_orders("kraken", request.client_order_id) == 0


def test_buy_volume_keeps_the_fee_and_its_rounding_inside_the_budget() -> None:
    volume = kraken.buy_volume(Decimal(25), Decimal("61234.5"), Decimal("0.0026"), Decimal("0.0001"), Decimal("1e-8"))
    assert volume == Decimal("0.00040720")
    assert volume * Decimal("61234.5") * Decimal("1.0026") <= Decimal(25) - Decimal("0.0001")
    assert kraken.buy_volume(Decimal(0), Decimal(1), Decimal(0), Decimal(0), Decimal(1)) == 0


# -- #2: fciq on every order; a sell's default would be fcib ----------------------------------------


def test_every_order_carries_fciq_so_a_sell_pays_its_fee_in_quote(sim: Simulator, open_account: Open) -> None:
    broker, key = open_account({"USD": "0", "BTC": "0.5"})
    request = _request(Side.SELL, "0.25")

    report = broker.place(request)

    assert _sent(sim, request.client_order_id)["oflags"] == "fciq"
    [order] = sim.orders("kraken", client_order_id=request.client_order_id)
    assert (order.fee_in_base, order.extra["oflags"]) == (False, "fciq")  # without it: fcib (Kraken's sell default)
    assert sim.balances("kraken", key)["BTC"] == Decimal("0.25")  # exactly what was sold left
    assert (report.fee, report.fee_in_base) == (Decimal("39.0000"), Decimal(0))


# -- #3 / #12: Auto Earn and staking count; fee credits and EUR do not ---------------------------


def test_earn_and_staked_balances_count_in_equity_and_holdings_kfee_and_eur_do_not(open_account: Open) -> None:
    broker, _ = open_account({
        "USD": "100", "USD.F": "400", "BTC": "0.1", "BTC.F": "0.4", "ETH.S": "2", "KFEE": "7328.19", "EUR": "50",
    })

    snapshot = broker.balance_snapshot()

    assert broker.holdings() == {"BTC": Decimal("0.5"), "ETH": Decimal(2)}
    assert snapshot.available == Decimal(100)  # Earn cash is the account's, not free to spend
    # 100 + 400 USD, 0.5 BTC x 60 000, 2 ETH x 3 000; no KFEE, no EUR
    assert snapshot.total_equity == Decimal(100) + Decimal(400) + Decimal(30000) + Decimal(6000)


def test_a_coin_moved_into_earn_is_still_held_and_a_refused_sell_says_why(sim: Simulator, open_account: Open) -> None:
    broker, _ = open_account({"USD": "0", "BTC.F": "0.5"})  # bought, then moved into Auto Earn

    assert broker.holdings() == {"BTC": Decimal("0.5")}  # the exit path's `position_gone` never fires
    with pytest.raises(InsufficientFunds, match=r"0\.5 BTC of this account is in kraken Earn/staking") as info:
        broker.place(_request(Side.SELL, "0.5"))
    assert "EOrder:Insufficient funds" in str(info.value) and "turn off Auto Earn for BTC" in str(info.value)


def test_fold_balances_maps_kraken_and_ccxt_names_alike() -> None:
    codes = {"XBT": "BTC", "XDG": "DOGE"}
    folded = kraken.fold_balances(
        {"XBT.F": Decimal(2), "BTC.F": Decimal(1), "USD": Decimal(-5), "DOT.S": Decimal(3), "FEE": Decimal(9)},
        {"XBT.F": Decimal(2), "BTC.F": Decimal(1), "USD": Decimal(10), "DOT.S": Decimal(3), "FEE": Decimal(9),
         "ETH2.S": Decimal(1), "ZEUR": Decimal(4), "GBP": Decimal(1)},
        ("USD", "USDC"), lambda c: codes.get(c, c),
    )
    assert folded.total == {"BTC": Decimal(3), "USD": Decimal(10), "DOT": Decimal(3), "ETH": Decimal(1)}
    assert folded.free == {"USD": Decimal(0)}  # a hold larger than the plain row never reads as negative cash
    assert folded.sub_balances == {"BTC": Decimal(3), "DOT": Decimal(3), "ETH": Decimal(1)}
    assert set(folded.ignored) == {"FEE", "GBP", "ZEUR"}


# -- #7: one table, one test per message --------------------------------------------------------

_PRIVATE_READ = r"/0/private/BalanceEx$"
_ADD_ORDER = r"/0/private/AddOrder$"


@pytest.mark.parametrize("row", kraken.ERRORS, ids=[row.text for row in kraken.ERRORS])
def test_each_kraken_error_text_maps_to_its_class(sim: Simulator, open_account: Open, row: kraken.KrakenError) -> None:
    broker, _ = open_account({"USD": "1000", "BTC": "1"})
    broker.begin_cycle()
    on_order = row.error in (OrderRejected, InsufficientFunds)
    text = row.text + (":volume" if row.text == "EGeneral:Invalid arguments" else "")
    sim.inject("kraken", _ADD_ORDER if on_order else _PRIVATE_READ, "http_5xx", times=None, status=200,
               body=json.dumps({"error": [text]}))
    try:
        with pytest.raises(row.error) as info:
            if on_order:
                broker.submit(_request(Side.SELL, "0.1"))
            else:
                broker.holdings()
    finally:
        sim.clear_faults("kraken")
    assert type(info.value) is row.error and text in str(info.value)


def test_a_rate_limit_answer_fills_the_keys_counter(sim: Simulator, open_account: Open) -> None:
    broker, _ = open_account({"USD": "1000"}, rate_limit=True)
    budget = broker._budget
    assert isinstance(budget, KeyBudget)
    sim.inject("kraken", _PRIVATE_READ, "http_5xx", times=3, status=200,
               body=json.dumps({"error": ["EAPI:Rate limit exceeded"]}))
    try:
        with pytest.raises(TransientError):
            broker._call(broker.client.fetch_balance, private=True)
    finally:
        sim.clear_faults("kraken")
    assert budget.count >= budget.max_count - 0.1  # later calls wait for the counter to decay


def test_a_temporary_lockout_stops_private_calls_without_sending_them(sim: Simulator, open_account: Open) -> None:
    broker, key = open_account({"USD": "1000"}, rate_limit=True)
    sim.inject("kraken", _PRIVATE_READ, "http_5xx", times=1, status=200,
               body=json.dumps({"error": ["EGeneral:Temporary lockout"]}))
    with pytest.raises(TransientError, match="Temporary lockout"):
        broker._call(broker.client.fetch_balance, private=True)
    sent = len(sim.requests("kraken", api_key=key))
    with pytest.raises(TransientError, match=r"locked this API key out; calls resume in (89\d|900)s"):
        broker.holdings()
    assert len(sim.requests("kraken", api_key=key)) == sent  # nothing reached the venue
    assert broker._budget is not None and 890 < broker._budget.locked_seconds() <= kraken.LOCKOUT_SECONDS


# -- cancel-only / post-only markets --------------------------------------------------------------


def test_a_cancel_only_market_takes_no_entry_and_an_exit_says_why_it_waits(sim: Simulator, open_account: Open) -> None:
    broker, _ = open_account({"USD": "1000", "ETH": "1"})
    sim.set_market_status("kraken", "ETH/USD", "cancel_only")
    try:
        assert "ETH/USD" not in broker.symbols() and "BTC/USD" in broker.symbols()
        buy, sell = _request(Side.BUY, "100", QuantityUnit.QUOTE, "ETH/USD"), _request(Side.SELL, "1", symbol="ETH/USD")
        with pytest.raises(OrderRejected, match="ETH/USD market is cancel_only"):
            broker.place(buy)
        with pytest.raises(OrderRejected, match="exits wait until it trades again"):
            broker.place(sell)
        assert sim.count_orders("kraken", buy.client_order_id) == sim.count_orders("kraken", sell.client_order_id) == 0
    finally:
        sim.set_market_status("kraken", "ETH/USD", "online")


def test_a_market_that_turned_post_only_after_the_markets_were_read_refuses_definitively(
    sim: Simulator, open_account: Open
) -> None:
    broker, _ = open_account({"USD": "1000", "ETH": "1"})
    broker.begin_cycle()  # markets read while it was online
    sim.set_market_status("kraken", "ETH/USD", "post_only")
    try:
        request = _request(Side.SELL, "1", symbol="ETH/USD")
        with pytest.raises(OrderRejected, match="EService:Market in post_only mode"):
            broker.submit(request)  # definitive: never left `unknown` to be looked up for 10 minutes
        assert sim.count_orders("kraken", request.client_order_id) == 1
    finally:
        sim.set_market_status("kraken", "ETH/USD", "online")


# -- client order ids -----------------------------------------------------------------------------


def test_client_order_ids_leave_room_under_krakens_18_character_limit(sim: Simulator, open_account: Open) -> None:
    ids = {client_order_id_for("entry", n) for n in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 and i.startswith("nj") and i.isalnum() and i.islower() for i in ids)
    broker, _ = open_account({"USD": "1000", "BTC": "0.01"})
    request = _request(Side.SELL, "0.001")
    broker.place(request)
    assert _sent(sim, request.client_order_id)["cl_ord_id"] == request.client_order_id
    assert broker.fetch_order(request.client_order_id, "BTC/USD") is not None
