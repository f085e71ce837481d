"""One fee table: the documented numbers, round trips and env overrides seen by every reader.
No other module may carry a fee number of its own."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from nija.brokers.fees import DEFAULT_FEES, configure_fees, fee_schedule
from nija.config import ConfigError, load_settings
from nija.models import BrokerName, FeeSchedule

D = Decimal
PACKAGE = Path(__file__).resolve().parents[2] / "nija"


@pytest.fixture(autouse=True)
def _default_table():
    configure_fees({})
    yield
    configure_fees({})


def test_the_table_is_the_issue_table() -> None:
    percent = {b: (f.taker * 100, f.maker * 100, f.spread * 100) for b, f in DEFAULT_FEES.items()}
    assert percent == {
        BrokerName.COINBASE: (D("0.60"), D("0.40"), D("0.20")),
        BrokerName.KRAKEN: (D("0.26"), D("0.16"), D("0.10")),
        BrokerName.OKX: (D("0.10"), D("0.08"), D("0.05")),
        BrokerName.BINANCE: (D("0.10"), D("0.10"), D("0.05")),
        BrokerName.ALPACA: (D("0"), D("0"), D("0.10")),
    }
    round_trips = {b: fee_schedule(b).round_trip * 100 for b in BrokerName}
    assert round_trips == {
        BrokerName.COINBASE: D("1.40"), BrokerName.KRAKEN: D("0.62"), BrokerName.OKX: D("0.25"),
        BrokerName.BINANCE: D("0.25"), BrokerName.ALPACA: D("0.10"),
    }


def test_no_other_module_holds_a_fee_number() -> None:
    # The original had Kraken at 0.26, 0.36, 0.52 and 0.67 % in four modules (§5.3).
    fee_like = re.compile(r"Decimal\(\"0\.00(26|16|60|40|36|52|67|14)\d*\"\)|\b0\.0026\b|\b0\.006\b")
    offenders = [
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if path.name != "fees.py" and fee_like.search(path.read_text())
    ]
    assert offenders == []


def test_env_overrides_reach_every_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_FEES_KRAKEN", "0.16, 0.10, 0.08")
    configure_fees(load_settings().fee_overrides())
    assert fee_schedule(BrokerName.KRAKEN) == FeeSchedule(D("0.0016"), D("0.0010"), D("0.0008"))
    assert fee_schedule(BrokerName.KRAKEN).round_trip == D("0.0040")
    assert fee_schedule(BrokerName.COINBASE) == DEFAULT_FEES[BrokerName.COINBASE]  # the rest stay


@pytest.mark.parametrize("value", ["0.26,0.16", "a,b,c", "0.26,0.16,-1", "20,0,0"])
def test_a_bad_override_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NIJA_FEES_OKX", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("config error: NIJA_FEES_OKX=") and "\n" not in message
