"""Risk guardrails in the broker loop, on paper brokers with hand-set prices: the kill switch on
constructed equity paths (drawdown, daily loss), flattening exactly the held quantities, other
brokers unaffected, resume only by an operator; ENTRY_BLOCKING and the Coinbase minimum with
exits still working; the rate profile's pacing under a fake clock; the cheaper-broker report."""

from __future__ import annotations

import io
import itertools
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija import trade
from nija.brokers.base import MarketDataError
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker, SyntheticMarket
from nija.models import (
    BrokerName,
    HealthStatus,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from nija.store import Store
from nija.strategy.risk import RiskLimits
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.halt import halt_path
from nija.trading.routing import EligibleBrokers
from tests.fakes import StubMarket

LOG = structlog.get_logger("test")


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _loop(
    store: Store, tmp_path: Path, name: BrokerName = BrokerName.KRAKEN, *, prices: dict[str, str] | None = None,
    market=None, cash: str = "1000", clock=None, eligible: EligibleBrokers | None = None, **config,
) -> BrokerLoop:
    market = market or StubMarket(prices or {"BTC/USD": "100", "ETH/USD": "10"})
    broker = PaperBroker(name, "master", store, market, fee_schedule(name), starting_cash=Decimal(cash))
    settings = {"cycle_seconds": 0.01, "minimum_funded_balance": Decimal("10"), "max_concurrent_positions": 8,
                "data_dir": tmp_path, **config}
    # Tests that do not study pacing get a clock that jumps a minute per reading: never paced.
    minutes = itertools.count(step=60.0)
    return BrokerLoop(
        broker, store, LoopConfig(**settings), LOG.bind(broker=str(name)), threading.Event(),
        clock=clock or (lambda: next(minutes)), eligible=eligible,
    )


def _open(loop: BrokerLoop, symbol: str, quote: str) -> None:
    """A NIJA entry through the loop's own order path (stop far below: only the test's rules sell)."""
    price = loop.broker.ticker(symbol).last
    request = OrderRequest(
        broker=loop.broker.name, account="master", symbol=symbol, side=Side.BUY, quantity=Decimal(quote),
        unit=QuantityUnit.QUOTE, stop_price=price / 2, reason="test entry",
        client_order_id=client_order_id_for("test", loop.broker.name, symbol, quote),
    )
    report = loop._orders.submit(request).order
    assert report is not None and report.status is OrderStatus.FILLED


def _sells(store: Store, broker: BrokerName) -> list:
    return [
        o for o in store.orders_in_status(broker, "master", list(OrderStatus))
        if o.request.side is Side.SELL and o.status is OrderStatus.FILLED
    ]


def _buys(store: Store, broker: BrokerName) -> list:
    return [o for o in store.orders_in_status(broker, "master", list(OrderStatus)) if o.request.side is Side.BUY]


def test_drawdown_halts_flattens_held_quantities_and_leaves_other_brokers_trading(store: Store, tmp_path: Path) -> None:
    # ETH was in the account before NIJA: never sold, not even by the kill switch.
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": Decimal("1000"), "ETH": Decimal("3")})
    kraken = _loop(store, tmp_path, BrokerName.KRAKEN)
    okx = _loop(store, tmp_path, BrokerName.OKX)
    _open(kraken, "BTC/USD", "600")
    _open(okx, "BTC/USD", "600")
    assert kraken.run_cycle().status is HealthStatus.HEALTHY  # high-water mark ~1030 (cash + BTC + ETH)
    okx.run_cycle()
    held_btc = kraken.broker.holdings()["BTC"]
    position_qty = store.positions(BrokerName.KRAKEN, "master")[0].qty

    kraken.broker.market.prices["BTC/USD"] = Decimal("80")  # equity falls ~12 % in one step
    health = kraken.run_cycle()

    assert health.status is HealthStatus.HALTED
    assert "drawdown" in health.note and "MAX_DRAWDOWN_PCT=10" in health.note
    sells = _sells(store, BrokerName.KRAKEN)
    assert [s.request.symbol for s in sells] == ["BTC/USD"]
    assert sells[0].request.quantity == position_qty == held_btc  # exactly what NIJA held, as base units
    assert sells[0].request.reason.startswith("kill_switch")
    assert store.positions(BrokerName.KRAKEN, "master") == []
    assert kraken.broker.holdings().get("ETH") == Decimal("3")
    assert "drawdown" in halt_path(tmp_path, BrokerName.KRAKEN).read_text()

    # OKX keeps its position and its trading state: the switch is per broker.
    assert okx.run_cycle().status is HealthStatus.HEALTHY
    assert len(store.positions(BrokerName.OKX, "master")) == 1
    assert not halt_path(tmp_path, BrokerName.OKX).exists()


def test_halt_holds_until_an_operator_resumes(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kraken = _loop(store, tmp_path, market=SyntheticMarket(seed=11), max_concurrent_positions=8)
    symbol = kraken.broker.symbols()[0]
    _open(kraken, symbol, "500")
    kraken.run_cycle()
    # A constructed equity path: the position's price falls 15 % at once, about 7.5 % of equity
    # (past the day's 5 %, within the 10 % drawdown).
    market = kraken.broker.market
    last_price = market.last_price
    monkeypatch.setattr(market, "last_price", lambda s: last_price(s) * Decimal("0.85") if s == symbol else last_price(s))
    assert kraken.run_cycle().status is HealthStatus.HALTED
    buys = len(_buys(store, BrokerName.KRAKEN))
    for _ in range(200):  # the synthetic market keeps offering entries: none is taken, recovery or not
        assert kraken.run_cycle().status is HealthStatus.HALTED
    assert len(_buys(store, BrokerName.KRAKEN)) == buys
    assert store.positions(BrokerName.KRAKEN, "master") == []

    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path))
    out = io.StringIO()
    assert trade.main(["resume", "--broker", "kraken"], out=out) == 0
    assert "resumed (was halted: daily loss" in out.getvalue()
    health = kraken.run_cycle()
    assert health.status is HealthStatus.HEALTHY and health.note is None
    marks, _ = store.risk_state(BrokerName.KRAKEN, "master")
    assert marks is not None and marks.high_water_mark == kraken.broker.balance_snapshot().total_equity


def test_operator_halt_file_makes_the_broker_reduce_only(store: Store, tmp_path: Path, monkeypatch) -> None:
    kraken = _loop(store, tmp_path)
    _open(kraken, "BTC/USD", "300")
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path))
    assert trade.main(["halt", "--broker", "kraken", "--reason", "maintenance"], out=io.StringIO()) == 0
    health = kraken.run_cycle()
    assert health.status is HealthStatus.HALTED and health.note == "halted: maintenance"
    assert store.positions(BrokerName.KRAKEN, "master") == []
    # A manual buy is refused while halted; sells would still go.
    err = io.StringIO()
    assert trade.main(["buy", "BTC/USD", "10", "--broker", "kraken"], out=io.StringIO(), err=err) == 1
    assert "kraken is halted (maintenance): buys are refused" in err.getvalue()
    (tmp_path / "HALT_kraken").unlink()
    for flag, setup in (("ENTRY_BLOCKING=true", lambda: monkeypatch.setenv("ENTRY_BLOCKING", "true")),
                        ("EMERGENCY_STOP file present", lambda: (tmp_path / "EMERGENCY_STOP").touch())):
        monkeypatch.delenv("ENTRY_BLOCKING", raising=False)
        setup()
        err = io.StringIO()
        assert trade.main(["buy", "BTC/USD", "10", "--broker", "kraken"], out=io.StringIO(), err=err) == 1
        assert flag in err.getvalue()


def test_daily_loss_uses_the_day_start_and_a_new_day_starts_afresh(store: Store, tmp_path: Path) -> None:
    # The equity path rides on a holding NIJA did not open (its own exits never sell it): cash 100
    # + 90 ETH at 10 = 1000, plus a small NIJA position that the switch must flatten.
    store.seed_paper_account(BrokerName.KRAKEN, "master", {"USD": Decimal("150"), "ETH": Decimal("90")})
    limits = RiskLimits(max_drawdown_pct=Decimal(50), max_daily_loss_pct=Decimal(5))
    kraken = _loop(store, tmp_path, risk_limits=limits)
    market = kraken.broker.market
    _open(kraken, "BTC/USD", "50")
    assert kraken.run_cycle().status is HealthStatus.HEALTHY  # day start ≈ 1049.7
    market.prices["ETH/USD"] = Decimal("9.6")  # −36: −3.4 % today, inside the limit
    assert kraken.run_cycle().status is HealthStatus.HEALTHY
    market.clock += 24 * 3600 * 1000  # the market's next UTC day starts from this equity
    assert kraken.run_cycle().status is HealthStatus.HEALTHY
    market.prices["ETH/USD"] = Decimal("9.2")  # −3.6 % today, −6.9 % since the first day's start
    assert kraken.run_cycle().status is HealthStatus.HEALTHY
    market.prices["ETH/USD"] = Decimal("9.0")  # −5.3 % of this day's start
    health = kraken.run_cycle()
    assert health.status is HealthStatus.HALTED
    assert "daily loss" in health.note and "MAX_DAILY_LOSS_PCT=5" in health.note
    assert store.positions(BrokerName.KRAKEN, "master") == []  # the NIJA position was flattened
    assert kraken.broker.holdings()["ETH"] == Decimal("90")  # the rest was never NIJA's to sell


def test_entry_blocking_stops_entries_while_exits_continue(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, market=SyntheticMarket(seed=11), entry_blocking=True)
    _open(loop, loop.broker.symbols()[0], "300")
    buys = len(_buys(store, BrokerName.KRAKEN))
    for _ in range(3000):
        health = loop.run_cycle()
        assert health.note == "ENTRY_BLOCKING=true"
        if not store.positions(BrokerName.KRAKEN, "master"):
            break
    assert store.positions(BrokerName.KRAKEN, "master") == []  # the position still left by its exit rules
    assert _sells(store, BrokerName.KRAKEN)
    assert len(_buys(store, BrokerName.KRAKEN)) == buys


def test_coinbase_below_minimum_balance_makes_no_entries_but_exits(store: Store, tmp_path: Path) -> None:
    # The seed's $30 Coinbase account: funded (>= $10), but below COINBASE_MIN_BALANCE = $50.
    loop = _loop(store, tmp_path, BrokerName.COINBASE, market=SyntheticMarket(seed=11), cash="30")
    _open(loop, loop.broker.symbols()[0], "15")
    buys = len(_buys(store, BrokerName.COINBASE))
    for _ in range(3000):
        health = loop.run_cycle()
        assert health.status is HealthStatus.HEALTHY
        assert health.note is not None and "COINBASE_MIN_BALANCE 50" in health.note
        if not store.positions(BrokerName.COINBASE, "master"):
            break
    assert store.positions(BrokerName.COINBASE, "master") == []
    assert _sells(store, BrokerName.COINBASE)
    assert len(_buys(store, BrokerName.COINBASE)) == buys


def test_the_same_account_size_on_kraken_still_enters(store: Store, tmp_path: Path) -> None:
    loop = _loop(store, tmp_path, BrokerName.KRAKEN, market=SyntheticMarket(seed=11), cash="30")
    for _ in range(3000):
        health = loop.run_cycle()
        assert health.note is None
        if _buys(store, BrokerName.KRAKEN):
            break
    assert _buys(store, BrokerName.KRAKEN)


def test_balance_reads_follow_the_rate_profile_under_a_fake_clock(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    loop = _loop(store, tmp_path, clock=clock, cash="50")  # LOW_CAPITAL: one balance read per 30 s
    reads = 0
    original = loop.broker.balance_snapshot

    def counting():
        nonlocal reads
        reads += 1
        return original()

    loop.broker.balance_snapshot = counting
    loop.run_cycle()
    assert reads == 1 and loop._pacer.profile.name == "LOW_CAPITAL"
    clock.now += 29.0
    loop.run_cycle()
    assert reads == 1  # inside the interval: the last read is reused
    clock.now += 1.0
    loop.run_cycle()
    assert reads == 2
    _open(loop, "BTC/USD", "20")
    clock.now += 30.0
    loop.run_cycle()  # reads the new holdings
    assert reads == 3
    loop.broker.market.prices["BTC/USD"] = Decimal("98")  # −2 %: the emergency exit sells in this cycle
    clock.now += 1.0
    loop.run_cycle()
    assert reads == 3 and _sells(store, BrokerName.KRAKEN)  # sized from the read 1 s ago
    clock.now += 1.0
    loop.run_cycle()
    assert reads == 4  # an own fill made the last read stale: read again despite the interval


def test_entries_are_spaced_by_the_profile_interval_in_the_loop_thread(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    loop = _loop(store, tmp_path, market=SyntheticMarket(seed=11), clock=clock, cash="500")  # STANDARD: 2 s
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            clock.now += timeout or 0.0
            return False

    loop.stop = Stop()
    for _ in range(3000):
        loop.run_cycle()
        clock.now += 0.5  # cycles far faster than the entry interval
        if len(_buys(store, BrokerName.KRAKEN)) >= 3:
            break
    assert len(_buys(store, BrokerName.KRAKEN)) >= 3
    assert waits and all(0 < w <= 2.0 for w in waits)


def test_entry_reports_a_cheaper_eligible_broker_but_stays(store: Store, tmp_path: Path) -> None:
    eligible = EligibleBrokers()
    eligible.update(BrokerName.OKX, True, ["BTC/USDT", "ETH/USDT"])
    eligible.update(BrokerName.BINANCE, False, ["BTC/USDT"])  # not eligible: not reported
    loop = _loop(store, tmp_path, BrokerName.KRAKEN, market=SyntheticMarket(seed=11), eligible=eligible)
    for _ in range(3000):
        loop.run_cycle()
        if _buys(store, BrokerName.KRAKEN):
            break
    costs = store.entry_costs(datetime(2000, 1, 1, tzinfo=UTC))
    assert costs and costs[0].broker == "kraken"
    assert costs[0].round_trip == Decimal("0.0062")
    entered = _buys(store, BrokerName.KRAKEN)[0].request.symbol
    if entered.split("/")[0] in {"BTC", "ETH"}:
        assert costs[0].cheaper_broker == "okx" and costs[0].cheaper_round_trip == Decimal("0.0025")
    else:
        assert costs[0].cheaper_broker is None and costs[0].cheaper_round_trip is None
    assert not _buys(store, BrokerName.OKX)  # the entry never moves


def test_a_lowered_position_cap_never_sells_to_get_under_it(store: Store, tmp_path: Path) -> None:
    # Three positions open, then the operator lowers MAX_CONCURRENT_POSITIONS to 1.
    loop = _loop(store, tmp_path, prices={"BTC/USD": "100", "ETH/USD": "10", "SOL/USD": "20"}, max_concurrent_positions=1)
    for symbol in ("BTC/USD", "ETH/USD", "SOL/USD"):
        _open(loop, symbol, "100")
    for _ in range(20):
        health = loop.run_cycle()
        assert health.status is HealthStatus.HEALTHY and health.note is None
    assert len(store.positions(BrokerName.KRAKEN, "master")) == 3
    assert _sells(store, BrokerName.KRAKEN) == [] and len(_buys(store, BrokerName.KRAKEN)) == 3


def test_a_failing_or_stopped_broker_is_nobodys_cheaper_choice(store: Store, tmp_path: Path) -> None:
    class BrokenFeed(StubMarket):
        def advance(self) -> None:
            raise MarketDataError("BTC/USD: close is NaN")

    eligible = EligibleBrokers()
    okx = _loop(store, tmp_path, BrokerName.OKX, prices={"BTC/USDT": "100"}, eligible=eligible)
    okx.run_cycle()
    assert BrokerName.OKX in eligible.snapshot()
    okx.finish()  # the thread ended (stop, or refused credentials)
    assert BrokerName.OKX not in eligible.snapshot()
    broken = _loop(store, tmp_path, BrokerName.OKX, market=BrokenFeed({"BTC/USDT": "100"}), eligible=eligible)
    assert broken.run_cycle().status is HealthStatus.DEGRADED
    assert BrokerName.OKX not in eligible.snapshot()
