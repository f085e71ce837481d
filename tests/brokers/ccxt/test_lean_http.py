"""LeanSession, the HTTP transport of every ccxt client: keep-alive, chunked and compressed
bodies, and the requests exceptions ccxt translates (timeouts, dropped connections, 4xx/5xx)."""

from __future__ import annotations

import gzip
import resource
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from nija.brokers.ccxt.lean_http import LeanSession


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, body, self.client_address[1]))  # type: ignore[attr-defined]
        route = self.path.split("?")[0]
        if route == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a":', b' 1}'):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        payload, extra = body or b"{}", {}
        if route == "/gzip":
            payload, extra = gzip.compress(b'{"zipped": true}'), {"Content-Encoding": "gzip"}
        status = 429 if route == "/limited" else 200
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if route == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/slow":
            threading.Event().wait(0.5)
        self.do_POST()


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.handle_error = lambda *args: None  # type: ignore[method-assign] - the timed-out client left
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_requests_share_one_keep_alive_connection_and_send_the_body(server: ThreadingHTTPServer) -> None:
    session = LeanSession()
    for i in range(3):
        answer = session.request("POST", _url(server, f"/echo?n={i}"), data=f'{{"i": {i}}}', headers={"X-A": "1"}, timeout=5)
        assert answer.status_code == 200 and answer.text == f'{{"i": {i}}}'
    ports = {port for _, _, port in server.seen}  # type: ignore[attr-defined]
    assert len(ports) == 1  # one TCP connection for all three
    assert [path for path, _, _ in server.seen] == ["/echo?n=0", "/echo?n=1", "/echo?n=2"]  # type: ignore[attr-defined]
    session.close()


def test_chunked_and_gzip_bodies_are_decoded(server: ThreadingHTTPServer) -> None:
    session = LeanSession()
    assert session.request("POST", _url(server, "/chunked"), timeout=5).text == '{"a": 1}'
    assert session.request("POST", _url(server, "/gzip"), timeout=5).text == '{"zipped": true}'


def test_a_connection_the_server_closes_is_replaced(server: ThreadingHTTPServer) -> None:
    session = LeanSession()
    assert session.request("POST", _url(server, "/close"), data="{}", timeout=5).status_code == 200
    assert session.request("POST", _url(server, "/echo"), data='{"b": 2}', timeout=5).text == '{"b": 2}'
    assert len({port for _, _, port in server.seen}) == 2  # type: ignore[attr-defined]


def test_error_status_raises_http_error_for_ccxt_to_map(server: ThreadingHTTPServer) -> None:
    answer = LeanSession().request("POST", _url(server, "/limited"), data="{}", timeout=5)
    with pytest.raises(requests.HTTPError):
        answer.raise_for_status()


def test_timeouts_and_refused_connections_are_requests_errors(server: ThreadingHTTPServer) -> None:
    session = LeanSession()
    with pytest.raises(requests.exceptions.Timeout):
        session.request("GET", _url(server, "/slow"), timeout=0.05)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.exceptions.ConnectionError):
        session.request("GET", f"http://127.0.0.1:{port}/", timeout=1)


def test_proxies_and_multipart_are_refused_not_ignored() -> None:
    with pytest.raises(requests.RequestException):
        LeanSession().request("GET", "http://127.0.0.1:1/", proxies={"http": "http://proxy:1"})


# -- TLS: verification is on, by certificate and by host name -------------------------------------


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[ThreadingHTTPServer, str]]:
    """An HTTPS server on 127.0.0.1 whose self-signed certificate names only "localhost"."""
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.handle_error = lambda *args: None  # type: ignore[method-assign] - refused handshakes
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, str(cert_file)
    httpd.shutdown()
    httpd.server_close()


def test_an_untrusted_certificate_is_refused(tls_server) -> None:
    httpd, _ = tls_server
    with pytest.raises(requests.exceptions.SSLError):
        LeanSession().request("GET", f"https://localhost:{httpd.server_address[1]}/ok")


def test_a_trusted_certificate_works_only_for_the_host_it_names(tls_server, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    from nija.brokers.ccxt import lean_http

    httpd, cafile = tls_server
    monkeypatch.setitem(lean_http._contexts, True, ssl.create_default_context(cafile=cafile))
    session = LeanSession()
    answer = session.request("POST", f"https://localhost:{httpd.server_address[1]}/ok", data=b'{"tls": 1}')
    assert answer.status_code == 200 and answer.text == '{"tls": 1}'
    with pytest.raises(requests.exceptions.SSLError):  # the certificate does not name 127.0.0.1
        LeanSession().request("GET", f"https://127.0.0.1:{httpd.server_address[1]}/ok")


def test_a_configured_proxy_keeps_requests_for_the_venue_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    from nija.brokers.ccxt import CcxtBroker, SharedMarkets
    from nija.models import BrokerName

    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(CcxtBroker(BrokerName.OKX, "master", None, SharedMarkets()).client.session, LeanSession)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    session = CcxtBroker(BrokerName.OKX, "master", None, SharedMarkets()).client.session
    assert type(session) is requests.Session


def test_a_changed_timeout_applies_on_a_kept_alive_connection(server: ThreadingHTTPServer) -> None:
    session = LeanSession()  # the socket's timeout is set only when it changes: it must still change
    assert session.request("POST", _url(server, "/a"), data=b"{}", timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.Timeout):
        session.request("GET", _url(server, "/slow"), timeout=0.05)


def test_a_connection_on_a_descriptor_above_1023_is_kept_alive(server: ThreadingHTTPServer) -> None:
    # A thousand copy users hold more than 1,024 descriptors; select() can't watch those.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1_200:
        if hard != resource.RLIM_INFINITY and hard < 1_200:
            pytest.skip(f"open-file hard limit {hard} is below 1,200")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1_200, hard))
    fillers = [socket.socket() for _ in range(1_100)]
    try:
        session = LeanSession()
        for i in range(3):
            assert session.request("POST", _url(server, "/echo"), data=f'{{"i": {i}}}', timeout=5).status_code == 200
        (connection,) = session._connections.values()
        assert connection.sock.fileno() > 1_023
        assert len({port for _, _, port in server.seen}) == 1  # type: ignore[attr-defined]
        session.close()
    finally:
        for filler in fillers:
            filler.close()
        if soft != resource.RLIM_INFINITY and soft < 1_200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
