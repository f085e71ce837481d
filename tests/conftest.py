"""Shared fixtures: a clean environment (no developer .env or NIJA_* leaking in), a store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nija.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_candles_dir() -> Path:
    """The shared historical candles (never copied into the repo); NIJA_TEST_CANDLES_DIR overrides."""
    override = os.environ.get("NIJA_TEST_CANDLES_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data" / "candles"


_CONFIG_PREFIXES = (
    "NIJA_", "COINBASE_", "KRAKEN_", "OKX_", "BINANCE_", "ALPACA_", "MULTI_BROKER", "MINIMUM_FUNDED", "MAX_CONCURRENT",
    "FOLLOWER_", "COPY_DRIFT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts without NIJA settings in the environment and outside the repo's .env."""
    for key in list(os.environ):
        if key.startswith(_CONFIG_PREFIXES) and key != "NIJA_TEST_CANDLES_DIR":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data" / "nija.db")
    yield s
    s.close()
