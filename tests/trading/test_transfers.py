"""Deposits and withdrawals are not trading: the transfer arithmetic on constructed reads, the
kill switch's marks scaled to a transfer (the percent kept), and the broker loop on a paper
account: a withdrawal never trips the kill switch (nor after a restart), a deposit never hides a
day's loss, a trading loss still trips it, the user's own trade is neither."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import structlog
from structlog.testing import capture_logs

from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.execution.transfers import traded_quantities, transfer_value
from nija.holdings import ValuedHoldings
from nija.models import (
    BrokerName,
    EquityMarks,
    Fill,
    HealthStatus,
    OrderStatus,
    Side,
)
from nija.store import Store
from nija.strategy.risk import RiskLimits, kill_switch_reason, reweighted_marks
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.halt import halt_path
from tests.fakes import StubMarket, set_paper_balances
from tests.trading.test_guardrails import _open

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _fill(side: Side, qty: str, price: str, fee: str = "0", fee_in_base: str = "0", symbol: str = "BTC/USD") -> Fill:
    return Fill(
        broker=BrokerName.KRAKEN, account="master", symbol=symbol, side=side, trade_id=f"t{qty}{price}{side}",
        client_order_id="c", qty=D(qty), price=D(price), fee=D(fee), fee_in_base=D(fee_in_base),
        ts_exchange=T0, ts_seen=T0,
    )


# -- the arithmetic ----------------------------------------------------------------------------

def test_price_moves_are_no_transfer() -> None:
    before = [("USD", D(500), D(1)), ("BTC", D(2), D(100))]
    after = [("USD", D(500), D(1)), ("BTC", D(2), D(70))]
    assert transfer_value(before, after, {}) == 0


def test_cash_and_coins_moved_out_or_in_are_valued_at_the_new_prices() -> None:
    before = [("USD", D(500), D(1)), ("BTC", D(2), D(100))]
    assert transfer_value(before, [("USD", D(300), D(1)), ("BTC", D(2), D(110))], {}) == D(-200)
    assert transfer_value(before, [("USD", D(500), D(1)), ("BTC", D("1.5"), D(110))], {}) == D(-55)
    assert transfer_value(before, [("USD", D(900), D(1)), ("BTC", D(2), D(90))], {}) == D(400)
    # An asset gone since (all of it withdrawn) is valued at its last known price.
    assert transfer_value(before, [("USD", D(500), D(1))], {}) == D(-200)


def test_nijas_own_fills_are_trading_fees_and_all() -> None:
    before = [("USD", D(1000), D(1))]
    # A buy of 2 BTC at 100 with a 0.52 fee in quote; the price moved to 104 by the next read.
    buy = _fill(Side.BUY, "2", "100", fee="0.52")
    after = [("USD", D("799.48"), D(1)), ("BTC", D(2), D(104))]
    assert traded_quantities([buy]) == {"BTC": D(2), "USD": D("-200.52")}
    assert transfer_value(before, after, traded_quantities([buy])) == 0
    # The fee withheld in the base asset: the account received 1.998 BTC.
    buy_base_fee = _fill(Side.BUY, "2", "100", fee="0.2", fee_in_base="0.002")
    after = [("USD", D(800), D(1)), ("BTC", D("1.998"), D(104))]
    assert transfer_value(before, after, traded_quantities([buy_base_fee])) == 0
    # A sell, then a withdrawal of 100 beside it: only the withdrawal is a transfer.
    sell = _fill(Side.SELL, "1", "104", fee="0.27")
    before = [("USD", D(800), D(1)), ("BTC", D(2), D(104))]
    after = [("USD", D("803.73"), D(1)), ("BTC", D(1), D(104))]
    assert transfer_value(before, after, traded_quantities([sell])) == D(-100)


def test_a_fee_paid_in_a_third_asset_offsets_itself() -> None:
    # Binance charging the commission in BNB: the fee (valued in quote) left BNB, not USDT.
    buy = _fill(Side.BUY, "1", "100", fee="0.075", symbol="BTC/USDT")
    before = [("USDT", D(1000), D(1)), ("BNB", D(1), D("300"))]
    after = [("USDT", D(900), D(1)), ("BTC", D(1), D(100)), ("BNB", D("0.99975"), D("300"))]
    assert transfer_value(before, after, traded_quantities([buy])) == 0


def test_the_users_own_trade_is_about_its_fee_not_a_transfer() -> None:
    # The user sells 1 ETH of their own at 10 for 9.97 (a 0.03 fee); ETH reads 10 after.
    before = [("USD", D(100), D(1)), ("ETH", D(5), D(10))]
    after = [("USD", D("109.97"), D(1)), ("ETH", D(4), D(10))]
    assert transfer_value(before, after, {}) == D("-0.03")


def test_a_stock_symbol_trades_against_dollars_and_a_one_ledger_broker_settles_in_its_cash() -> None:
    assert traded_quantities([_fill(Side.BUY, "3", "10", symbol="AAPL")]) == {"AAPL": D(3), "USD": D(-30)}
    # A venue's ETH/BTC spends BTC; the paper ledger (`settles_in_cash`) pays every quote in its cash.
    buy = _fill(Side.BUY, "2", "0.05", symbol="ETH/BTC")
    assert traded_quantities([buy]) == {"ETH": D(2), "BTC": D("-0.10")}
    assert traded_quantities([buy], settled_in="USD") == {"ETH": D(2), "USD": D("-0.10")}


def test_marks_scaled_to_a_transfer_keep_the_percent() -> None:
    marks = EquityMarks(D(1000), date(2026, 1, 1), D(960))
    # 8 % below the mark and 4.17 % below the day's start, then 450 of the 920 withdrawn.
    scaled = reweighted_marks(marks, D(470), D(-450))
    assert scaled is not None
    places = D("1e-20")
    assert ((scaled.high_water_mark - 470) / scaled.high_water_mark).quantize(places) == D("0.08")
    assert ((scaled.day_start_equity - 470) / scaled.day_start_equity).quantize(places) == (
        (D(960) - 920) / D(960)).quantize(places)
    limits = RiskLimits()
    assert kill_switch_reason(marks, D(470), limits) is not None  # what the old marks would say
    assert kill_switch_reason(scaled, D(470), limits) is None
    # A deposit the same way; and nothing to scale when there was nothing before it.
    assert reweighted_marks(marks, D(1840), D(920)).high_water_mark == D(2000)  # type: ignore[union-attr]
    assert reweighted_marks(marks, D(500), D(500)) is None


# -- the broker loop ----------------------------------------------------------------------------

def _loop(store: Store, tmp_path: Path, market: StubMarket, **config) -> BrokerLoop:
    broker = PaperBroker(BrokerName.KRAKEN, "master", store, market, fee_schedule(BrokerName.KRAKEN), starting_cash=D(1000))
    settings = {"cycle_seconds": 0.01, "minimum_funded_balance": D(10), "max_concurrent_positions": 8,
                "data_dir": tmp_path, **config}
    minutes = itertools.count(step=60.0)  # every cycle reads the balance afresh
    return BrokerLoop(broker, store, LoopConfig(**settings), structlog.get_logger("test").bind(broker="kraken"),
                      threading.Event(), clock=lambda: next(minutes))


def _cash(store: Store) -> Decimal:
    return store.paper_balances(BrokerName.KRAKEN, "master")["USD"]


def _sold(store: Store) -> int:
    orders = store.orders_in_status(BrokerName.KRAKEN, "master", list(OrderStatus))
    return sum(order.request.side is Side.SELL for order in orders)


def test_a_withdrawal_never_trips_the_kill_switch_and_a_trading_loss_still_does(store: Store, tmp_path: Path) -> None:
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": D(1000)})
    market = StubMarket({"BTC/USD": "100"})
    loop = _loop(store, tmp_path, market)
    _open(loop, "BTC/USD", "400")
    assert loop.run_cycle().status is HealthStatus.HEALTHY
    equity = loop.broker.balance_snapshot().total_equity
    # The owner withdraws half the cash: 30 % of equity gone, far past both limits as a loss.
    with capture_logs() as logs:
        set_paper_balances(store, BrokerName.KRAKEN, "master", {"USD": _cash(store) - 300}, "withdrawal")
        assert loop.run_cycle().status is HealthStatus.HEALTHY
    seen = [entry for entry in logs if entry["event"] == "transfer_seen"]
    assert [D(entry["value"]) for entry in seen] == [D(-300)]
    marks, halted = store.risk_state(BrokerName.KRAKEN, "master")
    assert halted is None and _sold(store) == 0
    assert marks is not None and marks.high_water_mark == equity - 300
    assert [(t.value, t.equity) for t in store.transfers(BrokerName.KRAKEN, "master")] == [(D(-300), equity - 300)]
    # A trading loss after it is measured on what is left: BTC −18.5 % is about 74, 7.4 % of the
    # equity before the withdrawal but 10.6 % of what is left.
    market.prices["BTC/USD"] = D("81.5")
    health = loop.run_cycle()
    assert health.status is HealthStatus.HALTED and "drawdown 10.5" in (health.note or "")
    assert store.positions(BrokerName.KRAKEN, "master") == []
    assert halt_path(tmp_path, BrokerName.KRAKEN).exists()


def test_a_withdrawal_while_the_daemon_was_stopped_is_seen_at_restart(store: Store, tmp_path: Path) -> None:
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": D(1000)})
    market = StubMarket({"BTC/USD": "100"})
    first = _loop(store, tmp_path, market)
    _open(first, "BTC/USD", "400")
    first.run_cycle()
    # Stopped; BTC withdrawn to a wallet meanwhile (half of it), and the price moved.
    btc = store.paper_balances(BrokerName.KRAKEN, "master")["BTC"]
    set_paper_balances(store, BrokerName.KRAKEN, "master", {"BTC": btc / 2}, "withdrawal")
    market.prices["BTC/USD"] = D(101)
    restarted = _loop(store, tmp_path, market)
    with capture_logs() as logs:
        assert restarted.run_cycle().status is HealthStatus.HEALTHY
    assert [D(e["value"]) for e in logs if e["event"] == "transfer_seen"] == [-(btc / 2) * 101]
    assert _sold(store) == 0


def test_a_deposit_does_not_hide_the_days_loss(store: Store, tmp_path: Path) -> None:
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": D(200), "ETH": D(80)})
    market = StubMarket({"BTC/USD": "100", "ETH/USD": "10"})
    loop = _loop(store, tmp_path, market, risk_limits=RiskLimits(max_drawdown_pct=D(50), max_daily_loss_pct=D(5)))
    _open(loop, "BTC/USD", "50")
    assert loop.run_cycle().status is HealthStatus.HEALTHY  # the day starts at about 1000
    market.prices["ETH/USD"] = D("9.6")  # −32: −3.2 % today
    assert loop.run_cycle().status is HealthStatus.HEALTHY
    set_paper_balances(store, BrokerName.KRAKEN, "master", {"USD": _cash(store) + 1000}, "deposit")
    assert loop.run_cycle().status is HealthStatus.HEALTHY  # the deposit is no gain
    # Another −40: −2.0 % of the account after the deposit, −5.2 % today in all. Measured from
    # the day's start as it was, the deposit would have turned the day into a 93 % gain.
    market.prices["ETH/USD"] = D("9.1")
    health = loop.run_cycle()
    assert health.status is HealthStatus.HALTED and "daily loss" in (health.note or "")


def test_the_users_own_trade_is_not_a_transfer_and_its_coins_still_count(store: Store, tmp_path: Path) -> None:
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": D(500), "ETH": D(50)})
    market = StubMarket({"BTC/USD": "100", "ETH/USD": "10"})
    loop = _loop(store, tmp_path, market)
    assert loop.run_cycle().status is HealthStatus.HEALTHY
    # The user sells 30 of their ETH at the market by hand, paying 0.78 in fees.
    with capture_logs() as logs:
        set_paper_balances(store, BrokerName.KRAKEN, "master", {"USD": D("799.22"), "ETH": D(20)}, "manual")
        assert loop.run_cycle().status is HealthStatus.HEALTHY
    # Only its fee moved equity other than prices and NIJA's fills: not NIJA's loss either.
    assert [D(e["value"]) for e in logs if e["event"] == "transfer_seen"] == [D("-0.78")]
    # Their cash is equity like any other: a market loss on what they still hold counts.
    market.prices["ETH/USD"] = D(4)  # −120 of ~999: 12 %
    assert loop.run_cycle().status is HealthStatus.HALTED


def test_holdings_are_saved_with_the_marks_and_fills_read_after_a_watermark(store: Store) -> None:
    assert store.valued_holdings(BrokerName.KRAKEN, "master") is None
    holdings = ValuedHoldings((("USD", D("10.50"), D(1)), ("BTC", D("0.1"), D("101.5"))), 7)
    marks = EquityMarks(D(20), date(2026, 1, 1), D(20))
    store.save_risk_marks(BrokerName.KRAKEN, "master", marks, None, holdings)
    assert store.valued_holdings(BrokerName.KRAKEN, "master") == holdings
    store.save_risk_marks(BrokerName.KRAKEN, "master", marks, None)  # marks alone: the holdings stay
    assert store.valued_holdings(BrokerName.KRAKEN, "master") == holdings
    assert store.fills_after(BrokerName.KRAKEN, "master", 0) == ([], 0)
