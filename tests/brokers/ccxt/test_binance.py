"""Binance's quirks: fees in BNB, fees of the order lookup from the account's trades, Simple Earn
balances, expired orders and Binance's own error messages (nija/brokers/ccxt/binance.py).

Pure functions are tested directly; the rest through the real ccxt client against the simulator,
which pays commissions in BNB for a key that asks (`set_bnb_fees`), lists `LD<asset>` rows and
answers myTrades per order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from nija.brokers.base import AuthError, InsufficientFunds, MarketDataError, OrderRejected, TransientError
from nija.brokers.ccxt import CcxtBroker, SharedMarkets, binance
from nija.brokers.ccxt.errors import ccxt_errors
from nija.execution.positions import held_change
from nija.models import BrokerName, Order, OrderRequest, OrderStatus, QuantityUnit, Side
from tests.sim.model import Market
from tests.sim.simulator import Simulator
from tests.sim.venues.binance import ERROR_BODIES

_keys = itertools.count()
_ids = itertools.count()

# -- pure -------------------------------------------------------------------------------------

LISTED = frozenset({"BTC", "USDT", "LDO", "ETH", "BNB"})


@pytest.mark.parametrize(
    ("code", "asset"),
    [("LDUSDT", "USDT"), ("LDBTC", "BTC"), ("LDO", None), ("LD", None), ("LDXYZ", None), ("BTC", None)],
)
def test_an_ld_code_is_earn_only_for_a_listed_rest_and_an_unlisted_name(code: str, asset: str | None) -> None:
    assert binance.earn_asset(code, LISTED) == asset


def test_lido_is_not_earn_even_where_o_were_a_currency() -> None:
    assert binance.earn_asset("LDO", LISTED | {"O"}) is None  # LDO itself is listed


class _Codes:
    listed = LISTED

    def __call__(self, code: str) -> str:
        return code


def test_earn_balances_fold_into_their_asset_total_never_into_free() -> None:
    total = {"USDT": Decimal(100), "LDUSDT": Decimal(50), "LDBTC": Decimal("0.5"), "LDO": Decimal(7)}
    free = {"USDT": Decimal(80), "LDUSDT": Decimal(50), "LDBTC": Decimal("0.5"), "LDO": Decimal(7)}
    folded = binance.fold_balances(free, total, ("USDT",), _Codes())
    assert folded.total == {"USDT": Decimal(150), "BTC": Decimal("0.5"), "LDO": Decimal(7)}
    assert folded.free == {"USDT": Decimal(80), "LDO": Decimal(7)}
    assert folded.sub_balances == {"USDT": Decimal(50), "BTC": Decimal("0.5")}


def _prices(**last: str) -> dict[str, Decimal]:
    return {symbol.replace("_", "/"): Decimal(price) for symbol, price in last.items()}


def test_a_bnb_fee_is_valued_in_quote_and_keeps_its_asset_name() -> None:
    prices = _prices(BNB_USDT="600")
    raw = {"symbol": "BTC/USDT", "fees": [{"currency": "BNB", "cost": 0.0000705}],
           "trades": [{"id": "1", "fee": {"currency": "BNB", "cost": 0.0000705}}]}
    out = binance.restate_fees(raw, prices, prices.__getitem__)
    assert out["fees"] == [{"currency": "BNB", "cost": Decimal("0.0423"), "paid": Decimal("0.0000705")}]
    assert out["trades"][0]["fee"]["cost"] == Decimal("0.0423")


def test_a_bnb_fee_on_a_non_usdt_book_is_valued_through_usdt() -> None:
    prices = _prices(BNB_USDT="600", ETH_USDT="3000", ETH_BTC="0.05")
    raw = {"symbol": "ETH/BTC", "fees": [{"currency": "BNB", "cost": 0.01}], "trades": []}
    with pytest.raises(MarketDataError, match="no price in BTC"):
        binance.restate_fees(raw, prices, prices.__getitem__)  # no BNB/BTC, no BTC/USDT
    prices |= _prices(BTC_USDT="60000")
    assert binance.restate_fees(raw, prices, prices.__getitem__)["fees"][0]["cost"] == Decimal("0.0001")


def test_fees_in_base_or_quote_are_not_restated() -> None:
    raw = {"symbol": "BTC/USDT", "fees": [{"currency": "BTC", "cost": 0.001}, {"currency": "USDT", "cost": 1}]}
    assert binance.restate_fees(raw, {}, lambda symbol: pytest.fail("no price needed")) is raw


def test_the_lookup_takes_its_fees_from_the_orders_trades() -> None:
    raw = {"id": "7", "symbol": "BTC/USDT", "side": "buy", "filled": 0.3, "cost": 18000}
    trades = [
        {"id": "a", "order": "7", "amount": 0.1, "price": 60000, "fee": {"currency": "BNB", "cost": 0.00001}},
        {"id": "b", "order": "7", "amount": 0.2, "price": 60000, "fee": {"currency": "BTC", "cost": 0.0002}},
        {"id": "c", "order": "8", "amount": 5, "price": 60000, "fee": {"currency": "BTC", "cost": 1}},  # not this order
    ]
    out = binance.with_trades(raw, trades, Decimal("0.001"))
    assert [t["id"] for t in out["trades"]] == ["a", "b"]
    assert out["fees"] == [
        {"currency": "BNB", "cost": Decimal("0.00001")}, {"currency": "BTC", "cost": Decimal("0.0002")},
    ]


@pytest.mark.parametrize("trades", [None, [], [{"id": "a", "order": "7", "amount": 0.1, "price": 1, "fee": None}]])
def test_without_the_orders_trades_the_taker_rate_is_assumed(trades: list | None) -> None:
    buy = {"id": "7", "symbol": "BTC/USDT", "side": "buy", "filled": 0.3, "cost": 18000}
    taker = Decimal("0.001")
    assert binance.with_trades(buy, trades, taker)["fees"] == [{"currency": "BTC", "cost": Decimal("0.0003")}]
    sell = buy | {"side": "sell"}
    assert binance.with_trades(sell, trades, taker)["fees"] == [{"currency": "USDT", "cost": Decimal("18")}]


def test_rate_limit_answers_pause_until_the_next_minute_or_the_ban_ends() -> None:
    assert binance.pause_seconds("Too much request weight used; current limit is 6000", 1_000_050.0) == 31.0  # :30 past
    banned = "Way too much request weight used; IP banned until 1659146400000. Please use WebSocket Streams"
    assert binance.pause_seconds(banned, 1_659_146_300.0) == 100.0
    assert binance.pause_seconds(banned, 1_659_146_500.0) == 1.0  # a ban already over: one second
    assert binance.pause_seconds("Account has insufficient balance for requested action.", 0.0) is None


@pytest.mark.parametrize(
    ("raised", "text", "expected"),
    [
        (ccxt.InsufficientFunds, "Account has insufficient balance for requested action.", InsufficientFunds),
        (ccxt.InvalidOrder, '{"code":-2010,"msg":"Duplicate order sent."}', TransientError),
        (ccxt.RequestTimeout, '{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status'
                              ' unknown; execution status unknown."}', TransientError),
        (ccxt.OrderNotFound, '{"code":-2013,"msg":"Order does not exist."}', OrderRejected),  # lookup: None
        (ccxt.AuthenticationError, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}', AuthError),
        (ccxt.DDoSProtection, '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}', AuthError),
        (ccxt.DDoSProtection, '429 {"code":-1003,"msg":"Too much request weight used; current limit is 6000"}',
         TransientError),
        (ccxt.BadRequest, '{"code":-1013,"msg":"Filter failure: NOTIONAL"}', OrderRejected),
    ],
)
def test_each_binance_message_maps_to_its_class(raised: type[Exception], text: str, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info, ccxt_errors(BrokerName.BINANCE):
        raise raised(f"binance {text}")
    assert type(info.value) is expected


# -- through ccxt against the simulator --------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["binance"]) as simulator:
        simulator.add_market("binance", Market("BNB/USDT", "BNB", "USDT", 2, 3, Decimal("0.001"), Decimal(5), 8),
                             Decimal(600))
        simulator.add_market("binance", Market("LDO/USDT", "LDO", "USDT", 4, 2, Decimal("0.01"), Decimal(5), 8),
                             Decimal("1.5"))
        yield simulator


@pytest.fixture
def open_broker(sim: Simulator, tmp_path: Path) -> Iterator:
    built: list[CcxtBroker] = []

    def build(balances: dict[str, str], *, bnb_fees: bool = False) -> tuple[CcxtBroker, str]:
        key = f"binance-quirks-{next(_keys)}"
        account = sim.add_account("binance", key, balances={a: Decimal(q) for a, q in balances.items()})
        sim.set_bnb_fees("binance", key, bnb_fees)
        broker = CcxtBroker(
            BrokerName.BINANCE, "master", {"api_key": key, "api_secret": account.secret}, SharedMarkets(),
            api_url=sim.url("binance"), data_dir=tmp_path, timeout_ms=1500, enable_rate_limit=False,
        )
        built.append(broker)
        return broker, key

    sim.set_price("binance", "BTC/USDT", Decimal(60000))
    yield build
    sim.clear_faults("binance")
    for broker in built:
        broker.close()


def _buy(quote: str) -> OrderRequest:
    return OrderRequest(
        broker=BrokerName.BINANCE, account="master", symbol="BTC/USDT", side=Side.BUY, quantity=Decimal(quote),
        unit=QuantityUnit.QUOTE, client_order_id=f"njbinance{next(_ids):07d}",
    )


def test_a_bnb_commission_is_a_quote_fee_and_the_coins_bought_arrive_whole(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000", "BNB": "1"}, bnb_fees=True)
    report = broker.submit(_buy("120"))
    [fill] = report.fills
    [venue_fill] = sim.fills("binance", key)
    assert (venue_fill.fee_asset, venue_fill.fee) == ("BNB", Decimal("0.00015000"))  # 0.075 % of 120, at 600
    assert (fill.trade_id, fill.fee_currency) == (venue_fill.fill_id, "BNB")
    assert (report.fee, fill.fee, fill.fee_in_base) == (Decimal("0.09"), Decimal("0.09"), Decimal(0))
    assert held_change(fill) == Decimal("0.002") == sim.balances("binance", key)["BTC"]


def test_the_lookup_reads_the_orders_trades_with_their_bnb_fee(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000", "BNB": "1"}, bnb_fees=True)
    request = _buy("120")
    sim.inject("binance", r"^/api/v3/order$", "timeout", method="POST", apply_after=True, drop=True)
    with pytest.raises(TransientError):
        broker.submit(request)  # the order filled; its answer was lost
    found = broker.fetch_order(request.client_order_id, "BTC/USDT")
    assert found is not None and found.status is OrderStatus.FILLED
    [fill] = found.fills
    [venue_fill] = sim.fills("binance", key)
    assert (fill.trade_id, fill.fee, fill.fee_in_base, fill.fee_currency) == (
        venue_fill.fill_id, Decimal("0.09"), Decimal(0), "BNB",
    )
    assert held_change(fill) == sim.balances("binance", key)["BTC"]  # no 0.1 % assumed withheld
    [trades_read] = sim.requests("binance", path_contains="/api/v3/myTrades")
    assert trades_read.params["orderId"] == venue_fill.order_id


def test_the_lookup_of_a_buy_paying_in_base_withholds_exactly_the_commission(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000"})
    request = _buy("120")
    sim.inject("binance", r"^/api/v3/order$", "timeout", method="POST", apply_after=True, drop=True)
    with pytest.raises(TransientError):
        broker.submit(request)
    found = broker.fetch_order(request.client_order_id, "BTC/USDT")
    assert found is not None
    [fill] = found.fills
    [venue_fill] = sim.fills("binance", key)
    assert (fill.trade_id, fill.fee_in_base, fill.fee_currency) == (venue_fill.fill_id, venue_fill.fee, "BTC")
    assert held_change(fill) == sim.balances("binance", key)["BTC"]


def test_a_partial_fill_then_the_rest_reports_only_the_new_trade(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000"})
    request = _buy("120")
    sim.inject("binance", r"^/api/v3/order$", "partial_fill", method="POST", fraction="0.4")
    first = broker.submit(request)
    assert first.status is OrderStatus.PARTIAL and len(first.fills) == 1
    [order] = sim.orders("binance", client_order_id=request.client_order_id)
    sim.fill_order("binance", order.order_id)
    recorded = Order(request=request, status=OrderStatus.PARTIAL, filled_qty=first.filled_qty,
                     avg_price=first.avg_price, fee=first.fee, fee_in_base=first.fee_in_base,
                     created_at=first.fills[0].ts_seen, updated_at=first.fills[0].ts_seen)
    rest = broker.fetch_order(request.client_order_id, "BTC/USDT", recorded)
    assert rest is not None and rest.status is OrderStatus.FILLED
    venue_fills = sim.fills("binance", key)
    assert [f.trade_id for f in rest.fills] == [venue_fills[1].fill_id]  # the first trade is not repeated
    total = sum((held_change(f) for f in (*first.fills, *rest.fills)), Decimal(0))
    assert total == sim.balances("binance", key)["BTC"]


def test_when_the_trades_read_fails_the_taker_rate_is_assumed_withheld(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000", "BNB": "1"}, bnb_fees=True)
    request = _buy("120")
    sim.inject("binance", r"^/api/v3/order$", "timeout", method="POST", apply_after=True, drop=True)
    with pytest.raises(TransientError):
        broker.submit(request)
    sim.inject("binance", r"^/api/v3/myTrades$", "http_5xx", times=None)
    found = broker.fetch_order(request.client_order_id, "BTC/USDT")
    assert found is not None
    [fill] = found.fills
    assert fill.fee_in_base == Decimal("0.000002")  # 0.1 % of 0.002: booked, never more than was received
    assert held_change(fill) <= sim.balances("binance", key)["BTC"]


@pytest.mark.parametrize("status", ["EXPIRED", "EXPIRED_IN_MATCH"])
def test_an_expired_order_is_canceled_with_what_filled_booked(sim: Simulator, open_broker, status: str) -> None:
    broker, key = open_broker({"USDT": "1000"})
    request = _buy("120")
    sim.inject("binance", r"^/api/v3/order$", "partial_fill", method="POST", fraction="0.5")
    broker.submit(request)
    [order] = sim.orders("binance", client_order_id=request.client_order_id)
    sim.expire_order("binance", order.order_id, status)
    found = broker.fetch_order(request.client_order_id, "BTC/USDT")
    assert found is not None and found.status is OrderStatus.CANCELED
    assert found.filled_qty == Decimal("0.001")
    assert sum((held_change(f) for f in found.fills), Decimal(0)) == sim.balances("binance", key)["BTC"]


def test_simple_earn_counts_in_equity_and_holdings_and_lido_stays_lido(sim: Simulator, open_broker) -> None:
    broker, _ = open_broker({"USDT": "1000", "LDUSDT": "500", "BTC": "0.1", "LDBTC": "0.05", "LDO": "10"})
    broker.begin_cycle()
    snapshot = broker.balance_snapshot()
    assert broker.holdings() == {"BTC": Decimal("0.15"), "LDO": Decimal(10)}
    assert snapshot.available == Decimal(1000)  # Earn is not free to trade
    assert snapshot.total_equity == Decimal(1000) + Decimal(500) + Decimal("0.15") * 60000 + Decimal("15")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("duplicate", TransientError), ("timeout", TransientError), ("notional", OrderRejected)],
)
def test_real_order_refusals_through_ccxt(sim: Simulator, open_broker, name: str, expected: type[Exception]) -> None:
    broker, _ = open_broker({"USDT": "1000"})
    status, body = ERROR_BODIES[name]
    sim.inject("binance", r"^/api/v3/order$", "http_5xx", method="POST", status=status, body=body)
    with pytest.raises(expected):
        broker.submit(_buy("120"))


def test_an_invalid_key_after_it_worked_stops_the_account(sim: Simulator, open_broker) -> None:
    broker, key = open_broker({"USDT": "1000"})
    broker.balance_snapshot()  # ccxt now reads -2015 as a temporary ban (DDoSProtection)
    sim.inject("binance", r"^/api/v3/account$", "auth_error", api_key=key)
    with pytest.raises(AuthError):
        broker.balance_snapshot()


def test_an_ip_ban_pauses_every_call_until_it_ends(sim: Simulator, open_broker) -> None:
    broker, _ = open_broker({"USDT": "1000"})
    status, body = ERROR_BODIES["ip_banned"]
    sim.inject("binance", r"^/api/v3/account$", "http_5xx", status=status, body=body)
    with pytest.raises(TransientError, match="IP banned"):
        broker.balance_snapshot()
    sent = len(sim.requests("binance"))
    with pytest.raises(TransientError, match="paused"):
        broker.ticker("BTC/USDT")
    assert len(sim.requests("binance")) == sent


def test_a_sell_of_coins_in_simple_earn_says_to_redeem_them(sim: Simulator, open_broker) -> None:
    broker, _ = open_broker({"USDT": "1000", "LDBTC": "0.01"})
    assert broker.holdings() == {"BTC": Decimal("0.01")}  # the position's coins are still held
    sell = OrderRequest(
        broker=BrokerName.BINANCE, account="master", symbol="BTC/USDT", side=Side.SELL, quantity=Decimal("0.01"),
        unit=QuantityUnit.BASE, client_order_id=f"njbinance{next(_ids):07d}",
    )
    with pytest.raises(InsufficientFunds, match=r"0.01 BTC .* Earn/staking \(LDBTC\).* redeem BTC from Simple Earn"):
        broker.submit(sell)
