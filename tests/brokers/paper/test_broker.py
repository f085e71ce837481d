"""PaperBroker beyond the adapter contract (`tests/brokers/contract/`): fills at the ask or bid
with slippage and that broker's fee, the fee counted against cash, the exact holding as the sell
limit, a repeated client order id, a restart, a bad price, and two processes on one account."""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.base import InsufficientFunds, MarketDataError
from nija.brokers.fees import DEFAULT_FEES, fee_schedule
from nija.brokers.paper import PaperBroker, PaperLedger
from nija.models import BrokerName, OrderRequest, OrderStatus, QuantityUnit, Side
from nija.store import Store
from tests.fakes import StubMarket


def _broker(store: Store, name: BrokerName = BrokerName.KRAKEN, cash: str = "1000", slippage: str = "0") -> PaperBroker:
    market = StubMarket({"BTC/USD": "50000", "DOGE/USD": "0.2"})
    return PaperBroker(
        name, "master", store, market, fee_schedule(name), starting_cash=Decimal(cash), slippage_bps=Decimal(slippage)
    )


def _order(side: Side, qty: str, unit: QuantityUnit, cid: str, symbol: str = "BTC/USD", broker=BrokerName.KRAKEN) -> OrderRequest:
    return OrderRequest(
        broker=broker, account="master", symbol=symbol, side=side, quantity=Decimal(qty), unit=unit, client_order_id=cid
    )


def test_fee_table_is_the_documented_one() -> None:
    taker = {b: f.taker for b, f in DEFAULT_FEES.items()}
    assert taker == {
        BrokerName.COINBASE: Decimal("0.006"), BrokerName.KRAKEN: Decimal("0.0026"), BrokerName.OKX: Decimal("0.001"),
        BrokerName.BINANCE: Decimal("0.001"), BrokerName.ALPACA: Decimal("0"),
    }
    assert fee_schedule(BrokerName.COINBASE).round_trip == Decimal("0.014")
    assert fee_schedule(BrokerName.KRAKEN).round_trip == Decimal("0.0062")


@pytest.mark.parametrize("name", list(BrokerName))
def test_buy_by_quote_pays_ask_and_that_brokers_taker_fee(store: Store, name: BrokerName) -> None:
    broker = _broker(store, name, slippage="10")
    report = broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "b1", broker=name))
    fees = fee_schedule(name)
    ask = Decimal("50000") * (1 + fees.spread / 2)
    expected_price = (ask * Decimal("1.001")).quantize(Decimal("1e-12"))
    assert report.status is OrderStatus.FILLED
    assert report.avg_price == expected_price
    assert report.filled_qty == (Decimal("100") / expected_price).quantize(Decimal("1e-8"), rounding="ROUND_DOWN")
    assert report.fee == (report.filled_qty * expected_price * fees.taker).quantize(Decimal('1e-12'), rounding='ROUND_UP')
    cash = broker.balance_snapshot().available
    assert cash == Decimal("1000") - report.filled_qty * expected_price - report.fee
    assert broker.holdings() == {"BTC": report.filled_qty}


def test_the_fee_counts_against_the_cash(store: Store) -> None:
    broker = _broker(store, cash="100")
    with pytest.raises(InsufficientFunds, match="only 100.00 available"):
        broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "b1"))  # 100 + fee > 100


def test_one_unit_more_than_held_is_refused_and_all_of_it_sold(store: Store) -> None:
    broker = _broker(store)
    bought = broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "b1")).filled_qty
    with pytest.raises(InsufficientFunds, match="exceeds held"):
        broker.place(_order(Side.SELL, str(bought + Decimal("0.00000001")), QuantityUnit.BASE, "s1"))
    report = broker.place(_order(Side.SELL, str(bought), QuantityUnit.BASE, "s2"))
    assert report.filled_qty == bought
    assert broker.holdings() == {}


def test_repeated_client_order_id_returns_the_original_fill(store: Store) -> None:
    broker = _broker(store)
    first = broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "b1"))
    again = broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "b1"))
    assert again == first
    assert broker.holdings()["BTC"] == first.filled_qty  # filled once
    assert broker.fetch_order("b1", "BTC/USD") == first


def test_balances_and_orders_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nija.db"
    s = Store(path)
    broker = _broker(s)
    report = broker.place(_order(Side.BUY, "250", QuantityUnit.QUOTE, "b1"))
    before = broker.balance_snapshot()
    s.close()
    s2 = Store(path)
    reborn = _broker(s2)  # the seed is ignored: the account already exists
    assert reborn.balance_snapshot().total_equity == before.total_equity
    assert reborn.holdings() == {"BTC": report.filled_qty}
    assert reborn.fetch_order("b1", "BTC/USD") == report
    s2.close()


def test_bad_price_is_a_market_data_error(store: Store) -> None:
    broker = _broker(store)
    broker.market.prices["BTC/USD"] = Decimal("NaN")
    with pytest.raises(MarketDataError):
        broker.ticker("BTC/USD")


def _after_the_daemon_reads_balances(daemon: PaperBroker, manual_order) -> None:
    """Run `manual_order` (another process's order) right after `daemon` reads its balances."""
    read = daemon._balances

    def read_then_let_the_other_process_fill() -> dict[str, Decimal]:
        balances = read()
        daemon._balances = read  # type: ignore[method-assign]
        manual_order()
        return balances

    daemon._balances = read_then_let_the_other_process_fill  # type: ignore[method-assign]


def test_two_processes_filling_one_account_lose_neither_fill(store: Store) -> None:
    # nija.trade and the daemon fill the same paper account, each through its own connection.
    other_process = Store(store.path)
    daemon, manual = _broker(store, cash="10000"), _broker(other_process, cash="10000")
    manual_report: list = []
    _after_the_daemon_reads_balances(
        daemon, lambda: manual_report.append(manual.place(_order(Side.BUY, "3000", QuantityUnit.QUOTE, "manual-1")))
    )
    daemon_report = daemon.place(_order(Side.BUY, "4000", QuantityUnit.QUOTE, "daemon-1"))
    [manual_fill] = manual_report
    spent = sum(r.filled_qty * r.avg_price + r.fee for r in (daemon_report, manual_fill))
    assert store.paper_balances(BrokerName.KRAKEN, "master") == {
        "USD": Decimal("10000") - spent, "BTC": daemon_report.filled_qty + manual_fill.filled_qty,
    }
    other_process.close()


def test_a_balance_spent_meanwhile_by_another_process_refuses_the_order(store: Store) -> None:
    other_process = Store(store.path)
    daemon, manual = _broker(store, cash="1000"), _broker(other_process, cash="1000")
    _after_the_daemon_reads_balances(
        daemon, lambda: manual.place(_order(Side.BUY, "900", QuantityUnit.QUOTE, "manual-1"))
    )
    with pytest.raises(InsufficientFunds, match="changed meanwhile"):
        daemon.place(_order(Side.BUY, "500", QuantityUnit.QUOTE, "daemon-1"))
    assert daemon.fetch_order("daemon-1", "BTC/USD") is None  # refused: nothing recorded
    assert store.paper_balances(BrokerName.KRAKEN, "master")["USD"] > 0
    other_process.close()


def test_the_daemon_store_is_a_paper_ledger(store: Store) -> None:
    # PaperBroker is typed with the protocol, so brokers/ never imports nija.store; the store must
    # keep every method it names, with the same parameters.
    assert isinstance(store, PaperLedger)
    for name, member in vars(PaperLedger).items():
        if callable(member) and not name.startswith("_"):
            assert inspect.signature(getattr(store, name)).parameters.keys() == (
                inspect.signature(member).parameters.keys() - {"self"}
            ), name


def test_ticker_and_rules_follow_every_new_price_and_time(store: Store) -> None:
    # Kept while the market answers with the same price at the same time (an exit asks, then its
    # order asks again); a new price or a new candle is priced afresh.
    broker = _broker(store)
    first, rules = broker.ticker("BTC/USD"), broker.market_rules("BTC/USD")
    assert broker.ticker("BTC/USD") is first and broker.market_rules("BTC/USD") is rules
    broker.market.prices["BTC/USD"] = Decimal("5")
    moved = broker.ticker("BTC/USD")
    assert moved.last == Decimal("5") and moved.bid < Decimal("5") < moved.ask
    assert broker.market_rules("BTC/USD").price_step == Decimal("0.0001") != rules.price_step
    broker.market.advance()
    later = broker.ticker("BTC/USD")
    assert later.last == Decimal("5") and later.ts > moved.ts


def test_equity_at_a_price_is_the_snapshots_equity_at_it(store: Store) -> None:
    # What the backtest's quiet scan asks of a later candle (DESIGN invariant 2: cash + every
    # holding at its price) is what a balance read at that price says.
    broker = _broker(store, cash="100000")
    broker.place(_order(Side.BUY, "1000", QuantityUnit.QUOTE, "b1"))
    broker.place(_order(Side.BUY, "50", QuantityUnit.QUOTE, "b2", symbol="DOGE/USD"))
    prices = {"BTC/USD": Decimal("51234.5"), "DOGE/USD": Decimal("0.25")}
    broker.market.prices.update(prices)
    assert broker.equity_at(prices.__getitem__) == broker.balance_snapshot().total_equity
    assert broker.equity_at(prices.__getitem__) > broker.balance_snapshot().available
