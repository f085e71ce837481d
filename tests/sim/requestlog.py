"""Every request the simulator saw, with what it answered: the evidence tests assert on."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestLog", "RequestRecord"]


@dataclass
class RequestRecord:
    """One request. `status` is None when the answer was dropped (or the request is in flight)."""

    venue: str
    method: str
    path: str  # venue-relative, without the query string
    params: dict[str, Any]  # query + form fields, or the decoded JSON body
    api_key: str | None
    received_at_s: float
    creates_order: bool = False
    client_order_ids: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()  # fault kinds applied, "after:" prefixed when apply_after
    status: int | None = None
    dropped: bool = False
    duration_ms: float | None = None
    seq: int = -1


class RequestLog:
    """Thread-safe append-only log; readers get copies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Store `record`, numbering it in arrival order."""
        with self._lock:
            record.seq = len(self._records)
            self._records.append(record)

    def update(self, record: RequestRecord, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(record, name, value)

    def select(
        self,
        venue: str | None = None,
        path_contains: str | None = None,
        method: str | None = None,
        api_key: str | None = None,
    ) -> list[RequestRecord]:
        with self._lock:
            return [
                dataclasses.replace(r)
                for r in self._records
                if (venue is None or r.venue == venue)
                and (path_contains is None or path_contains in r.path)
                and (method is None or r.method == method.upper())
                and (api_key is None or r.api_key == api_key)
            ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
