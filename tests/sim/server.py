"""HTTP plumbing: a threaded stdlib server, and the dispatcher that runs each request through
latency, faults, the venue (under the simulator lock) and the request log.

Only this module touches sockets. It binds 127.0.0.1 and never reaches out.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from tests.sim.faults import CLOUDFLARE_HTML, REJECTING_FAULTS, Fault, FaultBook, FaultKind
from tests.sim.model import VenueError
from tests.sim.requestlog import RequestLog, RequestRecord
from tests.sim.venue import Reply, Request, Venue

__all__ = ["CONTROL_PREFIX", "Dispatcher", "SimHTTPServer"]

CONTROL_PREFIX: Final = "_sim"  # /_sim/<operation>: drives a simulator running in another process

ControlHandler = Callable[[str, str, Mapping[str, Any]], Reply]


class _Continue:
    """A fault that lets the request carry on (latency, a timeout that still answers)."""


_CONTINUE: Final = _Continue()
Outcome = Reply | None  # None: drop the connection without answering


def _parse_body(headers: Mapping[str, str], body: bytes) -> tuple[dict[str, str], Any]:
    if not body:
        return {}, None
    content_type = (headers.get("Content-Type") or "").lower()
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return {}, json.loads(body)
        except ValueError:
            return {}, None
    return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True)), None


class Dispatcher:
    """Runs one request end to end; the HTTP handler only reads bytes and writes the outcome."""

    def __init__(
        self,
        venues: Mapping[str, Venue],
        faults: FaultBook,
        log: RequestLog,
        lock: threading.RLock,
        stopping: threading.Event,
        control: ControlHandler | None = None,
    ) -> None:
        self.venues = venues
        self.faults = faults
        self.log = log
        self.lock = lock
        self.stopping = stopping
        self.control = control
        self.latency_ms: dict[str, int] = {}
        self.internal_errors: list[str] = []

    def serve(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        split = urlsplit(raw_path)
        _, _, rest = split.path.partition("/")
        venue_name, _, venue_path = rest.partition("/")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        form, payload = _parse_body(headers, body)
        if venue_name == CONTROL_PREFIX and self.control is not None:
            return self.control(method, "/" + venue_path, payload if isinstance(payload, dict) else query)
        venue = self.venues.get(venue_name)
        if venue is None:
            return Reply.json({"sim_error": f"unknown venue {venue_name!r}"}, status=404)
        request = Request(method, "/" + venue_path, split.query, raw_path, headers, body, query, form, payload)
        creates = venue.creates_order(request)
        record = RequestRecord(
            venue=venue.name,
            method=method,
            path=request.path,
            params=request.params,
            api_key=venue.api_key_of(request),
            received_at_s=time.time(),
            creates_order=creates,
            client_order_ids=venue.client_order_ids(request) if creates else (),
        )
        self.log.append(record)
        started = time.monotonic()
        try:
            outcome = self._run(venue, request, record)
        except Exception:  # a simulator bug: answer 500, keep the trace for the test to fail on
            trace = traceback.format_exc()
            self.internal_errors.append(trace)
            print(trace, file=sys.stderr)
            outcome = Reply.json({"sim_internal_error": trace}, status=500)
        self.log.update(
            record,
            status=outcome.status if outcome is not None else None,
            dropped=outcome is None,
            duration_ms=(time.monotonic() - started) * 1000,
        )
        return outcome

    def _run(self, venue: Venue, request: Request, record: RequestRecord) -> Outcome:
        self._sleep(self.latency_ms.get(venue.name, 0) / 1000)
        faults = self.faults.take(venue.name, request.method, request.path, record.api_key)
        self.log.update(record, faults=tuple(("after:" if f.apply_after else "") + f.kind for f in faults))
        fraction: Decimal | None = None
        for fault in (f for f in faults if not f.apply_after):
            if fault.kind is FaultKind.PARTIAL_FILL:
                fraction = fault.fraction
                continue
            outcome = self._apply(venue, fault)
            if not isinstance(outcome, _Continue):
                return outcome
        with self.lock:
            reply = venue.handle(request, fraction)
        for fault in (f for f in faults if f.apply_after):
            outcome = self._apply(venue, fault)
            if not isinstance(outcome, _Continue):
                return outcome
        return reply

    def _apply(self, venue: Venue, fault: Fault) -> Outcome | _Continue:
        kind = fault.kind
        if kind in (FaultKind.LATENCY, FaultKind.TIMEOUT):
            self._sleep(fault.delay_s)
            return None if fault.drop else _CONTINUE
        if kind is FaultKind.DROP:
            return None
        if kind is FaultKind.HTTP_5XX:
            return self._raw(fault.status or 503, fault.body)
        if kind is FaultKind.HTTP_429:
            return self._raw(fault.status or 429, fault.body)
        if kind is FaultKind.HTML_200:
            return Reply.html(fault.body if fault.body is not None else CLOUDFLARE_HTML)
        if kind in REJECTING_FAULTS:
            return venue.error_reply(VenueError(REJECTING_FAULTS[kind], "injected"))
        return _CONTINUE  # partial_fill after processing changes nothing

    @staticmethod
    def _raw(status: int, body: bytes | None) -> Reply:
        if not body:
            return Reply(status=status, body=b"", content_type="text/plain")
        if body.lstrip()[:1] in (b"{", b"["):
            return Reply(status=status, body=body)
        return Reply.html(body, status=status)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)  # stop() wakes sleepers so shutdown is prompt


class _Headers(dict[str, str]):
    """Request headers, looked up case-insensitively (all the simulator does with them)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real venues
    disable_nagle_algorithm = True  # else ~44 ms per keep-alive request (Nagle + delayed ACK)
    server: SimHTTPServer

    def parse_request(self) -> bool:
        """The request line and headers, without the stdlib's email-package header parser: that
        parser was a third of the simulator's CPU per request, and the simulator shares the
        benchmark machine's two cores with the client it measures."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self.send_error(400, f"Bad request line {line[:100]!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(200):
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("iso-8859-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (self.request_version == "HTTP/1.0" and connection != "keep-alive")
        return True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.connection, add=False)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client went away, or stop() shut the socket
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # the request log is the record; stderr stays quiet

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        outcome = self.server.dispatcher.serve(self.command, self.path, self.headers, body)
        if outcome is None:
            self._drop()
            return
        try:
            self.send_response(outcome.status)
            self.send_header("Content-Type", outcome.content_type)
            self.send_header("Content-Length", str(len(outcome.body)))
            for name, value in outcome.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(outcome.body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class SimHTTPServer(ThreadingHTTPServer):
    """Threaded server on 127.0.0.1 that can close its keep-alive connections on stop."""

    daemon_threads = True
    request_queue_size = 256  # the default 5 makes 100 concurrent connects wait on SYN retries

    def __init__(self, port: int, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
