"""Point real venue clients at the simulator: swap scheme and host in their URLs, keep the paths."""

from __future__ import annotations

import re
from typing import Any

import ccxt

__all__ = ["ccxt_client", "redirect"]

_ORIGIN = re.compile(r"^https?://[^/]+")


def _rewrite(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return _ORIGIN.sub(base, value)
    if isinstance(value, dict):
        return {key: _rewrite(item, base) for key, item in value.items()}
    return value


def redirect(exchange: ccxt.Exchange, base: str) -> ccxt.Exchange:
    """Rewrite every `urls['api']` entry to `base` (e.g. `http://127.0.0.1:PORT/kraken`).

    Call it after `set_sandbox_mode()`, never before: sandbox mode replaces the whole dict.
    """
    exchange.urls["api"] = _rewrite(exchange.urls["api"], base)
    return exchange


def ccxt_client(
    venue_url: str, exchange_id: str, api_key: str | None = None, secret: str | None = None, **config: Any
) -> ccxt.Exchange:
    """A real sync ccxt client aimed at the simulator: limiter off, no built-in retries, 3 s timeout."""
    options = {"maxRetriesOnFailure": 0, **config.pop("options", {})}
    settings: dict[str, Any] = {"enableRateLimit": False, "timeout": 3000, "options": options, **config}
    if api_key is not None:
        settings["apiKey"] = api_key
    if secret is not None:
        settings["secret"] = secret
    return redirect(getattr(ccxt, exchange_id)(settings), venue_url)
