"""Fixtures for the dashboard's tests: `python -m nija.web` as a subprocess on 127.0.0.1 over a
built store, and a headless Debian chromium driven by selenium (nothing reaches the internet)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import eventually, stop_daemon
from tests.web.builders import CANARY, FOLLOWER_CANARY, build_paper_store

TOKEN = "web-test-token-0123456789"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@dataclass(frozen=True)
class Served:
    """A running dashboard: its base URL, its data dir and its process."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a dashboard process: no developer setting leaks in; the canary is a
    configured secret, so the redactor knows it."""
    prefixes = ("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(NIJA_DATA_DIR=str(data_dir), NIJA_LOG_FORMAT="json", PYTHONUNBUFFERED="1",
               KRAKEN_MASTER_API_KEY=CANARY, KRAKEN_MASTER_API_SECRET=CANARY + "-s",
               KRAKEN_USER_CAROL_API_KEY=FOLLOWER_CANARY, KRAKEN_USER_CAROL_API_SECRET=FOLLOWER_CANARY + "-s")
    env.update(extra)
    return env


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _serve(tmp: Path, **extra: str) -> Iterator[Served]:
    data_dir = tmp / "data"
    build_paper_store(data_dir)
    port = free_port()
    # A long refresh: the pages show the one snapshot the test computed its figures against.
    env = web_env(data_dir, NIJA_WEB_PORT=str(port), NIJA_WEB_REFRESH_SECONDS="600", **extra)
    with open(tmp / "web.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija.web"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: _listening(port) or proc.poll() is not None, 30, "the dashboard to listen")
            assert proc.poll() is None, (tmp / "web.log").read_text()
            yield Served(f"http://127.0.0.1:{port}", data_dir, proc)
        finally:
            stop_daemon(proc)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard over a paper run's store, open (bound to 127.0.0.1 without a token)."""
    yield from _serve(tmp_path_factory.mktemp("web-open"))


@pytest.fixture(scope="module")
def served_with_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard with NIJA_WEB_TOKEN set: every request needs it."""
    yield from _serve(tmp_path_factory.mktemp("web-token"), NIJA_WEB_TOKEN=TOKEN)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless chromium through chromedriver, logging the pages' console; its proxy is a
    closed local port, so any request beyond 127.0.0.1 fails (and shows in the console)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/test.sh installs them with apt-get)")
    pytest.importorskip("selenium", reason="selenium is not installed (the test extra: scripts/test.sh installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--disable-default-apps", "--proxy-server=http://127.0.0.1:9"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
