"""Paper trading on live prices: the paper venue's fills follow the venue's public prices, and
not a single private (keyed) request is made."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from nija.build import Shared, build_loops
from nija.config import load_settings
from nija.models import OrderRequest, OrderStatus, QuantityUnit, Side
from nija.store import Store
from tests.sim.simulator import Simulator


def test_paper_fills_on_the_venues_public_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with Simulator(venues=["kraken"]) as sim:
        sim.set_price("kraken", "BTC/USD", Decimal("61234.5"))
        for key, value in {
            "NIJA_PAPER_MARKET": "live", "NIJA_PAPER_BROKERS": "kraken", "NIJA_KRAKEN_API_URL": sim.url("kraken"),
            "NIJA_SYMBOLS_KRAKEN": "BTC/USD", "NIJA_DATA_DIR": str(tmp_path / "data"),
        }.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        store = Store(tmp_path / "data" / "nija.db")
        [loop], failed = build_loops(settings, "paper", store, structlog.get_logger("t"), Shared())
        assert failed == []
        health = loop.run_cycle()
        assert health.status == "healthy", health.last_error
        report = loop.broker.place(
            OrderRequest(broker="kraken", account="master", symbol="BTC/USD", side=Side.BUY, quantity=Decimal("100"),
                         unit=QuantityUnit.QUOTE, client_order_id="njlivepaper0000001")
        )
        assert report.status is OrderStatus.FILLED
        assert Decimal("61234.5") < report.avg_price < Decimal("61234.5") * Decimal("1.002")  # ask + slippage
        assert sim.orders("kraken") == []  # the fill was simulated, nothing reached the venue
        assert sim.requests("kraken") and not sim.requests("kraken", path_contains="/private/")
        store.close()
