"""The contract a venue dialect implements, and the request/reply types it works with.

A venue is one class in `tests/sim/venues/<name>.py`: it names its markets and fee, says how
to authenticate a request and how to render a rejection, and marks its handlers with `@route`.
The core does the HTTP, locking, faults and logging; handlers only read and change the book.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from tests.sim.book import VenueBook
from tests.sim.model import Account, Market, Reject, VenueError

__all__ = ["Call", "Reply", "Request", "Route", "Venue", "request_decimal", "route"]


def request_decimal(value: Any, field: str) -> Decimal:
    """A number from a request parameter; anything else is the venue's bad-request answer."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise VenueError(Reject.BAD_REQUEST, field) from None
    if not number.is_finite():
        raise VenueError(Reject.BAD_REQUEST, field)
    return number


@dataclass(frozen=True)
class Request:
    """One HTTP request as a venue sees it: `path` is relative to the venue prefix."""

    method: str
    path: str  # "/0/private/AddOrder"
    query_string: str  # raw, without "?"
    full_path: str  # as received, prefix and query included ("/kraken/0/public/Ticker?pair=X")
    headers: Mapping[str, str]  # case-insensitive (http.client.HTTPMessage)
    body: bytes
    query: dict[str, str]
    form: dict[str, str]
    json: Any = None

    @property
    def params(self) -> dict[str, Any]:
        """Query and form fields merged, or the JSON body's fields when it is an object."""
        merged: dict[str, Any] = {**self.query, **self.form}
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class Reply:
    """What the venue answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Reply:
        return cls(status=status, body=json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def html(cls, body: bytes, status: int = 200) -> Reply:
        return cls(status=status, body=body, content_type="text/html; charset=UTF-8")


@dataclass
class Call:
    """What a handler receives: the request, the venue's book, and the caller's account."""

    request: Request
    book: VenueBook
    account: Account | None
    path_params: dict[str, str] = field(default_factory=dict)
    fill_fraction: Decimal | None = None  # set by a partial_fill fault

    @property
    def params(self) -> dict[str, Any]:
        return self.request.params

    def require_account(self) -> Account:
        if self.account is None:
            raise VenueError(Reject.INVALID_KEY, "route is private")
        return self.account


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    private: bool
    creates_order: bool


def route(
    method: str, path: str, *, private: bool = False, creates_order: bool = False
) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    """Mark a venue method as the handler of `method path`; `{name}` segments become path params."""

    def mark(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        fn.__sim_route__ = (method.upper(), path, private, creates_order)  # type: ignore[attr-defined]
        return fn

    return mark


def _compile(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


class Venue(ABC):
    """Base of every venue dialect. Subclasses set `name` and `taker_fee` and add `@route`s."""

    name: ClassVar[str]
    taker_fee: ClassVar[Decimal]
    client_order_id_param: ClassVar[str | None] = None  # request field carrying the client id
    buy_fee_in_base: ClassVar[bool] = False  # True where a buy's fee comes out of the asset bought

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(f"{self.name}:{seed}")
        self.clock_offset_s = 0.0  # venue clock minus ours: simulates a skewed client clock
        self.book = VenueBook(
            self.taker_fee, self.new_order_id, self.new_fill_id, self.now_s, buy_fee_in_base=self.buy_fee_in_base,
            base_fee_decimals=self.base_fee_decimals,
        )
        for market, price in self.default_markets():
            self.book.add_market(market, price)
        self.routes = self._collect_routes()

    def _collect_routes(self) -> list[Route]:
        routes = []
        for klass in reversed(type(self).__mro__):
            for attr, fn in vars(klass).items():
                spec = getattr(fn, "__sim_route__", None)
                if spec is not None:
                    method, path, private, creates = spec
                    routes.append(Route(method, _compile(path), attr, private, creates))
        return routes

    def now_s(self) -> float:
        """The venue's clock (Unix seconds): ours plus `clock_offset_s`."""
        return time.time() + self.clock_offset_s

    # -- what each venue supplies ---------------------------------------------------------

    @staticmethod
    def market_id(market: Market) -> str:
        """The venue's own name of a market (BTC-USD on OKX and Coinbase; venues override)."""
        return f"{market.base}-{market.quote}"

    def _market_of(self, venue_id: Any) -> Market:
        """The market a request names by the venue's id, or the venue's unknown-symbol answer."""
        for market in self.book.markets.values():
            if self.market_id(market) == venue_id:
                return market
        raise VenueError(Reject.UNKNOWN_SYMBOL, str(venue_id))

    @abstractmethod
    def default_markets(self) -> list[tuple[Market, Decimal]]:
        """Markets (and their starting prices) present when the simulator starts."""

    @abstractmethod
    def api_key_of(self, request: Request) -> str | None:
        """The API key a request claims to be from (for fault targeting and the log)."""

    @abstractmethod
    def authenticate(self, request: Request) -> Account:
        """Check key, signature, nonce or timestamp, rate limit; raise `VenueError` to refuse."""

    @abstractmethod
    def error_reply(self, error: VenueError) -> Reply:
        """Render a rejection exactly as the venue does (status, payload, casing)."""

    @abstractmethod
    def new_secret(self) -> str:
        """A fresh API secret in the venue's format (Kraken: base64)."""

    def new_order_id(self) -> str:
        return "".join(self._rng.choices(string.digits, k=12))

    def new_fill_id(self) -> str:
        return "".join(self._rng.choices(string.digits, k=12))

    def base_fee_decimals(self, market: Market) -> int:
        """Places a fee taken in the base asset is booked to (Binance: 8 or the lot's, if finer)."""
        return max(market.amount_decimals, 8)

    def set_fee_in_base(self, enabled: bool, api_key: str | None = None) -> None:
        """Make orders pay their fee in the base asset on both sides by default (one key, or every
        key without a setting of its own); only venues with such a mode support it."""
        raise ValueError(f"{self.name}: the venue decides which asset pays the fee; no fee-in-base mode")

    def client_order_ids(self, request: Request) -> tuple[str, ...]:
        """Client order ids an order-creating request carries (OKX batches carry several)."""
        if self.client_order_id_param is None:
            return ()
        value = request.params.get(self.client_order_id_param)
        return (str(value),) if value is not None else ()

    # -- dispatch (called by the core with the simulator lock held) -------------------------

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            if candidate.method == method:
                found = candidate.pattern.match(path)
                if found is not None:
                    return candidate, found.groupdict()
        return None

    def handle(self, request: Request, fill_fraction: Decimal | None = None) -> Reply:
        """Route, authenticate and run one request; rejections become the venue's error reply."""
        found = self.match(request.method, request.path)
        if found is None:
            return self.error_reply(VenueError(Reject.UNKNOWN_ROUTE, f"{request.method} {request.path}"))
        matched, path_params = found
        try:
            account = self.authenticate(request) if matched.private else None
            call = Call(request, self.book, account, path_params, fill_fraction)
            return getattr(self, matched.handler)(call)
        except VenueError as error:
            return self.error_reply(error)

    def creates_order(self, request: Request) -> bool:
        found = self.match(request.method, request.path)
        return found is not None and found[0].creates_order
