"""LeanSession: the part of `requests.Session` ccxt uses, over one keep-alive HTTP/1.1
connection per host, for a ccxt client that one thread uses at a time.

Why: ccxt's sync `fetch` spends about half of a request's client CPU inside requests (settings
merged per call, proxy and environment lookups, cookie jars, hooks, adapters, urllib3 pools).
A copy fan-out to a thousand accounts is bound by that CPU (issue 4: ≤ 1 ms per user order on
two cores), and NIJA needs none of it: no proxies, cookies, redirects or multipart bodies.
http.client is not used either: it sends headers and body in two writes and parses headers
with the email package; here a request is one write and the answer a few buffered reads.
ccxt itself still builds, signs and parses every request and maps every error: this class
raises the same `requests` exceptions ccxt's `fetch` translates (a timeout is a
`RequestTimeout`, a dropped connection a `NetworkError`, an HTTP error status goes through the
exchange's own `handle_errors`).

A connection is never retried here: a request that fails on a connection the venue closed is
an error like any other (for an order: outcome unknown, looked up by client id, never re-sent).
Before reusing a kept-alive connection it is checked for an EOF the venue already sent, as
urllib3 does, so idle closes rarely surface as errors.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import threading
import zlib
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.util.wait import wait_for_read

__all__ = ["LeanResponse", "LeanSession"]

_DEFAULT_HEADERS: Final = {"Accept": "*/*", "Connection": "keep-alive"}
_contexts: dict[bool, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process (loading CAs per account costs time and memory), certifi's
    CAs as requests uses them; `verify=False` only when a caller explicitly turned checks off."""
    with _contexts_lock:
        context = _contexts.get(verify)
        if context is None:
            if verify:
                try:
                    import certifi

                    context = ssl.create_default_context(cafile=certifi.where())
                except ImportError:  # pragma: no cover - certifi ships with requests
                    context = ssl.create_default_context()
            else:
                context = ssl._create_unverified_context()  # noqa: S323 - explicit opt-out only
            _contexts[verify] = context
        return context


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """The body without its content encoding (ccxt asks venues for gzip or deflate)."""
    encoding = (encoding or "").strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:  # raw deflate without the zlib header, as some servers send it
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


class LeanResponse:
    """What ccxt's `fetch` reads from a `requests.Response`."""

    def __init__(self, status: int, reason: str, headers: CaseInsensitiveDict[str], content: bytes, url: str) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content = content
        self.url = url
        self.encoding: str | None = "utf-8"

    @property
    def text(self) -> str:
        """The body as text (ccxt sets `encoding` to utf-8)."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def raise_for_status(self) -> None:
        """Raise `requests.HTTPError` for 4xx/5xx, as requests does (ccxt maps it)."""
        if 400 <= self.status_code < 600:
            raise requests.HTTPError(f"{self.status_code} {self.reason} for url: {self.url}", response=self)  # type: ignore[arg-type]


class _NoCookies:
    """ccxt clears the session's cookies before every request; there are none to keep."""

    def clear(self) -> None:
        return None


class _Connection:
    """One HTTP/1.1 keep-alive connection: a request is one `sendall`, the answer is read with a
    buffered reader (status line, headers, then Content-Length or chunked body)."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float | None, verify: bool) -> None:
        self.host_header = host if port in (80, 443) else f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            raise requests.exceptions.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except OSError as exc:
            raise requests.exceptions.ConnectionError(f"Connection aborted.: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests go out at once
        if scheme == "https":
            try:
                sock = _ssl_context(verify).wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise requests.exceptions.SSLError(f"TLS with {host}:{port} failed: {exc}") from exc
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.timeout = sock.gettimeout()  # settimeout costs a syscall: only when it changes

    def exchange(self, method: str, path: str, headers: dict[str, str], body: bytes | None, timeout: float | None
                 ) -> tuple[int, str, CaseInsensitiveDict[str], bytes, bool]:
        """Send one request, read its answer: (status, reason, headers, body, connection closes)."""
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length"))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        self.sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b""))
        while True:
            status, reason, version = self._status_line()
            answer_headers = self._headers()
            if status >= 200 or status == 101:
                break  # 1xx (100 Continue) is followed by the real answer
        content, until_eof = self._body(method, status, answer_headers)
        connection = (answer_headers.get("Connection") or "").lower()
        closes = until_eof or "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        return status, reason, answer_headers, content, closes

    def _status_line(self) -> tuple[int, str, str]:
        line = self.reader.readline(65537)
        if not line:
            raise http.client.RemoteDisconnected("the venue closed the connection without an answer")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise http.client.BadStatusLine(line.decode("latin-1", errors="replace")[:100])
        return int(parts[1]), parts[2] if len(parts) > 2 else "", parts[0]

    def _headers(self) -> CaseInsensitiveDict[str]:
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for _ in range(200):
            line = self.reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip()] = value.strip()
        raise http.client.HTTPException("more than 200 header lines")

    def _body(self, method: str, status: int, headers: CaseInsensitiveDict[str]) -> tuple[bytes, bool]:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b"", False
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            return self._chunked(), False
        length = headers.get("Content-Length")
        if length is not None:
            wanted = int(length)
            content = self.reader.read(wanted)
            if len(content) != wanted:
                raise http.client.IncompleteRead(content, wanted - len(content))
            return content, False
        return self.reader.read(), True  # no length: the body runs until the venue closes

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self.reader.readline(65537)
            if not size_line:
                raise http.client.IncompleteRead(b"".join(parts))
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.reader.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            chunk = self.reader.read(size)
            if len(chunk) != size:
                raise http.client.IncompleteRead(chunk, size - len(chunk))
            parts.append(chunk)
            self.reader.readline(65537)  # the CRLF after the chunk

    def close(self) -> None:
        """Close the socket (and its reader)."""
        try:
            self.reader.close()
        finally:
            self.sock.close()


class LeanSession:
    """A `requests.Session` stand-in for one ccxt client: keep-alive, no proxies, cookies or redirects."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = dict(_DEFAULT_HEADERS)  # ccxt merges these into every request
        self.cookies = _NoCookies()
        self.trust_env = False
        self._connections: dict[tuple[str, str, int], _Connection] = {}

    def request(
        self,
        method: str,
        url: str,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float] | None = None,
        proxies: dict[str, str] | None = None,
        verify: bool = True,
        files: Any = None,
        **_: Any,
    ) -> LeanResponse:
        """Send one request and read the whole answer; errors are requests' exception types."""
        if files or proxies:
            raise requests.RequestException("LeanSession sends neither multipart bodies nor through proxies")
        seconds = timeout[1] if isinstance(timeout, tuple) else timeout
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise requests.exceptions.InvalidSchema(f"no connection for scheme {parts.scheme!r}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = data.encode() if isinstance(data, str) else data
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        connection = self._connection(key, seconds, verify)
        try:
            status, reason, response_headers, content, closes = connection.exchange(
                method, path, headers or {}, body, seconds
            )
        except TimeoutError as exc:
            self._drop(key)
            raise requests.exceptions.ReadTimeout(f"Read timed out: {method} {url}") from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            self._drop(key)
            raise requests.exceptions.ConnectionError(f"Connection aborted.: {type(exc).__name__}: {exc}") from exc
        if closes:
            self._drop(key)
        try:
            content = _decoded(content, response_headers.get("Content-Encoding"))
        except (OSError, zlib.error, EOFError) as exc:
            raise requests.exceptions.ContentDecodingError(f"undecodable body from {url}: {exc}") from exc
        return LeanResponse(status, reason, response_headers, content, url)

    def _connection(self, key: tuple[str, str, int], timeout: float | None, verify: bool) -> _Connection:
        connection = self._connections.get(key)
        if connection is not None and _closed_by_peer(connection.sock):
            self._drop(key)
            connection = None
        if connection is None:
            connection = self._connections[key] = _Connection(*key, timeout, verify)
        return connection

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Close every connection."""
        for key in list(self._connections):
            self._drop(key)


def _closed_by_peer(sock: socket.socket) -> bool:
    """A kept-alive socket that is readable while no request is out was closed (or is garbage).
    urllib3's check, which polls: select() can't take a descriptor above 1,023, and a daemon
    copying to a thousand users has more open than that."""
    try:
        return wait_for_read(sock, timeout=0)
    except (OSError, ValueError):
        return True
