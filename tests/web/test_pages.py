"""Every dashboard page in a real headless browser over a paper run's store: no console error,
the store's account names and figures on the page, no secret anywhere, nothing written."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from typing import Any

from nija.report.collect import Window, collect
from nija.store import Store, db_path
from tests.web.builders import CANARY, FOLLOWER_CANARY, FOLLOWERS, SKIPPED
from tests.web.conftest import Served


def _load(browser: Any, url: str) -> str:
    """Open `url`, return the page's visible text, and fail on any console message at
    warning level or above (a failed resource, a CSP violation, a script error)."""
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(url)
    text = browser.find_element("tag name", "body").text
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == [], problems
    return text


def _totals(data_dir: Path) -> dict[str, str]:
    """Each account's total P&L as the page prints it, from the report's own figures."""
    store = Store(db_path(data_dir), readonly=True)
    try:
        report = collect(store, Window())
    finally:
        store.close()
    return {a.account: f"{a.totals.cumulative_end:+,.2f}" for a in report.accounts}


def test_overview_lists_every_account_with_its_figures(served: Served, browser: Any) -> None:
    text = _load(browser, served.url + "/")
    totals = _totals(served.data_dir)
    for account in ("master", *FOLLOWERS, SKIPPED):
        assert account in text
    assert totals["master"] != "+0.00" and totals["master"] in text
    for user in FOLLOWERS:
        assert totals[user] in text
    assert "10,050.00" in text  # the master's newest equity snapshot
    assert "healthy" in text and "running" in text
    assert CANARY not in browser.page_source


def test_account_pages_show_chart_positions_trades_and_copy_quality(served: Served, browser: Any) -> None:
    master = _load(browser, served.url + "/account/kraken/master")
    assert "Equity" in master and browser.find_elements("css selector", "svg.chart polyline")
    assert "0.06" in master and "BTC/USD" in master  # the open position
    assert "61,000.00" in master and "60,000.00" in master  # both fills in the trade history
    alice = _load(browser, served.url + "/account/kraken/alice")
    assert "Copy quality" in alice and "filled 2" in alice
    assert "251 ms" not in alice and "250 ms" in alice  # alice's fill latency; 251 is bob's
    carol = _load(browser, served.url + "/account/kraken/carol")
    assert "below minimum" in carol and CANARY not in browser.page_source
    assert "[REDACTED]" in carol or "***" in carol


def test_ledger_page_lists_copies_and_filters_by_follower(served: Served, browser: Any) -> None:
    text = _load(browser, served.url + "/ledger")
    for user in (*FOLLOWERS, SKIPPED):
        assert user in text
    assert "skipped" in text and "below minimum" in text
    assert CANARY not in browser.page_source and FOLLOWER_CANARY not in browser.page_source
    only_bob = _load(browser, served.url + "/ledger?user=bob")
    assert "bob" in only_bob and "alice" not in only_bob
    browser.find_element("link text", "bob").click()  # a ledger row links to the follower's page
    assert browser.current_url.endswith("/account/kraken/bob")


def test_pages_refresh_themselves_and_reach_nothing_outside(served: Served) -> None:
    with urllib.request.urlopen(served.url + "/") as response:
        page = response.read().decode()
        policy = response.headers["content-security-policy"]
    assert '<meta http-equiv="refresh" content="600">' in page
    assert "default-src 'none'" in policy and "http" not in policy
    assert "<script" not in page and "https://" not in page


def test_serving_writes_nothing_to_the_store(served: Served) -> None:
    path = db_path(served.data_dir)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for page in ("/", "/account/kraken/master", "/ledger"):
        with urllib.request.urlopen(served.url + page) as response:
            assert response.status == 200
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_unknown_account_is_a_404_the_console_check_sees(served: Served, browser: Any) -> None:
    # The console check above is not vacuous: a failed load is a SEVERE entry in the same log.
    browser.get_log("browser")
    browser.get(served.url + "/account/kraken/nobody")
    assert "No such account" in browser.find_element("tag name", "body").text
    assert any("404" in entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE")
