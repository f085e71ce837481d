"""The adapter contract, run for every ccxt venue the simulator speaks, through the real ccxt client.

balance = equity, buy by quote, sell by base, minimums, precision, client id round trip, each
error class, ambiguous creates resolving without duplicates, reconciliation on start.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.base import AuthError, InsufficientFunds, OrderRejected, TransientError
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.models import BrokerName, OrderRequest, OrderStatus, QuantityUnit, Side, client_order_id_for
from nija.store import Store
from nija.execution.executor import OrderExecutor
from tests.sim.simulator import Simulator

LOG = structlog.get_logger("contract")


@dataclass(frozen=True)
class Case:
    broker: BrokerName
    venue: str  # simulator prefix
    symbol: str
    cash: str
    create_path: str  # regex of the order-creating endpoint
    balance_path: str  # regex of the balance endpoint
    ticker_path: str  # substring of the (batched) ticker endpoint
    ohlcv_path: str  # substring of the candles endpoint
    venue_secret: bool = False  # the simulator makes the secret in the venue's format (Coinbase: a PEM EC key)
    preload_markets: bool = False  # load_markets also calls ticker_path (Coinbase products): load before counting
    has_nonce: bool = True  # Coinbase signs with a short-lived JWT instead: no nonce to jump


CASES = [
    Case(BrokerName.KRAKEN, "kraken", "BTC/USD", "USD", r"AddOrder", r"BalanceEx", "/Ticker", "/OHLC"),
    Case(BrokerName.BINANCE, "binance", "BTC/USDT", "USDT", r"/api/v3/order$", r"/api/v3/account", "/ticker", "/klines"),
    Case(
        BrokerName.OKX, "okx", "BTC/USDT", "USDT", r"/api/v5/trade/batch-orders$", r"/api/v5/account/balance",
        "/api/v5/market/tickers", "/api/v5/market/candles",
    ),
    Case(
        BrokerName.COINBASE, "coinbase", "BTC/USD", "USD", r"/api/v3/brokerage/orders$", r"/api/v3/brokerage/accounts$",
        "/api/v3/brokerage/market/products", "/candles", venue_secret=True, preload_markets=True, has_nonce=False,
    ),
]


def _available(case: Case, sim: Simulator) -> bool:
    return case.venue in sim.venue_names()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(params=CASES, ids=lambda c: c.venue)
def case(request: pytest.FixtureRequest, sim: Simulator) -> Case:
    case: Case = request.param
    if not _available(case, sim):
        pytest.skip(f"the simulator does not speak {case.venue} yet")
    sim.clear_faults(case.venue)
    return case


_counter = iter(range(10**6))


def _broker(sim: Simulator, case: Case, tmp_path: Path, balances: dict[str, str]) -> CcxtBroker:
    key = f"contract-key-{next(_counter)}"
    secret = None if case.venue_secret else base64.b64encode(f"contract-secret-{key}".encode()).decode()
    account = sim.add_account(
        case.venue, key, secret, {k: Decimal(v) for k, v in balances.items()}, passphrase="contract-pass"
    )
    sim.set_price(case.venue, case.symbol, Decimal("60000"))
    credentials = {"api_key": key, "api_secret": account.secret, "passphrase": "contract-pass"}
    broker = CcxtBroker(
        case.broker, "master", credentials, SharedMarkets(), api_url=sim.url(case.venue), data_dir=tmp_path,
        timeout_ms=1500, enable_rate_limit=False,  # the limiter's pacing is tested on its own
    )
    if case.preload_markets:
        broker.begin_cycle()
    return broker


def _request(case: Case, side: Side, qty: str, unit: QuantityUnit, tag: str) -> OrderRequest:
    return OrderRequest(
        broker=case.broker, account="master", symbol=case.symbol, side=side, quantity=Decimal(qty), unit=unit,
        client_order_id=client_order_id_for(case.venue, tag, next(_counter)),
    )


def test_balance_is_equity_with_one_batched_ticker_call(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "10000", "BTC": "0.5", "ETH": "0"})
    sim.clear_requests()
    snapshot = broker.balance_snapshot()
    assert snapshot.available == Decimal("10000")
    assert snapshot.locked_in_positions == Decimal("30000")
    assert snapshot.total_equity == Decimal("40000")
    assert len(sim.requests(case.venue, path_contains=case.ticker_path)) == 1
    assert broker.holdings() == {"BTC": Decimal("0.5")}


def test_closed_candles_only_fetched_once_per_candle(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "100"})
    sim.clear_requests()
    first = broker.ohlcv(case.symbol, 120)
    again = broker.ohlcv(case.symbol, 100)
    assert len(first) == 120 and len(again) == 100
    assert (again.close == first.close[-100:]).all()
    assert first.ts[-1] + 300_000 <= time.time() * 1000  # the still-forming candle is dropped
    assert len(sim.requests(case.venue, path_contains=case.ohlcv_path)) == 1


def test_buy_by_quote_then_sell_by_base_round_trip_the_client_id(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    buy = _request(case, Side.BUY, "120", QuantityUnit.QUOTE, "buy")
    report = broker.place(buy)
    assert report.status is OrderStatus.FILLED
    assert report.filled_qty == Decimal("0.002")
    assert report.avg_price == Decimal("60000")
    assert sim.count_orders(case.venue, buy.client_order_id) == 1
    assert broker.fetch_order(buy.client_order_id, case.symbol).filled_qty == Decimal("0.002")
    sell = _request(case, Side.SELL, "0.0015", QuantityUnit.BASE, "sell")
    sold = broker.place(sell)
    assert sold.status is OrderStatus.FILLED and sold.filled_qty == Decimal("0.0015")
    # Some venues (Binance) withhold the buy fee in the asset bought.
    assert broker.holdings()["BTC"] == Decimal("0.0005") - report.fee_in_base
    assert report.fee > 0 and sold.fee > 0


def test_amount_is_rounded_down_to_the_market_step_and_minimums_checked_before_sending(
    sim: Simulator, case: Case, tmp_path: Path
) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "100", "BTC": "1"})
    rules = broker.market_rules(case.symbol)
    assert rules.amount_step > 0 and rules.min_amount > 0
    sell = _request(case, Side.SELL, "0.123456789123", QuantityUnit.BASE, "precise")
    report = broker.place(sell)
    assert report.filled_qty == Decimal("0.123456789123").quantize(rules.amount_step, rounding="ROUND_DOWN")
    tiny = _request(case, Side.SELL, str(rules.min_amount / 2), QuantityUnit.BASE, "tiny")
    with pytest.raises(OrderRejected, match="below minimum"):
        broker.place(tiny)
    assert sim.count_orders(case.venue, tiny.client_order_id) == 0


def test_error_classes(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    sim.inject(case.venue, case.create_path, "insufficient_funds")
    with pytest.raises(InsufficientFunds):
        broker.place(_request(case, Side.BUY, "50", QuantityUnit.QUOTE, "poor"))
    sim.inject(case.venue, case.balance_path, "http_5xx", times=None)
    with pytest.raises(TransientError):
        broker.balance_snapshot()  # retried with backoff, then reported
    assert len([r for r in sim.requests(case.venue) if re.search(case.balance_path, r.path)]) >= 3
    sim.clear_faults(case.venue)
    sim.inject(case.venue, case.balance_path, "auth_error")
    with pytest.raises(AuthError):
        broker.balance_snapshot()
    if case.has_nonce:
        sim.inject(case.venue, case.balance_path, "invalid_nonce")
        assert broker.balance_snapshot().available == Decimal("1000")  # jumped and retried once
    # A 200 whose body is not JSON is an error, never an empty balance (equity 0).
    sim.inject(case.venue, case.balance_path, "html_200", times=None)
    with pytest.raises(TransientError, match="not JSON"):
        broker.balance_snapshot()
    sim.clear_faults(case.venue)


def test_a_non_json_answer_never_reads_as_order_not_found(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    buy = _request(case, Side.BUY, "60", QuantityUnit.QUOTE, "lookup-html")
    broker.place(buy)
    sim.inject(case.venue, r".", "html_200", times=None)
    with pytest.raises(TransientError):
        broker.fetch_order(buy.client_order_id, case.symbol)
    sim.clear_faults(case.venue)
    assert broker.fetch_order(buy.client_order_id, case.symbol) is not None


@pytest.mark.parametrize("fault", ["drop", "timeout", "http_5xx", "html_200"])
def test_ambiguous_create_resolves_without_a_duplicate(
    sim: Simulator, case: Case, tmp_path: Path, fault: str
) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    store = Store(tmp_path / "nija.db")
    executor = OrderExecutor(broker, store, LOG)
    buy = _request(case, Side.BUY, "60", QuantityUnit.QUOTE, f"ambiguous-{fault}")
    sim.inject(case.venue, case.create_path, fault, apply_after=True, delay_ms=3000 if fault == "timeout" else None)
    report = executor.submit(buy).order
    assert report is not None and report.filled_qty == Decimal("0.001")
    assert sim.count_orders(case.venue, buy.client_order_id) == 1  # looked up, never re-sent
    assert store.get_order(buy.client_order_id).status is OrderStatus.FILLED
    assert len(store.positions(case.broker, "master")) == 1
    store.close()


def test_reconciliation_on_start_finds_the_order_sent_before_a_crash(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    store = Store(tmp_path / "nija.db")
    buy = _request(case, Side.BUY, "60", QuantityUnit.QUOTE, "crash")
    store.insert_order(buy)
    broker.place(buy)  # sent and filled, then the process died before recording it
    never_sent = _request(case, Side.BUY, "60", QuantityUnit.QUOTE, "never-sent")
    store.insert_order(never_sent)
    assert OrderExecutor(broker, store, LOG).reconcile() == 2
    assert store.get_order(buy.client_order_id).status is OrderStatus.FILLED
    assert store.get_order(never_sent.client_order_id).status is OrderStatus.CANCELED
    assert sim.count_orders(case.venue, buy.client_order_id) == 1
    assert sim.count_orders(case.venue, never_sent.client_order_id) == 0
    store.close()


def test_partial_fill_is_recorded_then_completed_by_reconciliation(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    store = Store(tmp_path / "nija.db")
    executor = OrderExecutor(broker, store, LOG)
    buy = _request(case, Side.BUY, "120", QuantityUnit.QUOTE, "partial")
    sim.inject(case.venue, case.create_path, "partial_fill", fraction="0.25")
    report = executor.submit(buy).order
    assert report is not None and report.status is OrderStatus.PARTIAL
    assert store.positions(case.broker, "master")[0].qty == report.filled_qty - report.fee_in_base
    [order] = sim.orders(case.venue, client_order_id=buy.client_order_id)
    sim.fill_order(case.venue, order.order_id)  # the venue fills the rest later
    executor.reconcile()
    stored = store.get_order(buy.client_order_id)
    assert stored.status is OrderStatus.FILLED and stored.filled_qty == Decimal("0.002")
    [position] = store.positions(case.broker, "master")
    assert position.qty == broker.holdings()["BTC"]  # NIJA's books match the venue, fees included
    assert len(store.fills(case.broker, "master")) >= 2 and sim.count_orders(case.venue, buy.client_order_id) == 1
    store.close()
