"""Settings: every variable NIJA reads, typed and validated once at start (pydantic-settings).

Values come from the environment, then `.env`. An empty value (`NIJA_REPLAY_DIR=`, as every copy
of `.env.example` has) means unset: the default applies. A bad value becomes one `ConfigError`
line that names the variable, what is wrong and the accepted form; `app` prints it and exits 2.
A `.env` that cannot be parsed (an unclosed quote, a line that is not `NAME=value`) or is not
UTF-8 is a `ConfigError` naming the file and the line, never a warning and a silent default
(`read_dotenv`). Symbols are normalised (`BTC-USD` is `BTC/USD`) or refused (`normalise_symbol`).
Secrets are `SecretStr`: they never print, and `secret_values()` feeds the log redactor.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from dotenv.parser import parse_stream
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nija.models import BrokerName, FeeSchedule
from nija.notify_urls import notify_url_secrets, parse_notify_urls

__all__ = [
    "STRATEGY_NAMES",
    "ConfigError",
    "Credentials",
    "Settings",
    "export_dotenv",
    "load_settings",
    "normalise_symbol",
    "read_dotenv",
]

DEFAULT_PAPER_BROKERS: Final = (BrokerName.KRAKEN, BrokerName.COINBASE)
WEB_TOKEN_MIN_CHARS: Final = 16
DOTENV: Final = Path(".env")  # read from the working directory, as start.sh runs in the repo
# A symbol part: letters and digits (1INCH, USDT); an equity ticker may hold a dot (BRK.B).
_SYMBOL_PART: Final = re.compile(r"[A-Z0-9]{1,20}")
_TICKER: Final = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
_HH_MM: Final = re.compile(r"([01]?[0-9]|2[0-3]):[0-5][0-9]")  # NIJA_NOTIFY_DAILY_AT
_DOTENV_NAME: Final = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")


class ConfigError(Exception):
    """A setting is malformed; the message is one line naming the variable."""


class Credentials(dict[str, SecretStr]):
    """Named secret parts of one account's API credentials (api_key, api_secret, …)."""


def normalise_symbol(text: str, *, tickers: bool = False) -> str:
    """Return `text` as a unified "BASE/QUOTE" symbol (upper case; `BTC-USD` and ` btc/usd `
    are `BTC/USD`); with `tickers`, a bare equity ticker (`AAPL`, Alpaca) is accepted as is.
    Raise ValueError saying what a symbol must look like; the caller names its setting."""
    symbol = text.strip().upper()
    separators = [sep for sep in "/-" if sep in symbol]
    if len(separators) == 1:
        base, _, quote = symbol.partition(separators[0])
        if _SYMBOL_PART.fullmatch(base) and _SYMBOL_PART.fullmatch(quote):
            return f"{base}/{quote}"
    elif not separators and tickers and _TICKER.fullmatch(symbol):
        return symbol
    shape = "BASE/QUOTE (e.g. BTC/USD or BTC-USD) or an equity ticker (e.g. AAPL)" if tickers else (
        "BASE/QUOTE, e.g. BTC/USD or BTC-USD"
    )
    raise ValueError(f"a symbol must look like {shape}")


def read_dotenv(path: Path = DOTENV) -> dict[str, str]:
    """Return the variables a `.env` file sets ({} when there is no file), parsed as
    python-dotenv parses it (quoted multi-line values, `$` kept), but strictly: a line python-dotenv
    would skip with a warning, or a file that is not UTF-8, raises `ConfigError` naming the file
    and the line. Values are never shown: a broken line may hold a secret."""
    if not path.exists():
        return {}
    shown = os.path.abspath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config error: {shown}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config error: {shown}: line {line}: not UTF-8 text; save the file as UTF-8") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            named = _DOTENV_NAME.match(binding.original.string)
            what = f" (the value of {named.group(1)})" if named else ""
            raise ConfigError(
                f"config error: {shown}: line {binding.original.line}: cannot be parsed{what};"
                " expected NAME=value, a quoted value closing its quote"
            )
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def export_dotenv(path: Path = DOTENV, environ: MutableMapping[str, str] | None = None) -> None:
    """Put `.env`'s variables into the process environment (start.sh, before `python -m nija`),
    strictly as `read_dotenv`; a variable already set to a non-empty value wins over the file."""
    environ = os.environ if environ is None else environ
    for key, value in read_dotenv(path).items():
        if not environ.get(key, "").strip():
            environ[key] = value


# Master credentials by the original's variable names: (broker, part) -> variable.
_CREDENTIAL_VARS: Final[dict[BrokerName, dict[str, str]]] = {
    BrokerName.COINBASE: {"api_key": "COINBASE_API_KEY", "api_secret": "COINBASE_API_SECRET"},
    BrokerName.KRAKEN: {"api_key": "KRAKEN_MASTER_API_KEY", "api_secret": "KRAKEN_MASTER_API_SECRET"},
    BrokerName.OKX: {"api_key": "OKX_API_KEY", "api_secret": "OKX_API_SECRET", "passphrase": "OKX_PASSPHRASE"},
    BrokerName.BINANCE: {"api_key": "BINANCE_API_KEY", "api_secret": "BINANCE_API_SECRET"},
    BrokerName.ALPACA: {"api_key": "ALPACA_API_KEY", "api_secret": "ALPACA_API_SECRET"},
}

# Strategies `NIJA_STRATEGY` accepts, the default first: nija/strategy/registry.py's names (config
# may not import strategy/, one layer; tests/strategy/test_registry.py keeps the two equal).
STRATEGY_NAMES: Final = ("apex",)

# What each constraint means to an operator, for the one-line error.
_ACCEPTED: Final[dict[str, str]] = {
    "NIJA_MODE": "paper or live",
    "NIJA_STRATEGY": ", ".join(STRATEGY_NAMES),
    "NIJA_LOG_FORMAT": "auto, json or console",
    "NIJA_LOG_LEVEL": "debug, info, warning or error",
    "MULTI_BROKER_INDEPENDENT": "true or false",
    "NIJA_WEB": "true or false",
    "NIJA_WEB_HOST": "an IP address or host name to bind, e.g. 127.0.0.1 or 0.0.0.0",
    "NIJA_WEB_PORT": "a port from 1 to 65535",
    "NIJA_WEB_TOKEN": "a secret of at least 16 characters",
    "NIJA_WEB_REFRESH_SECONDS": "seconds from 2 to 3600",
    "ALPACA_PAPER": "true or false",
    "NIJA_NOTIFY": "apprise URLs separated by commas or spaces",
    "NIJA_NOTIFY_DAILY_AT": "HH:MM in UTC (e.g. 07:30), or off",
    "NIJA_NOTIFY_BATCH_SECONDS": "seconds from 0 to 86400",
    **{f"NIJA_{b.name}_SANDBOX": "true or false" for b in BrokerName},
    "NIJA_PAPER_BROKERS": "a comma list of coinbase, kraken, okx, binance, alpaca",
    "KRAKEN_TIER": "starter, intermediate or pro",
    "NIJA_PAPER_MARKET": "offline or live",
    "COPY_TRADING_MODE": "MASTER_FOLLOW or INDEPENDENT",
    "ENTRY_BLOCKING": "true or false",
    "FOLLOWER_MAX_DRAWDOWN_PCT": "a percent within (0, 100]",
    "FOLLOWER_MAX_POSITION_PCT": "a percent within (0, 100]; 100 = no cap beyond MAX_USER_RISK per entry",
    "FOLLOWER_MAX_ENTRY_SLIPPAGE_PCT": "a percent within [0, 100]",
    "FOLLOWER_BREAKER_FAILURES": "a whole number from 1 to 1000",
    "COPY_DRIFT_TOLERANCE_PCT": "a percent within [0, 100]",
    **{f"NIJA_FEES_{b.name}": "taker,maker,spread in percent, e.g. 0.26,0.16,0.10" for b in BrokerName},
}


def _secret(alias: str) -> Any:
    return Field(None, alias=alias)


class Settings(BaseSettings):
    """Process-wide settings: read once at start, frozen afterwards."""

    # .env also holds per-user keys that account discovery reads, hence extra="ignore".
    # env_ignore_empty: `NAME=` (every line of a fresh `.env.example` copy) means unset, not "".
    model_config = SettingsConfigDict(
        env_file=DOTENV, extra="ignore", frozen=True, populate_by_name=False, case_sensitive=True,
        env_ignore_empty=True,
    )

    mode: Literal["paper", "live"] = Field("paper", alias="NIJA_MODE")  # paper unless opted in
    strategy: str = Field(STRATEGY_NAMES[0], alias="NIJA_STRATEGY")  # what the master loops trade
    multi_broker_independent: bool = Field(True, alias="MULTI_BROKER_INDEPENDENT")
    minimum_funded_balance: Decimal = Field(Decimal("10.0"), alias="MINIMUM_FUNDED_BALANCE", ge=0)
    max_concurrent_positions: int = Field(8, alias="MAX_CONCURRENT_POSITIONS", ge=1, le=100)
    cycle_seconds: float = Field(150.0, alias="NIJA_CYCLE_SECONDS", gt=0, le=86_400)
    status_summary_seconds: float = Field(1500.0, alias="NIJA_STATUS_SUMMARY_SECONDS", gt=0)
    funding_recheck_seconds: float = Field(600.0, alias="NIJA_FUNDING_RECHECK_SECONDS", gt=0)
    data_dir: Path = Field(Path("data"), alias="NIJA_DATA_DIR")
    log_format: Literal["auto", "json", "console"] = Field("auto", alias="NIJA_LOG_FORMAT")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", alias="NIJA_LOG_LEVEL")

    # The read-only web dashboard (`python -m nija.web`; NIJA_WEB=true also runs it in the daemon).
    web: bool = Field(False, alias="NIJA_WEB")
    web_host: str = Field(
        "127.0.0.1", alias="NIJA_WEB_HOST", min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-]+$"
    )
    web_port: int = Field(8787, alias="NIJA_WEB_PORT", ge=1, le=65_535)
    # Required to bind anything but loopback; checked on every request once set. 16+ characters:
    # it is the only thing between the network and every account's figures.
    web_token: SecretStr | None = Field(None, alias="NIJA_WEB_TOKEN")
    web_refresh_seconds: float = Field(30.0, alias="NIJA_WEB_REFRESH_SECONDS", ge=2, le=3600)

    # Notifications (apprise URLs; tokens in them are secrets): the operator's, batched to at most
    # one message per recipient per NIJA_NOTIFY_BATCH_SECONDS, and a daily summary at HH:MM UTC.
    notify_urls: Annotated[tuple[SecretStr, ...], NoDecode] = Field((), alias="NIJA_NOTIFY")
    notify_daily_at: Annotated[str | None, NoDecode] = Field("00:00", alias="NIJA_NOTIFY_DAILY_AT")  # None: off
    notify_batch_seconds: float = Field(60.0, alias="NIJA_NOTIFY_BATCH_SECONDS", ge=0, le=86_400)

    # Copy trading.
    copy_trading_mode: Literal["MASTER_FOLLOW", "INDEPENDENT"] = Field("MASTER_FOLLOW", alias="COPY_TRADING_MODE")
    users_dir: Path | None = Field(None, alias="NIJA_USERS_DIR")  # default: <NIJA_DATA_DIR>/users
    max_user_risk: Decimal = Field(Decimal("0.10"), alias="MAX_USER_RISK", gt=0, le=1)
    min_position_usd: Decimal = Field(Decimal("1.0"), alias="MIN_POSITION_USD", ge=0)
    copy_signal_max_age_seconds: float = Field(60.0, alias="COPY_SIGNAL_MAX_AGE_SECONDS", gt=0)
    copy_unknown_grace_seconds: float = Field(600.0, alias="COPY_UNKNOWN_GRACE_SECONDS", ge=1)
    copy_workers: int = Field(128, alias="NIJA_COPY_WORKERS", ge=1, le=512)
    # Each follower's own risk envelope (percent: 25 = 25 %); a follower file may set its own.
    follower_max_drawdown_pct: Decimal = Field(Decimal("25"), alias="FOLLOWER_MAX_DRAWDOWN_PCT", gt=0, le=100)
    follower_max_position_pct: Decimal = Field(Decimal("100"), alias="FOLLOWER_MAX_POSITION_PCT", gt=0, le=100)
    follower_max_entry_slippage_pct: Decimal = Field(
        Decimal("1.0"), alias="FOLLOWER_MAX_ENTRY_SLIPPAGE_PCT", ge=0, le=100
    )
    follower_breaker_failures: int = Field(5, alias="FOLLOWER_BREAKER_FAILURES", ge=1, le=1000)
    copy_drift_tolerance_pct: Decimal = Field(Decimal("10"), alias="COPY_DRIFT_TOLERANCE_PCT", ge=0, le=100)

    # Risk guardrails (percentages are percent: 10 = 10 %).
    max_drawdown_pct: Decimal = Field(Decimal("10"), alias="MAX_DRAWDOWN_PCT", gt=0, le=100)
    max_daily_loss_pct: Decimal = Field(Decimal("5"), alias="MAX_DAILY_LOSS_PCT", gt=0, le=100)
    min_net_profit_pct: Decimal = Field(Decimal("0.2"), alias="MIN_NET_PROFIT_PCT", ge=0, le=100)
    coinbase_min_balance: Decimal = Field(Decimal("50"), alias="COINBASE_MIN_BALANCE", ge=0)
    entry_blocking: bool = Field(False, alias="ENTRY_BLOCKING")
    # Fee overrides for a better fee tier: "taker,maker,spread" in percent.
    coinbase_fees: Annotated[FeeSchedule | None, NoDecode] = Field(None, alias="NIJA_FEES_COINBASE")
    kraken_fees: Annotated[FeeSchedule | None, NoDecode] = Field(None, alias="NIJA_FEES_KRAKEN")
    okx_fees: Annotated[FeeSchedule | None, NoDecode] = Field(None, alias="NIJA_FEES_OKX")
    binance_fees: Annotated[FeeSchedule | None, NoDecode] = Field(None, alias="NIJA_FEES_BINANCE")
    alpaca_fees: Annotated[FeeSchedule | None, NoDecode] = Field(None, alias="NIJA_FEES_ALPACA")

    # Paper trading and its offline market.
    paper_brokers: Annotated[tuple[BrokerName, ...], NoDecode] = Field(
        DEFAULT_PAPER_BROKERS, alias="NIJA_PAPER_BROKERS", min_length=1
    )
    paper_equity: Decimal = Field(Decimal("1000"), alias="NIJA_PAPER_EQUITY", gt=0)
    paper_slippage_bps: Decimal = Field(Decimal("5"), alias="NIJA_PAPER_SLIPPAGE_BPS", ge=0, le=1000)
    # offline: replay or synthetic candles; live: the venue's public prices (no keys needed).
    paper_market: Literal["offline", "live"] = Field("offline", alias="NIJA_PAPER_MARKET")
    replay_dir: Path | None = Field(None, alias="NIJA_REPLAY_DIR")
    synthetic_seed: int = Field(7, alias="NIJA_SYNTHETIC_SEED", ge=0)
    synthetic_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYNTHETIC_SYMBOLS")
    # Per-broker replay folders (override NIJA_REPLAY_DIR for that broker's paper market).
    coinbase_replay_dir: Path | None = Field(None, alias="NIJA_COINBASE_REPLAY_DIR")
    kraken_replay_dir: Path | None = Field(None, alias="NIJA_KRAKEN_REPLAY_DIR")
    okx_replay_dir: Path | None = Field(None, alias="NIJA_OKX_REPLAY_DIR")
    binance_replay_dir: Path | None = Field(None, alias="NIJA_BINANCE_REPLAY_DIR")
    alpaca_replay_dir: Path | None = Field(None, alias="NIJA_ALPACA_REPLAY_DIR")

    http_timeout_seconds: float = Field(10.0, alias="NIJA_HTTP_TIMEOUT_SECONDS", gt=0, le=120)
    # An order (a master's or a copy) the venue still holds open this long is canceled (execution.lookup).
    open_order_timeout_seconds: float = Field(300.0, alias="NIJA_OPEN_ORDER_TIMEOUT_SECONDS", ge=10, le=86_400)
    kraken_tier: Literal["starter", "intermediate", "pro"] = Field("starter", alias="KRAKEN_TIER")
    # Live venues: REST base URL overrides (testnets, the local simulator) and explicit universes.
    coinbase_api_url: str | None = Field(None, alias="NIJA_COINBASE_API_URL")
    kraken_api_url: str | None = Field(None, alias="NIJA_KRAKEN_API_URL")
    okx_api_url: str | None = Field(None, alias="NIJA_OKX_API_URL")
    binance_api_url: str | None = Field(None, alias="NIJA_BINANCE_API_URL")
    alpaca_api_url: str | None = Field(None, alias="NIJA_ALPACA_API_URL")
    # The venue's own test environment (Binance spot testnet, OKX demo trading, Coinbase sandbox,
    # Alpaca paper); Kraken has none for spot and refuses the setting.
    coinbase_sandbox: bool = Field(False, alias="NIJA_COINBASE_SANDBOX")
    kraken_sandbox: bool = Field(False, alias="NIJA_KRAKEN_SANDBOX")
    okx_sandbox: bool = Field(False, alias="NIJA_OKX_SANDBOX")
    binance_sandbox: bool = Field(False, alias="NIJA_BINANCE_SANDBOX")
    alpaca_sandbox: bool = Field(False, alias="NIJA_ALPACA_SANDBOX")
    coinbase_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYMBOLS_COINBASE")
    kraken_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYMBOLS_KRAKEN")
    okx_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYMBOLS_OKX")
    binance_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYMBOLS_BINANCE")
    alpaca_symbols: Annotated[tuple[str, ...], NoDecode] = Field((), alias="NIJA_SYMBOLS_ALPACA")
    disabled_pairs: Annotated[tuple[str, ...], NoDecode] = Field((), alias="DISABLED_PAIRS")

    # Master credentials (parsed and validated here; used by the live adapters).
    coinbase_api_key: SecretStr | None = _secret("COINBASE_API_KEY")
    coinbase_api_secret: SecretStr | None = _secret("COINBASE_API_SECRET")
    kraken_master_api_key: SecretStr | None = _secret("KRAKEN_MASTER_API_KEY")
    kraken_master_api_secret: SecretStr | None = _secret("KRAKEN_MASTER_API_SECRET")
    okx_api_key: SecretStr | None = _secret("OKX_API_KEY")
    okx_api_secret: SecretStr | None = _secret("OKX_API_SECRET")
    okx_passphrase: SecretStr | None = _secret("OKX_PASSPHRASE")
    binance_api_key: SecretStr | None = _secret("BINANCE_API_KEY")
    binance_api_secret: SecretStr | None = _secret("BINANCE_API_SECRET")
    alpaca_api_key: SecretStr | None = _secret("ALPACA_API_KEY")
    alpaca_api_secret: SecretStr | None = _secret("ALPACA_API_SECRET")
    alpaca_paper: bool = Field(True, alias="ALPACA_PAPER")

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: Any) -> Any:
        # Whitespace-only counts as empty too: the default applies, whatever the variable.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (isinstance(value, str) and not value.strip())}
        return data

    @field_validator("paper_brokers", mode="before")
    @classmethod
    def _split_brokers(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return tuple(part.strip().lower() for part in raw.split(",") if part.strip())
        return raw

    @field_validator(
        "synthetic_symbols", "coinbase_symbols", "kraken_symbols", "okx_symbols", "binance_symbols", "alpaca_symbols",
        "disabled_pairs",
        mode="before",
    )
    @classmethod
    def _split_symbols(cls, raw: Any, info: ValidationInfo) -> Any:
        # Normalised (BTC-USD is BTC/USD) and deduplicated; a malformed symbol is refused. Only
        # Alpaca's universe holds bare equity tickers.
        parts = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(parts, list | tuple):
            return raw
        tickers = info.field_name == "alpaca_symbols"
        symbols: dict[str, None] = {}
        for part in parts:
            if isinstance(part, str) and part.strip():
                try:
                    symbols[normalise_symbol(part, tickers=tickers)] = None
                except ValueError as exc:
                    raise ValueError(f"{part.strip()[:40]!r}: {exc}") from None
        return tuple(symbols)

    @field_validator("coinbase_fees", "kraken_fees", "okx_fees", "binance_fees", "alpaca_fees", mode="before")
    @classmethod
    def _fee_row(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        if not raw.strip():
            return None
        parts = [part.strip() for part in raw.split(",")]
        try:
            values = [Decimal(part) for part in parts]
        except ArithmeticError:
            raise ValueError("not three numbers") from None
        if len(values) != 3 or not all(v.is_finite() and 0 <= v <= 10 for v in values):
            raise ValueError("need three numbers between 0 and 10")
        taker, maker, spread = (v / 100 for v in values)
        return FeeSchedule(taker=taker, maker=maker, spread=spread)

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _notify_urls(cls, raw: Any) -> Any:
        return tuple(SecretStr(url) for url in parse_notify_urls(raw)) if isinstance(raw, str | list) else raw

    @field_validator("notify_daily_at", mode="before")
    @classmethod
    def _daily_at(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        text = raw.strip().lower()
        if text in ("off", "none", "false"):
            return None
        if not _HH_MM.fullmatch(text):
            raise ValueError("not a time of day")
        hours, minutes = text.split(":")
        return f"{int(hours):02d}:{minutes}"

    @field_validator("log_level", "log_format", "mode", "paper_market", mode="before")
    @classmethod
    def _lower(cls, raw: Any) -> Any:
        return raw.strip().lower() if isinstance(raw, str) else raw

    @field_validator("strategy", mode="before")
    @classmethod
    def _known_strategy(cls, raw: Any) -> Any:
        name = raw.strip().lower() if isinstance(raw, str) else raw
        if name not in STRATEGY_NAMES:
            raise ValueError("unknown strategy")
        return name

    @field_validator("copy_trading_mode", mode="before")
    @classmethod
    def _upper(cls, raw: Any) -> Any:
        return raw.strip().upper() if isinstance(raw, str) else raw

    @property
    def users_path(self) -> Path:
        """Where user account files live: NIJA_USERS_DIR, else <NIJA_DATA_DIR>/users."""
        return self.users_dir if self.users_dir is not None else self.data_dir / "users"

    @field_validator(
        *(name for name in (
            "coinbase_api_key", "coinbase_api_secret", "kraken_master_api_key", "kraken_master_api_secret",
            "okx_api_key", "okx_api_secret", "okx_passphrase", "binance_api_key", "binance_api_secret",
            "alpaca_api_key", "alpaca_api_secret",
        )),
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, raw: Any) -> Any:
        # `.env.example` copies leave `KEY=` lines: an empty value means "not configured".
        return None if isinstance(raw, str) and not raw.strip() else raw

    @field_validator("web_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < WEB_TOKEN_MIN_CHARS:
            raise ValueError("too short")
        return value

    @field_validator("kraken_sandbox")
    @classmethod
    def _kraken_has_no_sandbox(cls, value: bool) -> bool:
        if value:
            raise ValueError("Kraken has no spot test environment; leave it false (test against tests/sim instead)")
        return value

    @model_validator(mode="after")
    def _complete_credentials(self) -> Settings:
        for broker, parts in _CREDENTIAL_VARS.items():
            given = {var for part, var in parts.items() if getattr(self, _field_of(var)) is not None}
            if given and given != set(parts.values()):
                missing = sorted(set(parts.values()) - given)
                raise ValueError(
                    f"{missing[0]}: missing, while {sorted(given)[0]} is set"
                    f" (set every credential of {broker} or none)"
                )
        return self

    def master_credentials(self, broker: BrokerName) -> Credentials | None:
        """Return the master credentials of `broker`, or None when none are configured."""
        parts = _CREDENTIAL_VARS[broker]
        values = {part: getattr(self, _field_of(var)) for part, var in parts.items()}
        if any(value is None for value in values.values()):
            return None
        return Credentials(values)

    def missing_master_credentials(self, broker: BrokerName) -> list[str]:
        """The variables of `broker`'s master credentials that are not set (all of them, or none)."""
        return [var for var in _CREDENTIAL_VARS[broker].values() if getattr(self, _field_of(var)) is None]

    def configured_live_brokers(self) -> list[BrokerName]:
        """Brokers with complete master credentials."""
        return [broker for broker in BrokerName if self.master_credentials(broker) is not None]

    def api_url_for(self, broker: BrokerName) -> str | None:
        """NIJA_<BROKER>_API_URL: the venue's REST base URL override, if any."""
        return getattr(self, f"{broker.value}_api_url") or None

    def sandbox_for(self, broker: BrokerName) -> bool:
        """NIJA_<BROKER>_SANDBOX: trade the venue's own test environment (Alpaca: the paper account)."""
        return bool(getattr(self, f"{broker.value}_sandbox"))

    def symbols_for(self, broker: BrokerName) -> tuple[str, ...]:
        """NIJA_SYMBOLS_<BROKER>: an explicit universe replacing the venue's default one."""
        return getattr(self, f"{broker.value}_symbols", ())

    def replay_dir_for(self, broker: BrokerName) -> Path | None:
        """The replay folder of `broker`'s paper market: its own override, else NIJA_REPLAY_DIR."""
        return getattr(self, f"{broker.value}_replay_dir") or self.replay_dir

    def fee_overrides(self) -> dict[BrokerName, FeeSchedule]:
        """NIJA_FEES_<BROKER> rows the operator set, to apply with `fees.configure_fees`."""
        return {b: row for b in BrokerName if (row := getattr(self, f"{b.value}_fees")) is not None}

    def secret_values(self) -> list[str]:
        """Every configured secret value, for the log redactor (notification URLs' tokens too)."""
        return [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr) and value.get_secret_value()
        ] + [part for url in self.notify_urls for part in notify_url_secrets(url.get_secret_value())]


def _field_of(variable: str) -> str:
    return variable.lower()


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; raise `ConfigError` with one clear line
    (also for a `.env` that cannot be parsed: its file and line)."""
    read_dotenv()  # strict first: pydantic-settings would skip a broken line with a warning
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    variable = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    if not variable:  # a model-level check already names its variable first
        return f"config error: {message}"
    value = error.get("input")
    secret = any(word in variable for word in ("KEY", "SECRET", "PASSPHRASE", "TOKEN")) or variable == "NIJA_NOTIFY"
    shown = "<secret>" if secret else repr(value)
    accepted = _ACCEPTED.get(variable)
    hint = f"; accepted: {accepted}" if accepted else ""
    return f"config error: {variable}={shown}: {message}{hint}"
