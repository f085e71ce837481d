"""`Simulator`: the object tests hold. Starts the server and reads and changes venue state.

Every state change goes through the one lock the request handlers also take, so a test can
move a price or add an account while clients are talking to the server.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

from tests.sim.control import control_handler
from tests.sim.faults import Fault, FaultBook, FaultKind
from tests.sim.model import Account, Candle, Fill, Market, Order, RateCounter
from tests.sim.requestlog import RequestLog, RequestRecord
from tests.sim.server import Dispatcher, SimHTTPServer
from tests.sim.venue import Venue
from tests.sim.venues import discover

__all__ = ["Simulator"]


class Simulator:
    """All venues on one 127.0.0.1 port, each under its own prefix (`/kraken`, `/binance`, ...)."""

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: int = 0,
        venues: Iterable[str] | None = None,
        seed: int = 0,
        control: bool = False,
    ) -> None:
        """`port=0` picks a free port; `control=True` serves `/_sim/...` for out-of-process drivers."""
        wanted = set(venues) if venues is not None else None
        self._venues: dict[str, Venue] = {
            name: cls(seed) for name, cls in discover().items() if wanted is None or name in wanted
        }
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults = FaultBook()
        self._log = RequestLog()
        self._dispatcher = Dispatcher(
            self._venues,
            self._faults,
            self._log,
            self._lock,
            self._stopping,
            control_handler(self) if control else None,
        )
        for name in self._venues:
            self._dispatcher.latency_ms[name] = latency_ms
        self._port = port
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SimHTTPServer(self._port, self._dispatcher)
        # a short poll keeps stop() fast: shutdown() waits for the serve loop's next poll
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="sim-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wake handlers sleeping in latency/timeout faults
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, venue: str) -> str:
        """Base URL of one venue, e.g. `http://127.0.0.1:PORT/kraken`."""
        self.venue(venue)
        return f"{self.base_url}/{venue}"

    def venue(self, name: str) -> Venue:
        if name not in self._venues:
            raise KeyError(f"unknown venue {name!r}; have {sorted(self._venues)}")
        return self._venues[name]

    def venue_names(self) -> list[str]:
        """Prefixes this simulator serves, e.g. `["binance", "kraken"]`."""
        return sorted(self._venues)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of simulator bugs hit while serving (each was answered with a 500)."""
        return list(self._dispatcher.internal_errors)

    # -- market state -----------------------------------------------------------------------

    def add_market(self, venue: str, market: Market, price: Decimal) -> None:
        with self._lock:
            self.venue(venue).book.add_market(market, price)

    def markets(self, venue: str) -> list[Market]:
        with self._lock:
            return list(self.venue(venue).book.markets.values())

    def set_price(self, venue: str, symbol: str, price: Decimal) -> None:
        with self._lock:
            self.venue(venue).book.set_price(symbol, Decimal(price))

    def price(self, venue: str, symbol: str) -> Decimal:
        with self._lock:
            book = self.venue(venue).book
            book.market(symbol)
            return book.prices[symbol]

    def load_candles(
        self, venue: str, symbol: str, candles: Sequence[Candle], *, interval_s: int = 300, set_price: bool = True
    ) -> None:
        """Serve these candles for `symbol`; by default the price becomes the last close."""
        with self._lock:
            book = self.venue(venue).book
            book.load_candles(symbol, candles, interval_s)
            if set_price and candles:
                book.set_price(symbol, max(candles, key=lambda c: c.ts_s).close)

    # -- accounts ---------------------------------------------------------------------------

    def add_account(
        self,
        venue: str,
        api_key: str,
        secret: str | None = None,
        balances: Mapping[str, Decimal | str | int] | None = None,
        *,
        passphrase: str | None = None,
    ) -> Account:
        """Create (or replace) an account; a missing secret is generated in the venue's format."""
        with self._lock:
            target = self.venue(venue)
            account = Account(
                api_key=api_key,
                secret=secret if secret is not None else target.new_secret(),
                balances={asset: Decimal(amount) for asset, amount in (balances or {}).items()},
                passphrase=passphrase,
            )
            target.book.add_account(account)
            return copy.deepcopy(account)

    def _account(self, venue: str, api_key: str) -> Account:
        account = self.venue(venue).book.account(api_key)
        if account is None:
            raise KeyError(f"{venue}: no account {api_key!r}")
        return account

    def set_balance(self, venue: str, api_key: str, asset: str, amount: Decimal) -> None:
        with self._lock:
            self._account(venue, api_key).balances[asset] = Decimal(amount)

    def balances(self, venue: str, api_key: str) -> dict[str, Decimal]:
        with self._lock:
            return dict(self._account(venue, api_key).balances)

    def holds(self, venue: str, api_key: str) -> dict[str, Decimal]:
        with self._lock:
            return {k: v for k, v in self._account(venue, api_key).holds.items() if v}

    def set_rate_limit(
        self, venue: str, api_key: str, max_count: Decimal | int | None = 20, decay_per_s: Decimal | int | str = 1
    ) -> None:
        """Enforce the venue's per-key call counter (Kraken: max 20, -1 per second); None turns it off."""
        with self._lock:
            account = self._account(venue, api_key)
            account.rate = None if max_count is None else RateCounter(Decimal(max_count), Decimal(decay_per_s))

    def set_fee_in_base(
        self, venue: str, enabled: bool = True, api_key: str | None = None, *, overriding: bool = False
    ) -> None:
        """Orders that do not say otherwise pay their fee in the base asset, buys and sells alike
        (Kraken: as if every AddOrder carried `oflags=fcib`); for one key, or for every key of the
        venue without a setting of its own when `api_key` is None. `overriding`: even orders that
        prefer quote (Kraken `fciq` is a preference). Venues without that mode raise."""
        with self._lock:
            if api_key is not None:
                self._account(venue, api_key)
            if overriding:
                self.venue(venue).set_fee_in_base(enabled, api_key, overriding=True)
            else:
                self.venue(venue).set_fee_in_base(enabled, api_key)

    def set_market_status(self, venue: str, symbol: str, status: str = "online") -> None:
        """Kraken: the market's trading status (cancel_only, post_only, ...; online: normal)."""
        with self._lock:
            target = self.venue(venue)
            target.book.market(symbol)
            target.market_status[symbol] = status  # type: ignore[attr-defined]

    def set_funding_balance(self, venue: str, api_key: str, asset: str, amount: Decimal | int | str) -> None:
        """OKX: what the key's funding account holds of `asset` (deposits wait there, not tradable)."""
        with self._lock:
            self._account(venue, api_key)
            self.venue(venue).set_funding_balance(api_key, asset, Decimal(amount))  # type: ignore[attr-defined]

    def mmp_cancel(self, venue: str, api_key: str) -> list[str]:
        """OKX: Market Maker Protection cancels the key's open orders (`mmp_canceled`); their ids."""
        with self._lock:
            canceled = self.venue(venue).mmp_cancel(self._account(venue, api_key))  # type: ignore[attr-defined]
            return [o.order_id for o in canceled]

    def set_bnb_fees(self, venue: str, api_key: str, enabled: bool = True) -> None:
        """Binance: the key's trades pay their commission in BNB ("pay fees with BNB"), while it holds enough."""
        with self._lock:
            self._account(venue, api_key)
            self.venue(venue).set_bnb_fees(api_key, enabled)  # type: ignore[attr-defined]

    def expire_order(self, venue: str, order_id: str, status: str = "EXPIRED") -> None:
        """Binance: the venue ends an open order's remainder (`EXPIRED`, or `EXPIRED_IN_MATCH` by
        self-trade prevention); what filled stays filled."""
        with self._lock:
            self.venue(venue).expire_order(order_id, status)  # type: ignore[attr-defined]

    def set_key_permissions(self, venue: str, api_key: str, *, trade: bool = True, withdraw: bool = False) -> None:
        """What the key may do, as the venue's permission endpoints (and Kraken's WithdrawStatus) report it."""
        with self._lock:
            account = self._account(venue, api_key)
            account.can_trade, account.can_withdraw = trade, withdraw

    def invalid_nonces(self, venue: str, api_key: str) -> int:
        """How many requests on this key the venue refused for their nonce."""
        with self._lock:
            return self._account(venue, api_key).invalid_nonces

    # -- orders -----------------------------------------------------------------------------

    def orders(self, venue: str, api_key: str | None = None, client_order_id: str | None = None) -> list[Order]:
        """Copies of the venue's orders, oldest first."""
        with self._lock:
            return [
                copy.deepcopy(o)
                for o in self.venue(venue).book.orders.values()
                if (api_key is None or o.api_key == api_key)
                and (client_order_id is None or o.client_order_id == client_order_id)
            ]

    def order(self, venue: str, order_id: str) -> Order:
        with self._lock:
            return copy.deepcopy(self.venue(venue).book.orders[order_id])

    def fills(self, venue: str, api_key: str | None = None) -> list[Fill]:
        with self._lock:
            return [copy.deepcopy(f) for f in self.venue(venue).book.fills if api_key is None or f.api_key == api_key]

    def fill_order(self, venue: str, order_id: str, volume: Decimal | None = None) -> None:
        """Fill more of an open order (default: the rest) at the current price."""
        with self._lock:
            book = self.venue(venue).book
            book.fill_order(book.orders[order_id], volume)

    # -- faults and latency -----------------------------------------------------------------

    def inject(
        self,
        venue: str,
        path_regex: str,
        kind: FaultKind | str,
        times: int | None = 1,
        *,
        apply_after: bool = False,
        method: str | None = None,
        api_key: str | None = None,
        status: int | None = None,
        delay_ms: int | None = None,
        fraction: Decimal | str | float | None = None,
        body: bytes | str | None = None,
        drop: bool = False,
    ) -> Fault:
        """Arm a fault for requests whose venue-relative path matches `path_regex` (re.search).

        `times=None` keeps it armed until `clear_faults`. `apply_after=True` processes the request
        first and breaks only the answer. See `FaultKind` for what each kind does with the options.
        """
        self.venue(venue)
        fault = Fault(
            kind=FaultKind(kind),
            path=re.compile(path_regex),
            times=times,
            apply_after=apply_after,
            method=method.upper() if method else None,
            api_key=api_key,
            status=status,
            delay_ms=delay_ms,
            fraction=Decimal(str(fraction)) if fraction is not None else None,
            body=body.encode() if isinstance(body, str) else body,
            drop=drop,
        )
        self._faults.add(venue, fault)
        return fault

    def clear_faults(self, venue: str | None = None) -> None:
        self._faults.clear(venue)

    def armed_faults(self, venue: str) -> list[Fault]:
        return self._faults.armed(venue)

    def set_clock_offset(self, venue: str, offset_s: float) -> None:
        """Run the venue's clock `offset_s` ahead of ours (negative: behind), as if the client were skewed."""
        with self._lock:
            self.venue(venue).clock_offset_s = offset_s

    def set_latency(self, venue: str, latency_ms: int) -> None:
        """Delay every answer of this venue by `latency_ms`."""
        self.venue(venue)
        self._dispatcher.latency_ms[venue] = latency_ms

    # -- request log ------------------------------------------------------------------------

    def requests(
        self,
        venue: str | None = None,
        path_contains: str | None = None,
        method: str | None = None,
        api_key: str | None = None,
    ) -> list[RequestRecord]:
        return self._log.select(venue, path_contains, method, api_key)

    def count_orders(self, venue: str, client_order_id: str) -> int:
        """How many order-creating requests carried this client order id (answered or not)."""
        return sum(client_order_id in r.client_order_ids for r in self._log.select(venue) if r.creates_order)

    def clear_requests(self) -> None:
        self._log.clear()

    def describe(self) -> dict[str, Any]:
        """Port and venue URLs, as the standalone runner prints them."""
        return {"port": self.port, "venues": {name: self.url(name) for name in self.venue_names()}}
