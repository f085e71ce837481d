"""CcxtBroker beyond the adapter contract (`tests/brokers/contract/`), for each ccxt venue the
simulator speaks, through the real ccxt client: one batched ticker call prices every holding,
closed candles are fetched once per candle, an invalid nonce is jumped and retried once, and a
non-JSON answer says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.base import TransientError
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.models import BrokerName
from tests.sim.simulator import Simulator


@dataclass(frozen=True)
class Case:
    broker: BrokerName
    venue: str  # simulator prefix
    symbol: str
    cash: str
    balance_path: str  # regex of the balance endpoint
    ticker_path: str  # substring of the (batched) ticker endpoint
    ohlcv_path: str  # substring of the candles endpoint
    has_nonce: bool = True  # Coinbase signs with a short-lived JWT instead: no nonce to jump


CASES = [
    Case(BrokerName.KRAKEN, "kraken", "BTC/USD", "USD", r"BalanceEx", "/Ticker", "/OHLC"),
    Case(BrokerName.BINANCE, "binance", "BTC/USDT", "USDT", r"/api/v3/account", "/ticker", "/klines"),
    Case(BrokerName.OKX, "okx", "BTC/USDT", "USDT", r"/api/v5/account/balance", "/api/v5/market/tickers",
         "/api/v5/market/candles"),
    Case(BrokerName.COINBASE, "coinbase", "BTC/USD", "USD", r"/api/v3/brokerage/accounts$",
         "/api/v3/brokerage/market/products", "/candles", has_nonce=False),
]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


@pytest.fixture(params=CASES, ids=lambda c: c.venue)
def case(request: pytest.FixtureRequest, sim: Simulator) -> Iterator[Case]:
    case: Case = request.param
    if case.venue not in sim.venue_names():
        pytest.skip(f"the simulator does not speak {case.venue} yet")
    sim.clear_faults(case.venue)
    yield case
    sim.clear_faults(case.venue)


_counter = iter(range(10**6))


def _broker(sim: Simulator, case: Case, tmp_path: Path, balances: dict[str, str]) -> CcxtBroker:
    key = f"ccxt-key-{next(_counter)}"
    account = sim.add_account(case.venue, key, balances={k: Decimal(v) for k, v in balances.items()},
                              passphrase="ccxt-pass")
    sim.set_price(case.venue, case.symbol, Decimal("60000"))
    credentials = {"api_key": key, "api_secret": account.secret, "passphrase": "ccxt-pass"}
    broker = CcxtBroker(
        case.broker, "master", credentials, SharedMarkets(), api_url=sim.url(case.venue), data_dir=tmp_path,
        timeout_ms=1500, enable_rate_limit=False,  # the limiter's pacing is tested on its own
    )
    broker.begin_cycle()  # markets first (Coinbase's load also calls the ticker path): count what follows
    return broker


def test_balance_prices_every_holding_in_one_batched_ticker_call(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "10000", "BTC": "0.5", "ETH": "0"})
    sim.clear_requests()
    assert broker.balance_snapshot().total_equity == Decimal("40000")
    assert len(sim.requests(case.venue, path_contains=case.ticker_path)) == 1
    assert broker.holdings() == {"BTC": Decimal("0.5")}  # a zero balance is no holding


def test_closed_candles_only_fetched_once_per_candle(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "100"})
    sim.clear_requests()
    first = broker.ohlcv(case.symbol, 120)
    again = broker.ohlcv(case.symbol, 100)
    assert len(first) == 120 and len(again) == 100
    assert (again.close == first.close[-100:]).all()
    assert first.ts[-1] + 300_000 <= time.time() * 1000  # the still-forming candle is dropped
    assert len(sim.requests(case.venue, path_contains=case.ohlcv_path)) == 1


def test_an_invalid_nonce_is_jumped_and_retried_once(sim: Simulator, case: Case, tmp_path: Path) -> None:
    if not case.has_nonce:
        pytest.skip(f"{case.venue} signs with a short-lived JWT: no nonce to jump")
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    sim.inject(case.venue, case.balance_path, "invalid_nonce")
    assert broker.balance_snapshot().available == Decimal("1000")


def test_a_non_json_answer_is_named_as_such(sim: Simulator, case: Case, tmp_path: Path) -> None:
    broker = _broker(sim, case, tmp_path, {case.cash: "1000"})
    sim.inject(case.venue, case.balance_path, "html_200", times=None)
    with pytest.raises(TransientError, match="not JSON"):
        broker.balance_snapshot()
