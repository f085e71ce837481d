"""Every venue has at least 8 recorded real answers (tests/brokers/recorded/<venue>/*.json), each
naming its public source; the ccxt venues' files also say whether the body was modified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RECORDED = Path(__file__).parent / "recorded"
VENUES = ("kraken", "coinbase", "binance", "okx", "alpaca")


@pytest.mark.parametrize("venue", VENUES)
def test_at_least_eight_recorded_answers_each_naming_its_source(venue: str) -> None:
    files = sorted((RECORDED / venue).glob("*.json"))
    assert len(files) >= 8
    for path in files:
        recorded = json.loads(path.read_text())
        assert recorded["source"], path.name
        # Coinbase's recordings are whole HTTP answers (status, body) replayed by route
        assert ("body" in recorded and isinstance(recorded["status"], int)) if venue == "coinbase" else (
            "modified" in recorded
        ), path.name
