"""BrokerLoop and Supervisor in-process: entries within caps, exits from holdings, holdings NIJA
did not open left alone, EMERGENCY_STOP, isolation of failures, auth stop, prompt shutdown."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from nija.brokers.base import AuthError, MarketDataError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker, SyntheticMarket
from nija.models import BrokerName, HealthStatus, MarketRules, OrderStatus, Side, Ticker
from nija.strategy.base import EntryDecision
from nija.strategy.registry import default_strategy
from nija.strategy.risk import size_master_entry
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.guard import EMERGENCY_STOP_FILE
from nija.trading.supervisor import Supervisor
from tests.fakes import StubMarket, set_paper_balances

LOG = structlog.get_logger("test")


def _config(tmp_path: Path, cycle: float = 0.01, max_positions: int = 3) -> LoopConfig:
    return LoopConfig(
        cycle_seconds=cycle, minimum_funded_balance=Decimal("10"), max_concurrent_positions=max_positions,
        data_dir=tmp_path,
    )


def _loop(store: Store, tmp_path: Path, name: BrokerName = BrokerName.KRAKEN, market=None, cash: str = "1000",
          broker_class: type[PaperBroker] = PaperBroker, **kw) -> BrokerLoop:  # fmt: skip
    market = market or SyntheticMarket(seed=11)
    broker = broker_class(name, "master", store, market, fee_schedule(name), starting_cash=Decimal(cash))
    return BrokerLoop(broker, store, _config(tmp_path, **kw), LOG.bind(broker=str(name)), threading.Event())


def _orders(store: Store, loop: BrokerLoop, side: Side) -> list:
    statuses = list(OrderStatus)
    return [o for o in store.orders_in_status(loop.broker.name, "master", statuses) if o.request.side is side]


def _run_until(loop: BrokerLoop, condition, max_cycles: int = 800) -> int:
    for n in range(1, max_cycles + 1):
        health = loop.run_cycle()
        assert health.status is HealthStatus.HEALTHY, health.last_error
        if condition():
            return n
    raise AssertionError("condition never met")


def _cycles(loop: BrokerLoop, count: int) -> None:
    for _ in range(count):
        assert loop.run_cycle().status is HealthStatus.HEALTHY


def test_entries_and_exits_keep_every_invariant(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, max_positions=3)
    sells_seen = 0
    peak_equity = Decimal(0)  # of the recorded snapshots: a cycle records at most one, so this sees them all

    def check() -> bool:
        nonlocal sells_seen, peak_equity
        recorded = store.latest_equity(BrokerName.KRAKEN, "master")
        if recorded is not None:
            peak_equity = max(peak_equity, recorded.total_equity)
        positions = store.positions(BrokerName.KRAKEN, "master")
        assert len(positions) <= 3
        assert len({p.symbol for p in positions}) == len(positions)
        snap = loop.broker.balance_snapshot()
        assert snap.total_equity == snap.available + snap.locked_in_positions
        holdings = loop.broker.holdings()
        for p in positions:  # NIJA's books never claim more than the venue holds
            assert p.qty <= holdings[p.symbol.split("/")[0]]
        sells_seen = len(_orders(store, loop, Side.SELL))
        return sells_seen >= 2

    _run_until(loop, check)
    assert peak_equity > 0
    for buy in _orders(store, loop, Side.BUY):
        assert buy.status in (OrderStatus.FILLED, OrderStatus.REJECTED)
        # 2-10 % of equity (never more than 10 % plus rounding), sized in quote units
        assert buy.request.quantity <= Decimal("0.10") * peak_equity + Decimal("0.01")
        assert buy.request.stop_price is not None and buy.request.stop_price > 0
    for sell in _orders(store, loop, Side.SELL):
        assert sell.request.unit == "base"


def test_holdings_nija_did_not_open_are_never_sold(store: Store, tmp_path: Path) -> None:
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": Decimal("1000"), "ETH": Decimal("2")})
    loop = _loop(store, tmp_path)
    _run_until(loop, lambda: len(_orders(store, loop, Side.SELL)) >= 1)
    eth_bought = sum(o.filled_qty for o in _orders(store, loop, Side.BUY) if o.request.symbol == "ETH/USD")
    eth_sold = sum(o.filled_qty for o in _orders(store, loop, Side.SELL) if o.request.symbol == "ETH/USD")
    assert eth_sold <= eth_bought  # only what NIJA bought is ever sold
    assert loop.broker.holdings()["ETH"] >= Decimal("2")


def test_emergency_stop_blocks_entries_but_not_exits(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, max_positions=8)
    _run_until(loop, lambda: len(store.positions(BrokerName.KRAKEN, "master")) >= 2)
    (tmp_path / EMERGENCY_STOP_FILE).touch()
    buys_before = len(_orders(store, loop, Side.BUY))
    _run_until(loop, lambda: not store.positions(BrokerName.KRAKEN, "master"), max_cycles=2000)
    assert len(_orders(store, loop, Side.BUY)) == buys_before  # no entry while the file exists
    assert len(_orders(store, loop, Side.SELL)) >= 2  # every position still left
    (tmp_path / EMERGENCY_STOP_FILE).unlink()
    _run_until(loop, lambda: len(_orders(store, loop, Side.BUY)) > buys_before)


def test_exit_is_sized_from_what_is_actually_held(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path)
    _run_until(loop, lambda: bool(store.positions(BrokerName.KRAKEN, "master")))
    position = store.positions(BrokerName.KRAKEN, "master")[0]
    base = position.symbol.split("/")[0]
    # Someone sold 40 % by hand on the venue: NIJA must never try to sell what is gone.
    balances = store.paper_balances(BrokerName.KRAKEN, "master")
    left = (balances[base] * Decimal("0.6")).quantize(Decimal("1e-8"))
    # The paper ledger is the venue's books: edit it as the venue would.
    set_paper_balances(store, BrokerName.KRAKEN, "master", {base: left}, "manual")
    _run_until(loop, lambda: position.symbol not in {p.symbol for p in store.positions(BrokerName.KRAKEN, "master")}, max_cycles=3000)
    sells = [o for o in _orders(store, loop, Side.SELL) if o.request.symbol == position.symbol]
    assert sells and all(o.status is OrderStatus.FILLED for o in sells)
    assert sum(o.filled_qty for o in sells) <= left


class _BrokenMarket(StubMarket):
    def advance(self) -> None:
        raise MarketDataError("BTC/USD: close is NaN")


def test_a_failing_cycle_is_recorded_not_raised(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, market=_BrokenMarket({"BTC/USD": "100"}))
    states = [loop.run_cycle().status for _ in range(6)]
    assert states == ["degraded"] * 4 + ["failed"] * 2
    [health] = store.health()
    assert health.consecutive_errors == 6 and "MarketDataError" in health.last_error


class _AuthFailing(PaperBroker):
    def balance_snapshot(self):
        raise AuthError("invalid key")


def test_auth_error_stops_only_that_account(store: Store, tmp_path: Path) -> None:
    bad = BrokerLoop(
        _AuthFailing(BrokerName.OKX, "master", store, StubMarket({"BTC/USD": "100"}), fee_schedule(BrokerName.OKX),
                     starting_cash=Decimal("100")),
        store, _config(tmp_path), LOG, threading.Event(),
    )
    thread = threading.Thread(target=bad.run)
    thread.start()
    thread.join(2)
    assert not thread.is_alive()  # the account stopped trading by itself
    health = {h.broker: h for h in store.health()}[BrokerName.OKX]
    assert health.status is HealthStatus.FAILED and health.auth_failed


def test_stop_flag_ends_a_long_wait_at_once(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, market=StubMarket({"BTC/USD": "100"}), cycle=150.0)
    thread = threading.Thread(target=loop.run)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    loop.stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0
    assert store.health()[0].status is HealthStatus.STOPPED


def test_supervisor_starts_funded_brokers_only_and_rechecks(store: Store, tmp_path: Path) -> None:
    funded = _loop(store, tmp_path, BrokerName.KRAKEN, market=StubMarket({"BTC/USD": "100"}), cycle=0.05)
    poor = _loop(store, tmp_path, BrokerName.COINBASE, market=StubMarket({"BTC/USD": "100"}), cash="5", cycle=0.05)
    sup = Supervisor([funded, poor], store, LOG, funding_recheck_seconds=0.0, summary_seconds=0.0)
    sup.start()
    assert set(sup.threads) == {"broker-kraken"}
    assert {h.broker: h.status for h in store.health()}[BrokerName.COINBASE] is HealthStatus.UNFUNDED
    # A deposit lands on the venue.
    set_paper_balances(store, BrokerName.COINBASE, "master", {"USD": Decimal("50")}, "deposit")
    sup.tick()
    assert set(sup.threads) == {"broker-kraken", "broker-coinbase"}
    summary = sup.summary()
    assert summary["brokers_total"] == 2 and summary["brokers_funded"] == 2
    assert sup.stop(5.0) == []


def test_sequential_mode_runs_every_broker_in_one_thread(store: Store, tmp_path: Path) -> None:
    a = _loop(store, tmp_path, BrokerName.KRAKEN, market=StubMarket({"BTC/USD": "100"}), cycle=0.02)
    b = _loop(store, tmp_path, BrokerName.OKX, market=_BrokenMarket({"BTC/USD": "100"}), cycle=0.02)
    sup = Supervisor([a, b], store, LOG, independent=False)
    sup.start()
    assert set(sup.threads) == {"broker-all"}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and a.health.current.cycles_ok < 5:
        time.sleep(0.02)
    assert a.health.current.cycles_ok >= 5  # the failing broker never blocked the healthy one
    assert b.health.current.status in (HealthStatus.DEGRADED, HealthStatus.FAILED)
    assert sup.stop(5.0) == []


class _LeakyBroker(PaperBroker):
    def balance_snapshot(self):
        raise RuntimeError("venue said: bad signature for key canary-leak-key-123456")


def test_secret_in_an_error_never_reaches_store_status_or_log(store: Store, tmp_path: Path) -> None:
    import io
    import json

    from nija.logs import configure_logging
    from nija.status import collect

    out = io.StringIO()
    configure_logging("json", "info", ["canary-leak-key-123456"], stream=out)
    try:
        loop = BrokerLoop(
            _LeakyBroker(BrokerName.KRAKEN, "master", store, StubMarket({"BTC/USD": "100"}), fee_schedule(BrokerName.KRAKEN),
                         starting_cash=Decimal("100")),
            store, _config(tmp_path), structlog.get_logger("t").bind(broker="kraken", account="master"), threading.Event(),
        )
        health = loop.run_cycle()
    finally:
        configure_logging("console", "info", [])
    assert health.last_error == "RuntimeError: venue said: bad signature for key ***"
    assert "canary-leak" not in json.dumps(collect(store))
    assert "canary-leak" not in out.getvalue() and "cycle_failed" in out.getvalue()
    for path in (tmp_path / "data").iterdir():  # the database and its write-ahead log
        assert b"canary-leak" not in path.read_bytes()
    assert b"bad signature for key ***" in b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir())


class _ClosedMarket(PaperBroker):
    def is_market_open(self) -> bool:
        return False


def test_no_entries_while_the_venue_session_is_closed(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, BrokerName.ALPACA, broker_class=_ClosedMarket)
    _cycles(loop, 300)
    assert _orders(store, loop, Side.BUY) == []


class _WholeUnits(PaperBroker):
    """A market sold in whole units only (Alpaca's stocks that are not fractionable)."""

    def market_rules(self, symbol: str) -> MarketRules:
        return super().market_rules(symbol).model_copy(update={"min_amount": Decimal(1), "amount_step": Decimal(1)})


def test_an_entry_too_small_for_one_unit_is_skipped_never_sent(store: Store, tmp_path: Path) -> None:
    # $1,000 of equity sizes entries far below one BTC or ETH: refused at the venue, such an entry
    # would be sent and rejected again every cycle; sized against the unit's price, it is skipped
    # before any intent. Cheap units (DOGE) are still bought, whole.
    loop = _loop(store, tmp_path, broker_class=_WholeUnits)
    _cycles(loop, 400)
    buys = _orders(store, loop, Side.BUY)
    assert buys and all(o.status is OrderStatus.FILLED and o.filled_qty % 1 == 0 for o in buys), buys


class _EntersEverySymbol:
    """The default strategy, but every symbol signals a strong entry at its last close."""

    def __init__(self, strategy: Any) -> None:
        self._strategy = strategy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._strategy, name)

    def with_fee_floor(self, floor: float) -> _EntersEverySymbol:
        return _EntersEverySymbol(self._strategy.with_fee_floor(floor))

    def evaluate_entries(self, universe: list[Any]) -> list[EntryDecision]:
        return [EntryDecision(True, "test", 90, 5, 30.0, 1.0, float(c.close[-1]), float(c.close[-1]) * 0.98, float(c.close[-1]) * 0.02)
                for c in universe]


def _whole_share_loop(store: Store, tmp_path: Path, close: Decimal, ask: Decimal) -> BrokerLoop:
    class WholeShares(PaperBroker):
        def market_rules(self, symbol: str) -> MarketRules:
            return super().market_rules(symbol).model_copy(update={"min_amount": Decimal(1), "amount_step": Decimal(1)})

        def ticker(self, symbol: str) -> Ticker:
            return super().ticker(symbol).model_copy(update={"ask": ask})

    broker = WholeShares(BrokerName.KRAKEN, "master", store, StubMarket({"SPY/USD": str(close)}),
                         fee_schedule(BrokerName.KRAKEN), starting_cash=Decimal(1000), slippage_bps=Decimal(0))
    config = replace(_config(tmp_path), strategy=_EntersEverySymbol(default_strategy()))
    return BrokerLoop(broker, store, config, LOG.bind(broker="kraken"), threading.Event())


def test_a_whole_share_entry_is_sized_against_the_ask_it_pays(store: Store, tmp_path: Path) -> None:
    # The amount an entry gets (ADX 30, 5 conditions, $1,000): one share at the close fits in it,
    # one share at the ask does not. Sized at the close, the buy reached the venue and bought
    # nothing there (refused, and again every cycle); sized at the ask, it is skipped unsent.
    amount = size_master_entry(Decimal(1000), Decimal(1000), 30.0, 5, Decimal(0), fee_schedule(BrokerName.KRAKEN).taker).quote_amount
    close = (amount * Decimal("0.99")).quantize(Decimal("0.01"))
    loop = _whole_share_loop(store, tmp_path, close, ask=close * Decimal("1.02"))
    _cycles(loop, 3)
    assert _orders(store, loop, Side.BUY) == []
    # An ask the amount still pays one share at: bought, whole.
    other = tmp_path / "other"
    other.mkdir()
    fits = Store(other / "nija.db")
    try:
        loop = _whole_share_loop(fits, other, close, ask=close * Decimal("1.005"))
        _cycles(loop, 1)
        [buy] = _orders(fits, loop, Side.BUY)
        assert buy.status is OrderStatus.FILLED and buy.filled_qty == 1
    finally:
        fits.close()
