"""OKX through the real ccxt client against the simulator: the funding account (real-venues.md #10),
order states incl. `mmp_canceled`, fee sign and currency, error envelopes; the funding note on its
way to health, `python -m nija.status` and the doctor."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.brokers.base import AuthError, BrokerError, InsufficientFunds, OrderRejected
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.brokers.ccxt.okx import FundingBalance, FundingWatch
from nija.models import MASTER_ACCOUNT, BrokerName, HealthStatus, OrderRequest, OrderStatus, QuantityUnit, Side
from nija.status import main as status_main
from nija.store import Store
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.supervisor import Supervisor
from tests.doctor.conftest import run_doctor
from tests.sim.simulator import Simulator

PASS = "okx-pass-phrase"
FUNDING = "/api/v5/asset/balances"
_keys = itertools.count()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(venues=["okx"]) as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


def _broker(sim: Simulator, tmp_path: Path, trading: dict[str, str], funding: dict[str, str] | None = None) -> CcxtBroker:
    key = f"okx-test-{next(_keys)}"
    account = sim.add_account("okx", key, balances={a: Decimal(q) for a, q in trading.items()}, passphrase=PASS)
    for asset, amount in (funding or {}).items():
        sim.set_funding_balance("okx", key, asset, amount)
    broker = CcxtBroker(
        BrokerName.OKX, MASTER_ACCOUNT, {"api_key": key, "api_secret": account.secret, "passphrase": PASS},
        SharedMarkets(), api_url=sim.url("okx"), data_dir=tmp_path, timeout_ms=3000, enable_rate_limit=False,
    )
    broker.begin_cycle()
    return broker


def _funding_reads(sim: Simulator, broker: CcxtBroker) -> int:
    return len(sim.requests("okx", path_contains=FUNDING, api_key=broker.client.apiKey))


def _order(side: Side, quantity: str, unit: QuantityUnit, cid: str) -> OrderRequest:
    return OrderRequest(broker=BrokerName.OKX, account=MASTER_ACCOUNT, symbol="BTC/USDT", side=side,
                        quantity=Decimal(quantity), unit=unit, client_order_id=cid)


# -- the funding account (#10) ------------------------------------------------------------------


def test_funds_in_the_funding_account_are_reported_not_shown_as_equity(sim: Simulator, tmp_path: Path) -> None:
    # Before: equity 0 and nothing else, the account read as unfunded though $850 waited in funding.
    sim.set_price("okx", "BTC/USDT", Decimal(60000))
    broker = _broker(sim, tmp_path, {}, {"USDT": "250", "BTC": "0.01"})
    snapshot = broker.balance_snapshot()
    assert snapshot.total_equity == 0 and snapshot.available == 0  # never tradable, never sized on
    assert snapshot.note == (
        "850.00 USD in funding, not tradable — transfer to Trading"
        " (OKX funding account: 0.01 BTC, 250 USDT; priced in USDT)"
    )
    assert broker.holdings() == {}  # funding coins are no position either


def test_the_funding_account_is_read_only_while_the_trading_account_looks_unfunded(sim: Simulator, tmp_path: Path) -> None:
    funded = _broker(sim, tmp_path, {"USDT": "1000"}, {"USDT": "500"})
    assert funded.balance_snapshot().note is None
    assert _funding_reads(sim, funded) == 0  # a funded account pays no extra call
    empty = _broker(sim, tmp_path, {"USDT": "3"}, {"USDT": "500"})
    notes = {empty.balance_snapshot().note for _ in range(3)}
    assert notes == {"500.00 USD in funding, not tradable — transfer to Trading (OKX funding account: 500 USDT; priced in USDT)"}
    assert _funding_reads(sim, empty) == 1  # then at most one read per FUNDING_READ_SECONDS


def test_an_empty_funding_account_adds_no_note_and_a_failed_read_never_fails_the_snapshot(
    sim: Simulator, tmp_path: Path
) -> None:
    assert _broker(sim, tmp_path, {}).balance_snapshot().note is None
    broker = _broker(sim, tmp_path, {}, {"USDT": "20"})
    sim.inject("okx", FUNDING, "http_5xx", times=None, status=503)
    try:
        snapshot = broker.balance_snapshot()
    finally:
        sim.clear_faults("okx")
    assert snapshot.total_equity == 0 and snapshot.note is None


def test_the_watch_reads_again_only_after_its_interval_and_forgets_when_funded() -> None:
    now = [0.0]
    reads: list[float] = []

    def reader() -> FundingBalance:
        reads.append(now[0])
        return FundingBalance({"USDT": Decimal(40)}, Decimal(40))

    watch = FundingWatch(reader, "USDT", below=Decimal(100), every=300.0, clock=lambda: now[0])
    assert watch.note(Decimal(0)) is not None
    now[0] = 299.0
    watch.note(Decimal(0))
    assert reads == [0.0]
    now[0] = 300.0
    watch.note(Decimal(5))
    assert reads == [0.0, 300.0]
    assert watch.note(Decimal(100)) is None  # funded: no read, no note
    now[0] = 301.0
    watch.note(Decimal(0))
    assert reads == [0.0, 300.0, 301.0]  # a new shortfall reads afresh


def test_unfunded_okx_health_and_status_say_where_the_money_is(sim: Simulator, tmp_path: Path, store: Store) -> None:
    broker = _broker(sim, tmp_path, {}, {"USDT": "250"})
    log = structlog.get_logger("test")
    config = LoopConfig(cycle_seconds=0.05, minimum_funded_balance=Decimal(10), max_concurrent_positions=3, data_dir=tmp_path)
    loop = BrokerLoop(broker, store, config, log, threading.Event())
    supervisor = Supervisor([loop], store, log, summary_seconds=3600)
    supervisor.start()
    try:
        assert supervisor.threads == {}  # unfunded: waits for the funding re-check
        [health] = store.health()
        assert health.status is HealthStatus.UNFUNDED
        assert health.note is not None and health.note.startswith("250.00 USD in funding, not tradable — transfer to Trading")
        assert loop.run_cycle().note == health.note  # a running loop whose account empties says the same
    finally:
        supervisor.stop(5.0)
    out = io.StringIO()
    status_main(["--data-dir", str(store.path.parent)], out=out)
    assert "okx/master no entries: 250.00 USD in funding, not tradable — transfer to Trading" in out.getvalue()


def test_the_okx_doctor_warns_about_funds_in_the_funding_account(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"okx-doctor-{next(_keys)}"
    account = sim.add_account("okx", key, balances={}, passphrase=PASS)
    sim.set_funding_balance("okx", key, "USDT", "75")
    for variable, value in (("OKX_API_KEY", key), ("OKX_API_SECRET", account.secret), ("OKX_PASSPHRASE", PASS)):
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NIJA_OKX_API_URL", sim.url("okx"))
    monkeypatch.setenv("NIJA_SYMBOLS_OKX", "BTC/USDT")
    run = run_doctor("--json")
    assert run.code == 1
    [equity_rows] = [[c for c in a["checks"] if c["check"] == "equity"] for a in run.doc["accounts"]]
    below, funding = equity_rows
    assert below["result"] == "warn" and "below MINIMUM_FUNDED_BALANCE" in below["detail"]
    assert funding["result"] == "warn"
    assert funding["detail"] == (
        "75.00 USD in funding, not tradable — transfer to Trading (OKX funding account: 75 USDT; priced in USDT)"
    )


# -- order states, fees ---------------------------------------------------------------------------


def test_fee_is_withheld_in_base_on_the_buy_and_paid_in_usdt_on_the_sell(sim: Simulator, tmp_path: Path) -> None:
    sim.set_price("okx", "BTC/USDT", Decimal(50000))
    broker = _broker(sim, tmp_path, {"USDT": "1000"})
    buy = broker.place(_order(Side.BUY, "100", QuantityUnit.QUOTE, "njokxfeebuy00001"))
    assert (buy.status, buy.filled_qty) == (OrderStatus.FILLED, Decimal("0.002"))
    assert (buy.fee_in_base, buy.fee) == (Decimal("0.000002"), Decimal("0.1"))  # 0.1 % of the BTC bought
    [fill] = buy.fills
    assert fill.qty - fill.fee_in_base == sim.balances("okx", broker.client.apiKey)["BTC"]
    sell = broker.place(_order(Side.SELL, "0.001998", QuantityUnit.BASE, "njokxfeesell0001"))
    assert (sell.status, sell.filled_qty, sell.fee_in_base) == (OrderStatus.FILLED, Decimal("0.001998"), 0)
    assert sell.fee == Decimal("0.0999")  # USDT, the currency received


def test_live_partially_filled_and_mmp_canceled_states_read_right(sim: Simulator, tmp_path: Path) -> None:
    sim.set_price("okx", "BTC/USDT", Decimal(50000))
    broker = _broker(sim, tmp_path, {"USDT": "1000"})
    sim.inject("okx", r"/api/v5/trade/batch-orders", "partial_fill", fraction="0")
    live = broker.submit(_order(Side.BUY, "100", QuantityUnit.QUOTE, "njokxlive0000001"))
    assert broker.fetch_order(live.client_order_id, "BTC/USDT").status is OrderStatus.SUBMITTED  # live
    sim.inject("okx", r"/api/v5/trade/batch-orders", "partial_fill", fraction="0.4")
    broker.submit(_order(Side.BUY, "100", QuantityUnit.QUOTE, "njokxmmp00000001"))
    partial = broker.fetch_order("njokxmmp00000001", "BTC/USDT")
    assert (partial.status, partial.filled_qty) == (OrderStatus.PARTIAL, Decimal("0.0008"))  # partially_filled
    assert len(sim.mmp_cancel("okx", broker.client.apiKey)) == 2
    assert sim.orders("okx", client_order_id="njokxmmp00000001")[0].extra["state"] == "mmp_canceled"
    canceled = broker.fetch_order("njokxmmp00000001", "BTC/USDT")
    assert (canceled.status, canceled.filled_qty) == (OrderStatus.CANCELED, Decimal("0.0008"))
    [fill] = canceled.fills  # the partial fill is booked, the order ends CANCELED
    assert (fill.qty, fill.fee_in_base) == (Decimal("0.0008"), Decimal("0.0000008"))
    nothing = broker.fetch_order(live.client_order_id, "BTC/USDT")
    assert (nothing.status, nothing.filled_qty, nothing.fills) == (OrderStatus.CANCELED, 0, ())


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"), [("insufficient_funds", InsufficientFunds), ("auth_error", AuthError)],
)
def test_error_envelopes_map_to_the_taxonomy(sim: Simulator, tmp_path: Path, fault: str, error: type[BrokerError]) -> None:
    broker = _broker(sim, tmp_path, {"USDT": "1000"})
    sim.inject("okx", r"/api/v5/trade/batch-orders", fault)
    with pytest.raises(error):
        broker.submit(_order(Side.BUY, "100", QuantityUnit.QUOTE, f"njokxerr{fault[:8]}"))


def test_a_below_minimum_order_is_refused_definitively(sim: Simulator, tmp_path: Path) -> None:
    broker = _broker(sim, tmp_path, {"USDT": "1000", "BTC": "1"})
    sim.inject("okx", r"/api/v5/trade/batch-orders", "http_5xx", status=200, body=(
        '{"code":"1","data":[{"clOrdId":"","ordId":"","sCode":"51020","sMsg":"Your order should meet or exceed'
        ' the minimum order amount.","tag":"","ts":"1"}],"inTime":"1","msg":"All operations failed","outTime":"1"}'
    ))
    with pytest.raises(OrderRejected, match="51020"):
        broker.submit(_order(Side.SELL, "0.01", QuantityUnit.BASE, "njokxmin00000001"))
