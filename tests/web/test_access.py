"""Who may see the dashboard: the token gate, the refusal to open a non-loopback address
without a token, and the command line's own answers (--help, a bad setting)."""

from __future__ import annotations

import io
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nija.web.__main__ import main
from tests.web.conftest import TOKEN, Served, web_env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """GET without following redirects: (status, body, headers)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {})) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


@pytest.mark.parametrize("page", ["/", "/account/kraken/master", "/ledger", "/no-such-page"])
def test_every_page_is_401_without_the_token(served_with_token: Served, page: str) -> None:
    status, body, headers = _get(served_with_token.url + page)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert "master" not in body and TOKEN not in body


def test_a_wrong_token_is_401(served_with_token: Served) -> None:
    status, _, _ = _get(served_with_token.url + "/", {"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert status == 401
    assert _get(served_with_token.url + "/?token=nope")[0] == 401


def test_the_bearer_header_or_the_cookie_opens_every_page(served_with_token: Served) -> None:
    for page in ("/", "/account/kraken/master", "/ledger"):
        status, body, _ = _get(served_with_token.url + page, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "master" in body and TOKEN not in body
        status, body, _ = _get(served_with_token.url + page, {"Cookie": f"nija_web_token={TOKEN}"})
        assert status == 200 and "master" in body


def test_a_token_in_the_address_becomes_a_cookie_and_leaves_the_address(served_with_token: Served) -> None:
    status, _, headers = _get(served_with_token.url + f"/ledger?user=bob&token={TOKEN}")
    assert status == 303 and headers["location"] == "/ledger?user=bob"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"nija_web_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_the_browser_signs_in_once_with_the_token(served_with_token: Served, browser: Any) -> None:
    browser.get(served_with_token.url + f"/?token={TOKEN}")
    assert "Overview" in browser.find_element("tag name", "body").text and "token" not in browser.current_url
    browser.get(served_with_token.url + "/ledger")  # the cookie carries it from now on
    assert "Copy ledger" in browser.find_element("tag name", "body").text


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nija.web", *args], cwd=tmp_path, capture_output=True, text=True,
                          env=web_env(tmp_path / "data", **env), timeout=60)


def _refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """Run `python -m nija.web`'s main in this process (each refusal comes before anything is
    opened or configured); return the lines it printed, after checking it exited 2."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    err = io.StringIO()
    assert main([], err=err) == 2
    return err.getvalue().strip().splitlines()


def test_a_non_loopback_address_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refused(monkeypatch, NIJA_WEB_HOST="0.0.0.0")
    assert "NIJA_WEB_TOKEN" in line and "0.0.0.0" in line


def test_a_bad_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refused(monkeypatch, NIJA_WEB_PORT="eighty") == [
        "nija.web: config error: NIJA_WEB_PORT='eighty': Input should be a valid integer, unable to parse string"
        " as an integer; accepted: a port from 1 to 65535"
    ]
    monkeypatch.delenv("NIJA_WEB_PORT")
    [line] = _refused(monkeypatch, NIJA_WEB_TOKEN="short-secret")
    assert "NIJA_WEB_TOKEN=<secret>: too short" in line and "short-secret" not in line


def test_no_store_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refused(monkeypatch, NIJA_DATA_DIR=str(tmp_path / "data"))
    assert "no store" in line
    assert not (tmp_path / "data").exists()


def test_help_exits_0_and_creates_nothing(tmp_path: Path) -> None:
    done = _run(tmp_path, "--help")
    assert done.returncode == 0 and "NIJA_WEB_TOKEN" in done.stdout
    assert list(tmp_path.iterdir()) == []
