"""One `Harness` per adapter, so every contract test runs unchanged over all six of them.

kraken, coinbase, okx and binance are `CcxtBroker`s and alpaca an `AlpacaBroker`, each through its
real client against the local simulator (`tests/sim/`); paper is a `PaperBroker` on a stub market
with a real `Store` as its ledger. A harness builds the adapter for a funded account, breaks order
creation or a read, counts the orders that reached the venue by client order id, reads the
venue's own record of an order (fill, price, fee and its currency), fills the rest of an open
order, sets the price, and reads the venue's holding of the base asset.

The contract's words for what a harness cannot express: paper has no wire (no network faults, no
keys) and fills every order whole at once (no partial fills); such a test skips with the reason.
"""

from __future__ import annotations

import itertools
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest
import structlog

from nija.brokers.alpaca import AlpacaBroker
from nija.brokers.base import Broker, TransientError
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import PaperBroker
from nija.execution.executor import OrderExecutor
from nija.execution.lookup import OPEN_ORDER_TIMEOUT
from nija.models import (
    BrokerName,
    ExecutionReport,
    OrderRequest,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from nija.store import Store
from tests.fakes import StubMarket, set_paper_balances
from tests.sim.model import OrderStatus as SimOrderStatus
from tests.sim.simulator import Simulator

LOG = structlog.get_logger("contract")
ACCOUNT: Final = "master"
ADAPTERS: Final = ("kraken", "coinbase", "okx", "binance", "alpaca", "paper")
CREATE: Final = "create"
BALANCE: Final = "balance"
LOOKUP: Final = "lookup"

_keys = itertools.count()


@dataclass(frozen=True)
class VenueOrder:
    """The venue's own record of one order: what filled, at what average price, what fee in what."""

    order_id: str
    filled: Decimal
    avg_price: Decimal | None
    fee: Decimal  # in `fee_asset`
    fee_asset: str | None


@dataclass(frozen=True)
class Endpoint:
    """Where one kind of call goes at a venue: a regex of the venue-relative path, and its method."""

    path: str
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and re.search(self.path, path) is not None


class Harness(ABC):
    """How the contract drives one adapter; one instance per test, with its own store."""

    id: ClassVar[str]
    broker_name: ClassVar[BrokerName]
    symbol: ClassVar[str]
    base: ClassVar[str]
    cash: ClassVar[str]
    price: ClassVar[Decimal]  # the price every build starts from
    wire: ClassVar[bool] = True  # False: no network to fault, no keys to get wrong
    partial_fills: ClassVar[bool] = True  # False: every order fills whole at once
    in_process: ClassVar[bool] = False  # True: the adapter is its own venue, every order reaches it
    read_attempts: ClassVar[int] = 3
    # The create answer carries the venue's own trades but the order lookup only totals (Binance's
    # FULL answer vs GET /api/v3/order): a lookup without `recorded` derives another trade id.
    create_answer_has_trades: ClassVar[bool] = False
    quote_buy_reads_ask: ClassVar[bool] = False  # a quote-sized buy is sent in base, sized from the ask

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store = Store(tmp_path / "nija.db")
        self._built: list[Broker] = []

    # -- what a test asks for ---------------------------------------------------------------

    def request(self, side: Side, qty: str | Decimal, unit: QuantityUnit, tag: str = "") -> OrderRequest:
        """A market order request with a client order id never used before on any venue."""
        return OrderRequest(
            broker=self.broker_name, account=ACCOUNT, symbol=self.symbol, side=side, quantity=Decimal(qty), unit=unit,
            client_order_id=client_order_id_for(self.id, tag, uuid.uuid4().hex),
        )

    def executor(self, broker: Broker, open_order_timeout: timedelta = OPEN_ORDER_TIMEOUT) -> OrderExecutor:
        return OrderExecutor(broker, self.store, LOG, open_order_timeout=open_order_timeout)

    def build(self, cash: str = "1000", base: str = "0", *, timeout_s: float = 1.5, bad_key: str | None = None) -> Broker:
        """The adapter for a fresh account holding `cash` and `base`; `bad_key` ("unknown key" or
        "wrong secret") builds it with credentials the venue refuses."""
        broker = self._build(Decimal(cash), Decimal(base), timeout_s=timeout_s, bad_key=bad_key)
        self._built.append(broker)
        return broker

    def close(self) -> None:
        for broker in self._built:
            broker.close()
        self.store.close()

    # -- what each adapter supplies ---------------------------------------------------------

    @abstractmethod
    def _build(self, cash: Decimal, base: Decimal, *, timeout_s: float, bad_key: str | None) -> Broker: ...

    @abstractmethod
    def inject(self, call: str, kind: str, *, times: int | None = 1, apply_after: bool = False, **options: Any) -> None:
        """Break the next `times` calls of `call` (CREATE, BALANCE or LOOKUP) with fault `kind`."""

    @abstractmethod
    def clear_faults(self) -> None: ...

    @abstractmethod
    def calls(self, call: str) -> int:
        """How many `call` requests the venue received for this account (answered or not)."""

    @abstractmethod
    def requests(self) -> int:
        """How many requests of any kind the venue received so far."""

    @abstractmethod
    def count_orders(self, client_order_id: str) -> int:
        """How many order-creating requests carried this client order id (answered or not)."""

    @abstractmethod
    def venue_order(self, client_order_id: str) -> VenueOrder | None: ...

    @abstractmethod
    def fill_rest(self, client_order_id: str) -> None:
        """The venue fills what remains of an open order, at the current price."""

    @abstractmethod
    def venue_open(self, client_order_id: str) -> bool:
        """Whether the venue holds the order open (neither all filled nor canceled)."""

    @abstractmethod
    def set_price(self, price: Decimal) -> None: ...

    @abstractmethod
    def venue_holding(self) -> Decimal:
        """The base asset the venue holds for the account built last."""


# -- the simulator's adapters -----------------------------------------------------------------


class SimHarness(Harness):
    """An adapter whose venue is the simulator, reached through the adapter's real client."""

    venue: ClassVar[str]
    endpoints: ClassVar[dict[str, Endpoint]]

    def __init__(self, tmp_path: Path, sim: Simulator, markets: dict[str, SharedMarkets]) -> None:
        super().__init__(tmp_path)
        self.sim = sim
        self.markets = markets
        self.key: str | None = None
        sim.clear_faults(self.venue)

    _key_prefix: ClassVar[str] = "contract-key-"

    def _fund(self, cash: Decimal, base: Decimal) -> tuple[str, str]:
        key = f"{self._key_prefix}{next(_keys):010d}"
        balances = {self.cash: cash} | ({self.base: base} if base else {})
        account = self.sim.add_account(self.venue, key, balances=balances, passphrase="contract-pass")
        self.sim.set_price(self.venue, self.symbol, self.price)
        self.key = key
        return key, account.secret

    def _credentials(self, key: str, secret: str, bad_key: str | None) -> dict[str, str]:
        if bad_key == "unknown key":
            key = f"{key}-unknown"
        elif bad_key == "wrong secret":
            secret = self.sim.venue(self.venue).new_secret()  # well formed, but not this key's
        elif bad_key is not None:
            raise ValueError(f"bad_key must be 'unknown key' or 'wrong secret', was {bad_key!r}")
        return {"api_key": key, "api_secret": secret, "passphrase": "contract-pass"}

    def inject(self, call: str, kind: str, *, times: int | None = 1, apply_after: bool = False, **options: Any) -> None:
        endpoint = self.endpoints[call]
        self.sim.inject(
            self.venue, endpoint.path, kind, times, apply_after=apply_after, method=endpoint.method, api_key=self.key,
            **options,
        )

    def clear_faults(self) -> None:
        self.sim.clear_faults(self.venue)

    def calls(self, call: str) -> int:
        endpoint = self.endpoints[call]
        return sum(endpoint.matches(r.method, r.path) for r in self.sim.requests(self.venue, api_key=self.key))

    def requests(self) -> int:
        return len(self.sim.requests(self.venue))

    def count_orders(self, client_order_id: str) -> int:
        return self.sim.count_orders(self.venue, client_order_id)

    def venue_order(self, client_order_id: str) -> VenueOrder | None:
        orders = self.sim.orders(self.venue, client_order_id=client_order_id)
        if not orders:
            return None
        [order] = orders
        fills = [f for f in self.sim.fills(self.venue, order.api_key) if f.order_id == order.order_id]
        assets = {f.fee_asset for f in fills}
        assert len(assets) <= 1, f"one order's fees in several assets: {assets}"
        return VenueOrder(
            order_id=order.order_id, filled=order.filled, avg_price=order.cost / order.filled if order.filled else None,
            fee=sum((f.fee for f in fills), Decimal(0)), fee_asset=assets.pop() if assets else None,
        )

    def fill_rest(self, client_order_id: str) -> None:
        [order] = self.sim.orders(self.venue, client_order_id=client_order_id)
        self.sim.fill_order(self.venue, order.order_id)

    def venue_open(self, client_order_id: str) -> bool:
        [order] = self.sim.orders(self.venue, client_order_id=client_order_id)
        return order.status is SimOrderStatus.OPEN

    def set_price(self, price: Decimal) -> None:
        self.sim.set_price(self.venue, self.symbol, price)

    def venue_holding(self) -> Decimal:
        assert self.key is not None, "build an adapter first"
        return self.sim.balances(self.venue, self.key).get(self.base, Decimal(0))


class CcxtHarness(SimHarness):
    """A `CcxtBroker` through the real ccxt client; market metadata shared per venue, as in the daemon."""

    def _build(self, cash: Decimal, base: Decimal, *, timeout_s: float, bad_key: str | None) -> Broker:
        key, secret = self._fund(cash, base)
        return CcxtBroker(
            self.broker_name, ACCOUNT, self._credentials(key, secret, bad_key), self.markets[self.venue],
            api_url=self.sim.url(self.venue), data_dir=self.tmp_path, timeout_ms=int(timeout_s * 1000),
            read_attempts=self.read_attempts, enable_rate_limit=False,  # the limiter's pacing is tested on its own
        )


class KrakenHarness(CcxtHarness):
    id = venue = "kraken"
    broker_name = BrokerName.KRAKEN
    symbol, base, cash, price = "BTC/USD", "BTC", "USD", Decimal("60000")
    quote_buy_reads_ask = True  # viqc is refused (kraken.py): one ticker read before the create
    endpoints: ClassVar[dict[str, Endpoint]] = {
        CREATE: Endpoint(r"/AddOrder$"),
        BALANCE: Endpoint(r"/BalanceEx$"),
        LOOKUP: Endpoint(r"/(Open|Closed)Orders$"),
    }


class CoinbaseHarness(CcxtHarness):
    id = venue = "coinbase"
    broker_name = BrokerName.COINBASE
    symbol, base, cash, price = "BTC/USD", "BTC", "USD", Decimal("60000")
    endpoints: ClassVar[dict[str, Endpoint]] = {
        CREATE: Endpoint(r"^/api/v3/brokerage/orders$", "POST"),
        BALANCE: Endpoint(r"^/api/v3/brokerage/accounts$"),
        LOOKUP: Endpoint(r"^/api/v3/brokerage/orders/historical/batch$"),
    }


class OkxHarness(CcxtHarness):
    id = venue = "okx"
    broker_name = BrokerName.OKX
    symbol, base, cash, price = "BTC/USDT", "BTC", "USDT", Decimal("60000")
    endpoints: ClassVar[dict[str, Endpoint]] = {
        CREATE: Endpoint(r"^/api/v5/trade/batch-orders$", "POST"),
        BALANCE: Endpoint(r"^/api/v5/account/balance$"),
        LOOKUP: Endpoint(r"^/api/v5/trade/order$", "GET"),
    }


class BinanceHarness(CcxtHarness):
    id = venue = "binance"
    broker_name = BrokerName.BINANCE
    symbol, base, cash, price = "BTC/USDT", "BTC", "USDT", Decimal("60000")
    # The lookup reads the order's trades (GET /api/v3/myTrades): the same trade ids as the create answer.
    create_answer_has_trades = False
    endpoints: ClassVar[dict[str, Endpoint]] = {
        CREATE: Endpoint(r"^/api/v3/order$", "POST"),
        BALANCE: Endpoint(r"^/api/v3/account$"),
        LOOKUP: Endpoint(r"^/api/v3/order$", "GET"),
    }


class AlpacaHarness(SimHarness):
    """An `AlpacaBroker` through the real alpaca-py clients; AAPL, fractionable, market open."""

    id = venue = "alpaca"
    broker_name = BrokerName.ALPACA
    symbol, base, cash, price = "AAPL", "AAPL", "USD", Decimal("200")
    _key_prefix = "PKCONTRACT"
    endpoints: ClassVar[dict[str, Endpoint]] = {
        CREATE: Endpoint(r"^/v2/orders$", "POST"),
        BALANCE: Endpoint(r"^/v2/account$"),
        LOOKUP: Endpoint(r"^/v2/orders:by_client_order_id$"),
    }

    def _build(self, cash: Decimal, base: Decimal, *, timeout_s: float, bad_key: str | None) -> Broker:
        self.sim.venue(self.venue).set_market_open(True)  # type: ignore[attr-defined]
        key, secret = self._fund(cash, base)
        credentials = self._credentials(key, secret, bad_key)
        credentials.pop("passphrase")
        return AlpacaBroker(
            ACCOUNT, credentials, api_url=self.sim.url(self.venue), timeout_s=timeout_s,
            read_attempts=self.read_attempts,
        )


# -- paper ------------------------------------------------------------------------------------


class _FaultyPaperBroker(PaperBroker):
    """A paper broker whose order answers can be lost like a venue's: the order fills (or, with
    `apply_after=False`, never arrives) and the caller gets the error a live adapter raises."""

    def __init__(self, harness: PaperHarness, *args: Any, **kwargs: Any) -> None:
        self._harness = harness
        super().__init__(*args, **kwargs)

    def place(self, request: OrderRequest) -> ExecutionReport:
        harness = self._harness
        harness.sends.append(request.client_order_id)
        fault = harness.faults.pop(0) if harness.faults else None
        if fault is not None and not fault[1]:
            raise TransientError(f"paper: order {request.client_order_id} outcome unknown: {fault[0]}")
        report = super().place(request)
        if fault is not None:
            raise TransientError(f"paper: order {request.client_order_id} outcome unknown: {fault[0]} after the fill")
        return report


class PaperHarness(Harness):
    id = "paper"
    broker_name = BrokerName.KRAKEN  # paper mode trades as the venue it stands in for, at its fees
    symbol, base, cash, price = "BTC/USD", "BTC", "USD", Decimal("60000")
    wire = False
    partial_fills = False
    in_process = True
    _NO_WIRE: Final = "paper has no wire: nothing to fault but order creation"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.market = StubMarket({self.symbol: str(self.price), "ETH/USD": "3000"})
        self.fees = fee_schedule(self.broker_name)
        self.sends: list[str] = []  # client order ids handed to place/submit, in order
        self.faults: list[tuple[str, bool]] = []  # (kind, apply_after) for the next order answers

    def _build(self, cash: Decimal, base: Decimal, *, timeout_s: float, bad_key: str | None) -> Broker:
        if bad_key is not None:
            pytest.skip("paper has no keys to get wrong")
        self.market.prices[self.symbol] = self.price
        broker = _FaultyPaperBroker(
            self, self.broker_name, ACCOUNT, self.store, self.market, self.fees, starting_cash=cash,
        )
        if base:
            set_paper_balances(self.store, self.broker_name, ACCOUNT, {self.cash: cash, self.base: base}, "deposit")
        return broker

    def inject(self, call: str, kind: str, *, times: int | None = 1, apply_after: bool = False, **options: Any) -> None:
        if call != CREATE or kind == "partial_fill":
            pytest.skip(self._NO_WIRE if call != CREATE else "paper fills every order whole at once")
        assert times is not None, "paper faults are counted"
        self.faults.extend([(kind, apply_after)] * times)

    def clear_faults(self) -> None:
        self.faults.clear()

    def calls(self, call: str) -> int:
        pytest.skip(self._NO_WIRE)

    def requests(self) -> int:
        return len(self.sends)

    def count_orders(self, client_order_id: str) -> int:
        return self.sends.count(client_order_id)

    def venue_order(self, client_order_id: str) -> VenueOrder | None:
        record = self.store.paper_order(self.broker_name, ACCOUNT, client_order_id)
        if record is None:
            return None
        assert record.avg_price is not None
        # The simulated venue charges its fee table's taker rate, in cash, never less than due.
        fee = (record.filled_qty * record.avg_price * self.fees.taker).quantize(Decimal("1e-12"), rounding=ROUND_UP)
        return VenueOrder(
            order_id=str(record.exchange_order_id), filled=record.filled_qty, avg_price=record.avg_price, fee=fee,
            fee_asset=self.cash,
        )

    def fill_rest(self, client_order_id: str) -> None:
        pytest.skip("paper fills every order whole at once")

    def venue_open(self, client_order_id: str) -> bool:
        return False  # filled whole at once, or refused

    def set_price(self, price: Decimal) -> None:
        self.market.prices[self.symbol] = price

    def venue_holding(self) -> Decimal:
        return self.store.paper_balances(self.broker_name, ACCOUNT).get(self.base, Decimal(0))


_CCXT: Final = {h.id: h for h in (KrakenHarness, CoinbaseHarness, OkxHarness, BinanceHarness)}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def sim() -> Iterator[Simulator]:
    """One simulator for the whole contract: each test funds its own account and arms its own faults."""
    with Simulator() as simulator:
        yield simulator
        assert not simulator.internal_errors, "simulator bug while serving:\n" + "\n".join(simulator.internal_errors)


@pytest.fixture(scope="package")
def markets() -> dict[str, SharedMarkets]:
    """Market metadata per ccxt venue, loaded once and shared read-only, as the daemon does."""
    return {venue: SharedMarkets() for venue in _CCXT}


@pytest.fixture(params=ADAPTERS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    adapter: str = request.param
    built: Harness
    if adapter == "paper":
        built = PaperHarness(tmp_path)
    else:
        sim: Simulator = request.getfixturevalue("sim")
        if adapter not in sim.venue_names():
            pytest.skip(f"the simulator does not speak {adapter}")
        if adapter == "alpaca":
            built = AlpacaHarness(tmp_path, sim, {})
        else:
            built = _CCXT[adapter](tmp_path, sim, request.getfixturevalue("markets"))
    try:
        yield built
    finally:
        built.clear_faults()
        built.close()
