"""Doctor fixtures: a simulator, and accounts configured as a user would (.env variables pointing
the real clients at the simulator), checked in-process through `nija.doctor.cli.main`."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import pytest

from nija.doctor.cli import main
from tests.sim.simulator import Simulator

# venue -> (credential variables, cash currency, the symbol NIJA is told to trade)
VENUES: Final = {
    "kraken": (("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET"), "USD", "BTC/USD"),
    "binance": (("BINANCE_API_KEY", "BINANCE_API_SECRET"), "USDT", "BTC/USDT"),
    "okx": (("OKX_API_KEY", "OKX_API_SECRET", "OKX_PASSPHRASE"), "USDT", "BTC/USDT"),
    "coinbase": (("COINBASE_API_KEY", "COINBASE_API_SECRET"), "USD", "BTC/USD"),
    "alpaca": (("ALPACA_API_KEY", "ALPACA_API_SECRET"), "USD", "AAPL"),
}


@dataclass
class Run:
    """One doctor run: its exit code, what it printed, and the JSON document when asked for."""

    code: int
    out: str
    err: str

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.out)

    def checks(self, account: int = 0) -> dict[str, tuple[str, str]]:
        """check name -> (result, detail) of one account (JSON runs)."""
        return {c["check"]: (c["result"], c["detail"]) for c in self.doc["accounts"][account]["checks"]}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator
        assert not simulator.internal_errors, simulator.internal_errors


Configure = Callable[..., tuple[str, str]]
# Kraken paces private calls per key across the whole process (kraken_budget): a fresh key per test.
_serial = itertools.count()


@pytest.fixture
def configure(sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Configure:
    """Give `venue` a funded master account at the simulator and set its variables as .env would;
    returns (api_key, secret)."""
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))

    def setup(venue: str, cash: str = "10000", *, key: str | None = None, symbols: str | None = None,
              holdings: dict[str, str] | None = None) -> tuple[str, str]:
        variables, currency, symbol = VENUES[venue]
        n = next(_serial)
        key = key or (f"PKDOCTOR{n:06d}" if venue == "alpaca" else f"doctor-{venue}-key-{n:06d}")
        balances = {currency: Decimal(cash), **{a: Decimal(q) for a, q in (holdings or {}).items()}}
        account = sim.add_account(venue, key, balances=balances, passphrase="doctor-pass-phrase")
        if venue == "alpaca":
            sim.venue("alpaca").set_market_open(True)  # type: ignore[attr-defined]
        values = (key, account.secret, "doctor-pass-phrase")
        for variable, value in zip(variables, values):
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv(f"NIJA_{venue.upper()}_API_URL", sim.url(venue))
        monkeypatch.setenv(f"NIJA_SYMBOLS_{venue.upper()}", symbols if symbols is not None else symbol)
        return key, account.secret

    return setup


def run_doctor(*args: str) -> Run:
    """`python -m nija.doctor ARGS`, in-process."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return Run(code, out.getvalue(), err.getvalue())
