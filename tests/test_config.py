"""Settings: defaults, parsing, and one-line errors that name the variable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from nija.config import ConfigError, load_settings
from nija.models import BrokerName


def test_defaults_are_paper_and_documented_values() -> None:
    s = load_settings()
    assert s.mode == "paper"
    assert s.multi_broker_independent is True
    assert s.minimum_funded_balance == Decimal("10.0")
    assert s.max_concurrent_positions == 8
    assert s.cycle_seconds == 150
    assert s.status_summary_seconds == 1500
    assert s.data_dir == Path("data")
    assert s.log_format == "auto"
    assert s.paper_brokers == (BrokerName.KRAKEN, BrokerName.COINBASE)
    assert s.paper_equity == Decimal("1000")
    assert s.configured_live_brokers() == []


def test_follower_envelope_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.follower_max_drawdown_pct, s.follower_max_position_pct, s.follower_max_entry_slippage_pct) == (
        Decimal("25"), Decimal("100"), Decimal("1.0"))
    assert (s.follower_breaker_failures, s.copy_drift_tolerance_pct) == (5, Decimal("10"))
    monkeypatch.setenv("FOLLOWER_MAX_ENTRY_SLIPPAGE_PCT", "0")  # any worse price skips the entry
    monkeypatch.setenv("FOLLOWER_BREAKER_FAILURES", "1")
    s = load_settings()
    assert (s.follower_max_entry_slippage_pct, s.follower_breaker_failures) == (Decimal("0"), 1)


def test_reads_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NIJA_CYCLE_SECONDS=2\nNIJA_PAPER_BROKERS=okx, binance\n")
    s = load_settings()
    assert s.cycle_seconds == 2
    assert s.paper_brokers == (BrokerName.OKX, BrokerName.BINANCE)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NIJA_CYCLE_SECONDS", "abc", "NIJA_CYCLE_SECONDS='abc': Input should be a valid number"),
        ("MINIMUM_FUNDED_BALANCE", "-5", "MINIMUM_FUNDED_BALANCE='-5': Input should be greater than or equal to 0"),
        ("NIJA_MODE", "lve", "NIJA_MODE='lve'"),
        ("NIJA_PAPER_BROKERS", "kraken,ftx", "NIJA_PAPER_BROKERS='ftx'"),
        ("MULTI_BROKER_INDEPENDENT", "maybe", "MULTI_BROKER_INDEPENDENT='maybe'"),
        ("MAX_CONCURRENT_POSITIONS", "0", "MAX_CONCURRENT_POSITIONS='0'"),
        ("NIJA_LOG_FORMAT", "xml", "accepted: auto, json or console"),
        ("FOLLOWER_MAX_DRAWDOWN_PCT", "0", "FOLLOWER_MAX_DRAWDOWN_PCT='0': Input should be greater than 0"),
        ("FOLLOWER_MAX_DRAWDOWN_PCT", "101", "accepted: a percent within (0, 100]"),
        ("FOLLOWER_MAX_POSITION_PCT", "-1", "FOLLOWER_MAX_POSITION_PCT='-1'"),
        ("FOLLOWER_MAX_ENTRY_SLIPPAGE_PCT", "abc", "FOLLOWER_MAX_ENTRY_SLIPPAGE_PCT='abc'"),
        ("FOLLOWER_BREAKER_FAILURES", "0", "FOLLOWER_BREAKER_FAILURES='0': Input should be greater than or equal to 1"),
        ("FOLLOWER_BREAKER_FAILURES", "2.5", "accepted: a whole number from 1 to 1000"),
        ("COPY_DRIFT_TOLERANCE_PCT", "-3", "COPY_DRIFT_TOLERANCE_PCT='-3'"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("config error: ")


def test_half_configured_credentials_name_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKX_API_KEY", "canary-okx-key-123456")
    monkeypatch.setenv("OKX_API_SECRET", "canary-okx-secret-123456")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "OKX_PASSPHRASE: missing" in str(info.value)
    assert "canary" not in str(info.value)


def test_credentials_are_secret_and_listed_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_MASTER_API_KEY", "canary-kraken-key-0001")
    monkeypatch.setenv("KRAKEN_MASTER_API_SECRET", "canary-kraken-secret-0001")
    monkeypatch.setenv("COINBASE_API_KEY", "")  # a blank line copied from .env.example is "unset"
    s = load_settings()
    assert s.configured_live_brokers() == [BrokerName.KRAKEN]
    assert "canary" not in repr(s)
    assert set(s.secret_values()) == {"canary-kraken-key-0001", "canary-kraken-secret-0001"}


def test_replay_dir_per_broker_overrides_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_REPLAY_DIR", "/a")
    monkeypatch.setenv("NIJA_COINBASE_REPLAY_DIR", "/b")
    s = load_settings()
    assert s.replay_dir_for(BrokerName.COINBASE) == Path("/b")
    assert s.replay_dir_for(BrokerName.KRAKEN) == Path("/a")


def test_env_example_documents_every_variable() -> None:
    from nija.config import Settings

    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert aliases <= documented, f"undocumented: {sorted(aliases - documented)}"
