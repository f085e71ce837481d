"""Coinbase Advanced specifics: the order lookup, one symbol per aliased book, and the key type.

Lookup (`find_order`). Coinbase has no "order by client id" endpoint. When the create answer gave
the venue's `order_id` (stored on the order), the order is read directly
(GET /api/v3/brokerage/orders/historical/{order_id}). Otherwise, or if that id is unknown, the
order list (GET /orders/historical/batch) is read page by page (`cursor` while `has_next`),
filtered by the book's products (`product_ids`: the current name; ccxt's `fetch_orders` sends the
legacy `product_id`) and by `start_date` (when the intent was stored, minus `LOOKUP_MARGIN` for
clock skew). ccxt's `fetch_orders` reads only the newest 100 orders: a filled order behind 100
later ones was never found, so its fill was never booked (research: real-venues.md defect #4).
A scan that cannot finish within `MAX_PAGES` raises `TransientError`: "not found" is claimed only
after the whole window was read.

Aliased books (`one_symbol_per_book`). Coinbase trades BTC-USD and BTC-USDC in one order book: the
products answer says so in `alias` (on BTC-USDC: "BTC-USD") and `alias_to` (on BTC-USD:
["BTC-USDC"]). NIJA trades one symbol per book, so it never holds two positions in one book: the
canonical product (the one whose `alias` is empty, BTC-USD) is kept; when only an alias is in the
universe, that one is kept (defect #6).

Key type (`key_type_problem`). Coinbase Advanced Trade takes CDP keys signed ES256 (ECDSA P-256; the
secret is a PEM "-----BEGIN EC PRIVATE KEY-----" block). Coinbase's docs say Ed25519 keys are not
supported there, yet ccxt signs an Ed25519 secret (base64, 64 bytes) with EdDSA without a word, and
every private call then fails. Such a secret is refused at start, naming its variable (defect #8):
the master's by `build.master_key_problem` (the daemon exits 2), a follower's in `build_copy_engine`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import ccxt

from nija.brokers.base import OrderRejected, TransientError

__all__ = [
    "LOOKUP_MARGIN", "MAX_PAGES", "PAGE_LIMIT", "book_product_ids", "find_order", "key_type_problem",
    "one_symbol_per_book",
]

T = TypeVar("T")

LOOKUP_MARGIN: Final = timedelta(minutes=10)  # start_date = intent stored - this (host vs venue clock)
PAGE_LIMIT: Final = 100  # orders per page, as ccxt asks
MAX_PAGES: Final = 50  # 5,000 orders since the intent was stored: beyond that, try again next cycle
_ED25519_SECRET_BYTES: Final = 64  # a CDP Ed25519 secret: base64 of seed (32) + public key (32)


def find_order(
    client: Any,
    read: Callable[[Callable[[], T]], T],
    client_order_id: str,
    symbol: str,
    *,
    order_id: str | None = None,
    since: datetime | None = None,
) -> dict[str, Any] | None:
    """The ccxt-parsed order carrying `client_order_id`, or None when the venue has none.

    `read` performs one private, retried venue read (the broker's). `order_id` is the venue's id
    from the create answer; `since` when the intent was stored.
    """
    market = (client.markets or {}).get(symbol)
    if order_id:
        raw = _by_id(client, read, order_id, symbol)
        if raw is not None and raw.get("clientOrderId") in (client_order_id, None, ""):
            return _in_book(raw, symbol)
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    if market is not None:
        params["product_ids"] = book_product_ids(client.markets, market)
    if since is not None:
        start = (since - LOOKUP_MARGIN).astimezone(UTC)
        params["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    cursor = ""
    for _ in range(MAX_PAGES):
        page = {**params, "cursor": cursor} if cursor else dict(params)
        answer = read(lambda page=page: client.v3PrivateGetBrokerageOrdersHistoricalBatch(page))
        for order in (answer or {}).get("orders") or []:
            if order.get("client_order_id") == client_order_id:
                return _in_book(client.parse_order(order, market), symbol)
        cursor = str((answer or {}).get("cursor") or "")
        if not (answer or {}).get("has_next") or not cursor:
            return None
    raise TransientError(
        f"coinbase: order {client_order_id} not in the newest {MAX_PAGES * PAGE_LIMIT} orders since {params.get('start_date')}"
    )


def _by_id(client: Any, read: Callable[[Callable[[], T]], T], order_id: str, symbol: str) -> dict[str, Any] | None:
    """GET /orders/historical/{order_id}; None when Coinbase does not know the id (404 NOT_FOUND,
    which ccxt 4.5 raises as a plain ExchangeError: its pattern reads "self orderID")."""
    try:
        known = symbol if symbol in (client.markets or {}) else None  # ccxt refuses a symbol it does not list
        return read(lambda: client.fetch_order(order_id, known))
    except TransientError as exc:
        cause = exc.__cause__
        if isinstance(cause, ccxt.ExchangeError) and not isinstance(cause, ccxt.NetworkError) and "not found" in str(cause):
            return None
        raise
    except OrderRejected as exc:  # ccxt's OrderNotFound, should a later ccxt match the pattern
        if isinstance(exc.__cause__, ccxt.OrderNotFound):
            return None
        raise


def _in_book(raw: dict[str, Any], symbol: str) -> dict[str, Any]:
    """The order under the symbol NIJA trades: an order listed under the book's alias product
    (BTC/USDC for BTC/USD) is the same book, so its fills belong to `symbol`'s position."""
    return {**raw, "symbol": symbol} if raw.get("symbol") != symbol else raw


def _aliases(market: Mapping[str, Any]) -> tuple[str, list[str]]:
    info = market.get("info") or {}
    alias = info.get("alias") if isinstance(info.get("alias"), str) else ""
    alias_to = [str(p) for p in info.get("alias_to") or [] if p]
    return alias, alias_to


def book_product_ids(markets: Mapping[str, Mapping[str, Any]], market: Mapping[str, Any]) -> list[str]:
    """The product ids of `market`'s order book: its own, its `alias` and its `alias_to`, plus the
    products that name it as their alias; sorted, own id first."""
    own = str(market["id"])
    alias, alias_to = _aliases(market)
    ids = {own, *alias_to, *([alias] if alias else [])}
    for other in markets.values():
        other_alias, other_to = _aliases(other)
        if other_alias in ids or ids & set(other_to):
            ids.add(str(other["id"]))
    return [own, *sorted(ids - {own})]


def one_symbol_per_book(markets: Mapping[str, Mapping[str, Any]], symbols: Iterable[str]) -> list[str]:
    """`symbols` with one symbol per order book, order kept: the canonical product of a book (its
    `alias` empty, e.g. BTC/USD) is kept and its aliases (BTC/USDC) dropped; a symbol unknown to
    the markets is kept as is."""
    wanted = list(dict.fromkeys(symbols))
    book_of: dict[str, str] = {}  # product id -> the canonical product id of its book
    for market in markets.values():
        alias, alias_to = _aliases(market)
        canonical = alias or str(market["id"])
        book_of.setdefault(str(market["id"]), canonical)
        for product in alias_to:
            book_of[product] = canonical
    kept: dict[str, str] = {}  # book -> symbol kept
    for symbol in wanted:
        market = markets.get(symbol)
        if market is None:
            kept[f"?{symbol}"] = symbol
            continue
        book = book_of.get(str(market["id"]), str(market["id"]))
        current = kept.get(book)
        if current is None or (str(market["id"]) == book and str(markets[current]["id"]) != book):
            kept[book] = symbol
    chosen = set(kept.values())
    return [s for s in wanted if s in chosen]


def key_type_problem(secret: str) -> str | None:
    """Why `secret` cannot sign Coinbase Advanced Trade requests, or None when it has the right shape.

    Refuses an Ed25519 CDP secret (base64 of 64 bytes, what ccxt would sign with EdDSA); a PEM EC key
    (ECDSA) passes. Other shapes are left to the venue's own answer.
    """
    text = secret.strip()
    if text.startswith("-----BEGIN"):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _ED25519_SECRET_BYTES:
        return None
    return (
        "an Ed25519 key, which Coinbase Advanced Trade does not accept; create a CDP API key with the"
        " ECDSA signature algorithm and set its PEM private key (-----BEGIN EC PRIVATE KEY-----)"
    )

