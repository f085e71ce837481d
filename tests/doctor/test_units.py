"""The doctor's pure parts: a venue's market status read from its own words, the exit code, the
entry sizes it validates (the daemon's formulas), and redaction of what it prints."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from nija.brokers.ccxt.preflight import market_state_of
from nija.doctor.checks import AccountPlan, entry_quote_amount
from nija.doctor.report import AccountReport, Level, exit_code, render_json, render_text
from nija.logs import add_secrets
from nija.models import BalanceSnapshot, BrokerName, MarketRules


@pytest.mark.parametrize(
    ("broker", "info", "tradable", "status"),
    [
        (BrokerName.KRAKEN, {"status": "online"}, True, "online"),
        (BrokerName.KRAKEN, {"status": "cancel_only"}, False, "cancel_only"),
        (BrokerName.KRAKEN, {"status": "post_only"}, False, "post_only"),
        (BrokerName.BINANCE, {"status": "TRADING"}, True, "TRADING"),
        (BrokerName.BINANCE, {"status": "BREAK"}, False, "BREAK"),
        (BrokerName.BINANCE, {"status": "TRADING", "isSpotTradingAllowed": False}, False, "TRADING"),
        (BrokerName.OKX, {"state": "live"}, True, "live"),
        (BrokerName.OKX, {"state": "suspend"}, False, "suspend"),
        (BrokerName.COINBASE, {"status": "online"}, True, "online"),
        (BrokerName.COINBASE, {"status": "online", "cancel_only": True}, False, "cancel_only"),
        (BrokerName.COINBASE, {"status": "online", "trading_disabled": True}, False, "trading_disabled"),
    ],
)
def test_market_status_is_read_in_the_venues_own_words(
    broker: BrokerName, info: dict[str, object], tradable: bool, status: str
) -> None:
    state = market_state_of(broker, "BTC/USD", {"active": True, "info": info})
    assert (state.exists, state.tradable, state.status) == (True, tradable, status)


def test_an_unlisted_or_inactive_market_is_not_tradable() -> None:
    assert not market_state_of(BrokerName.KRAKEN, "NOPE/USD", None).exists
    state = market_state_of(BrokerName.OKX, "BTC/USDT", {"active": False, "info": {"state": "live"}})
    assert state.exists and not state.tradable


def test_the_exit_code_is_the_worst_finding() -> None:
    ok, warn, fail = (AccountReport("kraken", name) for name in ("a", "b", "c"))
    ok.add("keys", Level.OK, "")
    ok.add("withdrawals", Level.INFO, "not exposed")
    warn.add("clock", Level.WARN, "")
    fail.add("keys", Level.FAIL, "")
    assert exit_code([ok]) == 0
    assert exit_code([ok, warn]) == 1
    assert exit_code([ok, warn, fail]) == 2


_SNAPSHOT = BalanceSnapshot.from_parts(Decimal(8000), Decimal(2000), datetime(2026, 1, 1, tzinfo=UTC))
_RULES = MarketRules(symbol="BTC/USD", base="BTC", quote="USD", min_cost=Decimal(5), amount_step=Decimal("1e-8"),
                     price_step=Decimal("0.1"))


def test_a_master_entry_is_apexs_largest_sized_from_equity() -> None:
    amount, detail = entry_quote_amount(AccountPlan((), Decimal(10)), _SNAPSHOT, _RULES, Decimal("0.0026"))
    assert amount == Decimal("1000.00")  # 10 % of equity 10000, not of cash 8000
    assert "200.00 USD to 1000.00 USD" in detail


def test_a_follower_entry_is_the_copy_formula() -> None:
    plan = AccountPlan((), Decimal(10), follower=True, risk_multiplier=Decimal("0.5"), max_user_risk=Decimal("0.03"))
    amount, detail = entry_quote_amount(plan, _SNAPSHOT, _RULES, Decimal("0.0026"))
    assert amount == Decimal("300.00")  # 10 % × 0.5 = 500, capped by MAX_USER_RISK 3 % of 10000
    assert "risk cap" in detail


def test_what_the_doctor_prints_is_redacted() -> None:
    add_secrets(["doctor-unit-secret-value"])
    report = AccountReport("binance", "master")
    report.add("keys", Level.FAIL, "refused: the venue said doctor-unit-secret-value")
    assert "doctor-unit-secret-value" not in render_text([report])
    assert "doctor-unit-secret-value" not in render_json([report])


def test_kraken_has_no_sandbox_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from nija.config import ConfigError, load_settings

    monkeypatch.setenv("NIJA_KRAKEN_SANDBOX", "true")
    with pytest.raises(ConfigError, match="NIJA_KRAKEN_SANDBOX.*no spot test environment"):
        load_settings()


@pytest.mark.parametrize(
    ("broker", "where"),
    [
        (BrokerName.BINANCE, "sandbox: Binance spot testnet (testnet.binance.vision)"),
        (BrokerName.OKX, "sandbox: OKX demo trading (www.okx.com)"),
        (BrokerName.COINBASE, "sandbox: Coinbase Advanced sandbox (api-sandbox.coinbase.com)"),
    ],
)
def test_sandbox_clients_talk_to_the_venues_test_environment(tmp_path: object, broker: BrokerName, where: str) -> None:
    from nija.brokers.ccxt import CcxtBroker, SharedMarkets
    from nija.brokers.preflight import probe_for

    client = CcxtBroker(broker, "master", None, SharedMarkets(), data_dir=tmp_path, sandbox=True)  # type: ignore[arg-type]
    assert probe_for(client).environment() == where
    if broker is BrokerName.OKX:
        assert client.client.headers.get("x-simulated-trading") == "1"  # OKX demo trading is a header
    production = CcxtBroker(broker, "master", None, SharedMarkets(), data_dir=tmp_path)  # type: ignore[arg-type]
    assert probe_for(production).environment().startswith("production (")
