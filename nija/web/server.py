"""Run the dashboard: uvicorn serving `site`'s application on its own thread, and the snapshot
thread refreshing the figures. The same object runs it for `python -m nija.web` and inside the
daemon (NIJA_WEB=true), where `stop` must return within the daemon's shutdown deadline.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any, Final

import uvicorn

from nija.config import Settings
from nija.logs import redact_text
from nija.store import db_path
from nija.store.dashboard import DashboardStore
from nija.web.site import create_app
from nija.web.snapshot import SnapshotCache

__all__ = ["WebServer", "bind_problem", "is_loopback", "start_web"]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_START_POLL_SECONDS: Final = 0.05
# uvicorn closes open connections after this on stop: a browser's kept-alive connection would
# otherwise hold the shutdown until it times out.
_GRACEFUL_SECONDS: Final = 1


def is_loopback(host: str) -> bool:
    """Whether binding `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything, so it is not loopback
        return False


def bind_problem(settings: Settings) -> str | None:
    """One line saying why the dashboard must not start with `settings`, or None."""
    if settings.web_token is None and not is_loopback(settings.web_host):
        return (
            f"NIJA_WEB_HOST={settings.web_host} is not a loopback address: set NIJA_WEB_TOKEN (16+ characters)"
            " so the dashboard is not open to the network, or bind 127.0.0.1"
        )
    return None


class WebServer:
    """The dashboard over the store at `store.path`: `start` serves it on a thread, `stop` ends it."""

    def __init__(self, settings: Settings, store: DashboardStore, log: Any, *, owns_store: bool = False) -> None:
        self._settings = settings
        self._store = store
        self._owns_store = owns_store
        self._log = log
        self._stop = threading.Event()
        self.cache = SnapshotCache(store, settings.web_refresh_seconds, log)
        token = settings.web_token.get_secret_value() if settings.web_token is not None else None
        app = create_app(store, self.cache, token, settings.web_refresh_seconds)
        config = uvicorn.Config(
            app, host=settings.web_host, port=settings.web_port, log_config=None, access_log=False,
            timeout_graceful_shutdown=_GRACEFUL_SECONDS, server_header=False, lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """Where the dashboard is served."""
        host = f"[{self._settings.web_host}]" if ":" in self._settings.web_host else self._settings.web_host
        return f"http://{host}:{self._settings.web_port}/"

    def start(self, timeout: float = 10.0, *, figures_first: bool = True) -> bool:
        """Serve; return once listening (True) or when the server could not start (False: the
        port is taken, the address is not this machine's). With `figures_first` the first
        snapshot is computed before (the first page has every figure); without, on the snapshot
        thread (pages say they are starting until it is ready), so the caller is not held up."""
        if figures_first:
            self.cache.refresh()
        serve = threading.Thread(target=self._serve, name="web-server", daemon=True)
        refresh = threading.Thread(target=self.cache.run, args=(self._stop,), name="web-snapshot", daemon=True)
        self._threads = [serve, refresh]
        serve.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and serve.is_alive() and time.monotonic() < deadline:
            time.sleep(_START_POLL_SECONDS)
        if not self._server.started:
            self._log.error("web_not_started", url=self.url, detail="see the error above (port in use?)")
            self.stop(1.0)
            return False
        refresh.start()
        self._log.info("web_started", url=self.url, token_required=self._settings.web_token is not None)
        return True

    def _serve(self) -> None:
        try:
            self._server.run()  # on a thread uvicorn installs no signal handler: the owner stops it
        except SystemExit:  # uvicorn exits when it cannot bind; the thread ends, the owner is told
            self._log.error("web_bind_failed", url=self.url)

    def request_stop(self) -> None:
        """Ask both threads to end, without waiting (the daemon stops its loops meanwhile)."""
        self._stop.set()
        self._server.should_exit = True

    def stop(self, timeout: float) -> list[str]:
        """Ask both threads to end and wait up to `timeout` seconds; return the ones still alive.
        A store this server opened (`start_web`) is closed once they have ended."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if self._owns_store and not stuck:
            self._store.close()
        self._log.info("web_stopped", stuck_threads=stuck)
        return stuck

    def wait(self, stop: threading.Event) -> None:
        """Block until `stop` is set or the server thread ends by itself."""
        while not stop.wait(0.2):
            if not any(t.is_alive() for t in self._threads[:1]):
                return


def start_web(settings: Settings, log: Any) -> WebServer | None:
    """Start the dashboard inside the daemon (NIJA_WEB=true) on its own read-only store; None,
    with an error logged, when it cannot start: the dashboard failing never stops trading."""
    try:
        server = WebServer(settings, DashboardStore(db_path(settings.data_dir), readonly=True), log, owns_store=True)
        # The first P&L pass runs on the snapshot thread: at 1,000 followers it takes seconds,
        # and the daemon's main thread must go on writing its heartbeat meanwhile.
        if server.start(figures_first=False):
            return server
    except Exception as exc:  # a store it cannot read yet, a bad address: trading goes on without it
        log.error("web_not_started", error=redact_text(f"{type(exc).__name__}: {exc}"))
    return None
