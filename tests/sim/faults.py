"""Fault injection: what to break, on which venue path, how many times, before or after processing.

A fault with `apply_after=True` hits the answer of a request that WAS processed (the order
exists at the venue, the client never learns it): the "ambiguous create" a daemon must reconcile.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from tests.sim.model import Reject

__all__ = ["CLOUDFLARE_HTML", "Fault", "FaultBook", "FaultKind", "REJECTING_FAULTS"]

# What a CDN in front of a venue answers while the origin is down (HTML where JSON was expected).
CLOUDFLARE_HTML: Final = (
    b"<!DOCTYPE html><html><head><title>api.example.com | 502: Bad gateway</title></head>"
    b"<body><h1>Bad gateway</h1><p>Cloudflare Ray ID: 0000000000000000</p></body></html>"
)


class FaultKind(StrEnum):
    LATENCY = "latency"  # sleep delay_ms, then carry on
    TIMEOUT = "timeout"  # sleep delay_ms (past the client's timeout), then answer, or drop if drop=True
    DROP = "drop"  # close the socket without a byte of answer
    HTTP_5XX = "http_5xx"  # status (default 503) with `body` (default empty)
    HTTP_429 = "http_429"  # 429 with `body` (default empty)
    HTML_200 = "html_200"  # 200 with an HTML page
    INVALID_NONCE = "invalid_nonce"  # the venue's own nonce error payload
    INSUFFICIENT_FUNDS = "insufficient_funds"
    AUTH_ERROR = "auth_error"  # the venue's invalid-key payload
    RATE_LIMIT = "rate_limit"  # the venue's rate-limit payload
    PARTIAL_FILL = "partial_fill"  # the order fills only `fraction` of its volume and stays open


# Faults answered with the venue's error payload for this rejection.
REJECTING_FAULTS: Final[dict[FaultKind, Reject]] = {
    FaultKind.INVALID_NONCE: Reject.INVALID_NONCE,
    FaultKind.INSUFFICIENT_FUNDS: Reject.INSUFFICIENT_FUNDS,
    FaultKind.AUTH_ERROR: Reject.INVALID_KEY,
    FaultKind.RATE_LIMIT: Reject.RATE_LIMIT,
}

_DEFAULT_TIMEOUT_MS: Final = 2000


@dataclass
class Fault:
    """One armed fault. `times=None` keeps it armed until cleared."""

    kind: FaultKind
    path: re.Pattern[str]  # searched in the venue-relative path, e.g. "/0/private/AddOrder"
    times: int | None = 1
    apply_after: bool = False
    method: str | None = None
    api_key: str | None = None
    status: int | None = None
    delay_ms: int | None = None
    fraction: Decimal | None = None
    body: bytes | None = None
    drop: bool = False
    hits: int = 0

    def matches(self, method: str, path: str, api_key: str | None) -> bool:
        return (
            (self.times is None or self.hits < self.times)
            and (self.method is None or self.method == method)
            and (self.api_key is None or self.api_key == api_key)
            and self.path.search(path) is not None
        )

    @property
    def delay_s(self) -> float:
        default = _DEFAULT_TIMEOUT_MS if self.kind is FaultKind.TIMEOUT else 0
        return (self.delay_ms if self.delay_ms is not None else default) / 1000


class FaultBook:
    """Armed faults per venue; `take` consumes one use of every fault matching a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, list[Fault]] = {}

    def add(self, venue: str, fault: Fault) -> None:
        if fault.kind is FaultKind.PARTIAL_FILL and (fault.fraction is None or not 0 <= fault.fraction < 1):
            raise ValueError(f"partial_fill needs 0 <= fraction < 1, was {fault.fraction}")
        with self._lock:
            self._faults.setdefault(venue, []).append(fault)

    def take(self, venue: str, method: str, path: str, api_key: str | None) -> list[Fault]:
        with self._lock:
            hit = [f for f in self._faults.get(venue, []) if f.matches(method, path, api_key)]
            for fault in hit:
                fault.hits += 1
            return hit

    def clear(self, venue: str | None = None) -> None:
        with self._lock:
            if venue is None:
                self._faults.clear()
            else:
                self._faults.pop(venue, None)

    def armed(self, venue: str) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults.get(venue, []) if f.times is None or f.hits < f.times]
