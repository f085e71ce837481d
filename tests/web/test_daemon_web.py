"""NIJA_WEB=true: the daemon serves the dashboard over its own paper run's store, stops it with
everything else on SIGTERM (exit 0), and refuses to start on a non-loopback address without a token."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.support import eventually
from tests.web.conftest import free_port, web_env


def _overview(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_the_daemon_serves_the_dashboard_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = web_env(tmp_path / "data", NIJA_WEB="true", NIJA_WEB_PORT=str(port), NIJA_PAPER_BROKERS="kraken",
                  NIJA_CYCLE_SECONDS="1", NIJA_WEB_REFRESH_SECONDS="2")
    for secret in ("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET", "KRAKEN_USER_CAROL_API_KEY",
                   "KRAKEN_USER_CAROL_API_SECRET"):
        env.pop(secret)  # a paper run
    url = f"http://127.0.0.1:{port}/"
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # The master's row appears once its first cycle is stored and the dashboard has refreshed.
            page = eventually(lambda: (p := _overview(url)) and "/account/kraken/master" in p and "healthy" in p and p,
                              60, "the dashboard to show the paper master")
            assert "running" in page and "paper" in page
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
    assert code == 0, (tmp_path / "daemon.log").read_text()[-2000:]
    assert _overview(url) is None  # nothing listens any more
    assert '"web_stopped"' in (tmp_path / "daemon.log").read_text()


def test_the_daemon_refuses_a_public_dashboard_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process: the refusal comes before anything is created or any handler installed.
    from nija.app import main

    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NIJA_WEB", "true")
    monkeypatch.setenv("NIJA_WEB_HOST", "0.0.0.0")
    err = io.StringIO()
    assert main([], err=err) == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "NIJA_WEB_TOKEN" in lines[0] and lines[0].startswith("nija: NIJA_WEB_HOST=0.0.0.0")
    assert not (tmp_path / "data").exists()  # refused before anything was created
