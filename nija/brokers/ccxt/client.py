"""ccxt client construction: one client per account, its URLs, its session and its answer guard.

A client never re-sends a request by itself (`maxRetriesOnFailure` 0): an order must be looked
up, not repeated. `redirect` points every REST URL at a testnet or the simulator. The non-JSON
guard makes a 2xx answer whose body is not JSON an error instead of an empty result (an order
with no id, an empty balance). Market metadata is loaded once per venue and shared read-only
between clients (`SharedMarkets`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import ccxt
import requests

from nija.brokers.base import secret_text
from nija.brokers.ccxt.lean_http import LeanSession
from nija.brokers.ccxt.venues import Venue

__all__ = ["MARKETS_MAX_AGE_SECONDS", "SharedMarkets", "build_client", "redirect", "use_sandbox"]

MARKETS_MAX_AGE_SECONDS: Final = 3600.0  # venues list and delist markets; refresh hourly
ASK_MAX_AGE_SECONDS: Final = 1.0  # a base-sized buy's ask: shared by every client of a venue this long


def build_client(
    venue: Venue,
    credentials: Mapping[str, Any] | None,
    *,
    api_url: str | None,
    timeout_ms: int,
    enable_rate_limit: bool,
    sandbox: bool = False,
) -> ccxt.Exchange:
    """A ccxt client for one account of `venue` (key-less when `credentials` is None).

    Never re-sends a request by itself, talks through a lean session (requests when a proxy is
    configured), points at `api_url` when given, and refuses a 2xx answer that is not JSON.
    """
    config: dict[str, Any] = {
        "enableRateLimit": enable_rate_limit,  # ccxt's limiter is per instance, i.e. per account
        "timeout": timeout_ms,
        # Never let ccxt re-send a request by itself: an order must be looked up, not repeated.
        "options": {**venue.options, "maxRetriesOnFailure": 0},
    }
    for part, ccxt_key in venue.credentials.items():
        if credentials and part in credentials:
            config[ccxt_key] = secret_text(credentials[part])
    # requests costs about half of a request's client CPU for features NIJA never uses
    # (cookies, redirects): a lean keep-alive session per client (lean_http.py). A VPS that
    # routes through a proxy keeps requests, which honours HTTP(S)_PROXY.
    config["session"] = requests.Session() if _proxy_configured() else LeanSession()
    client: ccxt.Exchange = getattr(ccxt, venue.ccxt_id)(config)
    if sandbox:
        use_sandbox(client)
    if api_url:
        redirect(client, api_url)
    _refuse_non_json(client)
    return client


# Test environments ccxt does not know: Coinbase Advanced's sandbox (static answers, no real
# matching; docs.cdp.coinbase.com "Advanced Trade API Sandbox").
_SANDBOX_URLS: Final[dict[str, str]] = {"coinbase": "https://api-sandbox.coinbase.com"}


def use_sandbox(client: ccxt.Exchange) -> None:
    """Point `client` at its venue's own test environment (NIJA_<BROKER>_SANDBOX=true): Binance
    spot testnet and OKX demo trading through ccxt's sandbox mode, Coinbase's sandbox by URL.
    A venue without one (Kraken spot) raises ValueError: settings refuse it first."""
    if client.id in _SANDBOX_URLS:
        redirect(client, _SANDBOX_URLS[client.id])
        return
    if not client.urls.get("test"):
        raise ValueError(f"{client.id} has no test environment")
    client.set_sandbox_mode(True)


def redirect(client: ccxt.Exchange, base_url: str) -> None:
    """Point every REST URL of `client` at `base_url` (testnets, the simulator), keeping paths."""
    base = base_url.rstrip("/")

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"^https?://[^/]+", base, value)
        if isinstance(value, dict):
            return {key: fix(item) for key, item in value.items()}
        return value

    client.urls["api"] = fix(client.urls["api"])
    if "hostname" in client.options:  # okx builds its URL from a hostname option
        client.hostname = base.split("://", 1)[-1].split("/", 1)[0]


def _proxy_configured() -> bool:
    """Whether the environment routes HTTP(S) through a proxy (LeanSession does not speak to proxies)."""
    return any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))


def _refuse_non_json(client: ccxt.Exchange) -> None:
    """Make a 2xx answer whose body is not JSON an error instead of an empty result.

    ccxt parses an HTML or truncated 200 to nothing and raises nothing: fetch_balance then
    returns an empty balance (equity 0: "unfunded") and fetch_open_orders an empty list (an
    order "not found" that may well exist). Both are lies a real-money bot must not believe.
    The check parses with ccxt's own parser (`on_json_response`: orjson when installed), and
    the value is handed to ccxt's `parse_json` for that same body, so an answer is parsed once.
    """
    original = client.on_rest_response
    parse = client.on_json_response
    last: list[Any] = [None, None]  # (body, value) of the last 2xx answer; one thread per client

    def on_rest_response(code: Any, reason: Any, url: str, method: str, headers: Any, body: Any, *rest: Any) -> Any:
        body = original(code, reason, url, method, headers, body, *rest)
        last[0] = last[1] = None
        if isinstance(code, int) and 200 <= code < 300:
            try:
                value = parse(body)
            except (TypeError, ValueError) as exc:
                raise ccxt.BadResponse(f"{client.id} {method} {url}: HTTP {code} answer is not JSON") from exc
            last[0], last[1] = body, value
        return body

    def on_json_response(text: Any) -> Any:
        if text is last[0]:  # the body just checked: its value, handed over once
            value = last[1]
            last[0] = last[1] = None
            return value
        return parse(text)

    client.on_rest_response = on_rest_response
    client.on_json_response = on_json_response


@dataclass
class _SharedAsk:
    """One symbol's last ask (or the error reading it), and when it was read."""

    ask: Decimal | None = None
    error: Exception | None = None
    read_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class SharedMarkets:
    """Market metadata loaded once per (venue, URL) and shared read-only by every client of it.

    Loading markets costs 4–28 MiB per ccxt instance; sharing costs ~0.1 MiB per client, which is
    what lets one process hold a thousand user accounts. Holds process-wide state under one lock.
    """

    def __init__(self, max_age_seconds: float = MARKETS_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age_seconds
        self._lock = threading.Lock()
        self._templates: dict[tuple[str, str], tuple[ccxt.Exchange, float]] = {}
        self._asks: dict[tuple[tuple[str, str], str], _SharedAsk] = {}

    def recent_ask(self, key: tuple[str, str], symbol: str, read: Callable[[], Decimal]) -> Decimal:
        """The venue's ask of `symbol`, read at most once per `ASK_MAX_AGE_SECONDS` for every
        client of the venue: a fan-out sizing a thousand followers' buys in base (Kraken) reads
        it once, not once per follower. One reader at a time per symbol, the others wait for its
        answer; a failed read is shared for as long, so an outage costs one timeout, not one each."""
        shared = self._asks.get((key, symbol))
        if shared is not None and shared.ask is not None and time.monotonic() - shared.read_at <= ASK_MAX_AGE_SECONDS:
            return shared.ask  # fresh: no lock (each field is replaced whole, never half-written)
        with self._lock:
            shared = self._asks.setdefault((key, symbol), _SharedAsk())
        with shared.lock:
            if time.monotonic() - shared.read_at > ASK_MAX_AGE_SECONDS:
                shared.ask, shared.error = None, None
                try:
                    shared.ask = read()
                except Exception as exc:
                    shared.error = exc
                shared.read_at = time.monotonic()
            if shared.error is not None:
                raise shared.error
            assert shared.ask is not None
            return shared.ask

    def ensure(self, key: tuple[str, str], build: Callable[[], ccxt.Exchange]) -> tuple[ccxt.Exchange, float]:
        """The loaded template of `key` and when it was loaded; (re)loads when older than an hour."""
        with self._lock:
            template, loaded_at = self._templates.get(key, (None, 0.0))
            if template is None or time.monotonic() - loaded_at > self.max_age:
                template = build()
                template.load_markets(reload=True)
                loaded_at = time.monotonic()
                self._templates[key] = (template, loaded_at)
        return template, loaded_at
