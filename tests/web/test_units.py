"""The dashboard's pure parts: which addresses count as loopback, the settings' defaults, the
equity chart's SVG, and the figures' refresh rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nija.config import load_settings
from nija.store import db_path
from nija.store.dashboard import DashboardStore
from nija.web.charts import equity_svg
from nija.web.server import bind_problem, is_loopback
from nija.web.snapshot import SnapshotCache, today_window
from tests.web.builders import build_paper_store


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "nija.example.org"])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_defaults_bind_loopback_without_a_token() -> None:
    settings = load_settings()
    assert (settings.web, settings.web_host, settings.web_port, settings.web_token) == (False, "127.0.0.1", 8787, None)
    assert settings.web_refresh_seconds == 30 and bind_problem(settings) is None


def test_a_public_address_needs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_WEB_HOST", "0.0.0.0")
    assert "NIJA_WEB_TOKEN" in (bind_problem(load_settings()) or "")
    monkeypatch.setenv("NIJA_WEB_TOKEN", "a-long-enough-token-123")
    settings = load_settings()
    assert bind_problem(settings) is None and "a-long-enough-token-123" in settings.secret_values()


def test_equity_chart_draws_the_series_with_its_range() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    svg = str(equity_svg([(t0, Decimal("1000")), (t0 + timedelta(hours=1), Decimal("1234.5"))], "Equity <x>"))
    assert svg.startswith("<svg") and "<polyline" in svg and "1,234.50" in svg and "1,000.00" in svg
    assert "Equity &lt;x&gt;" in svg  # the title is escaped
    flat = str(equity_svg([(t0, Decimal("5")), (t0 + timedelta(hours=1), Decimal("5"))], "flat"))
    assert "<polyline" in flat
    assert "<circle" in str(equity_svg([(t0, Decimal("5"))], "one point"))
    assert "No equity" in str(equity_svg([], "none"))


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_: object) -> None:
        self.events.append(event)

    error = info = warning


def test_figures_are_folded_again_only_when_the_store_changed(tmp_path: Path) -> None:
    build_paper_store(tmp_path / "data")
    store = DashboardStore(db_path(tmp_path / "data"), readonly=True)
    try:
        cache = SnapshotCache(store, 30, _Log())
        first = cache.refresh()
        second = cache.refresh()
        assert second.report is first.report and second.status_at >= first.status_at  # health is re-read
        assert {a.account for a in first.report.accounts} == {"master", "alice", "bob", "carol"}
        assert first.report.window == today_window(first.report_at)
    finally:
        store.close()
