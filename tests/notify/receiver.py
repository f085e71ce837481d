"""A tiny HTTP receiver on 127.0.0.1 for apprise's JSON webhook (`json://127.0.0.1:PORT/...`): it
records every request, or answers 500, or hangs until released, as a test sets it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """The server and what it saw; `mode` is "ok", "fail" (500) or "hang"."""

    server: ThreadingHTTPServer
    mode: str = "ok"
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (or the timeout), and return them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_receiver(mode: str = "ok") -> Receiver:
    """Serve on an ephemeral port of 127.0.0.1 from a daemon thread."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            receiver = holder["r"]
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.arrived:
                receiver.requests.append(Received(self.path, dict(self.headers), raw))
                receiver.arrived.notify_all()
            if receiver.mode == "hang":
                receiver.release.wait(30)
            status = 500 if receiver.mode == "fail" else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["r"] = receiver = Receiver(server, mode)
    threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True).start()
    return receiver
