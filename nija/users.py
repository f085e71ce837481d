"""User accounts for copy trading: one JSON file per user, credentials from the environment.

A user file (default folder `data/users/`, only names ending `.json`, read in sorted order) holds
settings, never secrets:

    {"user_id": "john_smith", "name": "John Smith", "broker": "kraken",
     "enabled": true, "copy_from_master": true, "disabled_symbols": ["XRP-USD"],
     "risk_multiplier": 0.5, "paper_equity": 1000,
     "copy_existing": "skip", "on_disable": "keep", "max_drawdown_pct": 20,
     "flatten_on_breach": false, "max_position_pct": 50, "max_entry_slippage_pct": 0.5,
     "performance_fee_pct": 20, "notify": ["tgram://bottoken/chat_id"]}

Only user_id ([a-z0-9_]{1,64}), name and broker are required. The risk envelope's numbers left
out of a file (None here) take the `.env` defaults (FOLLOWER_MAX_DRAWDOWN_PCT, ...) where the
follower is built; `copy_existing` and `on_disable` say what joining or leaving does to the
master's open positions (`CopyExisting`, `OnDisable`). `performance_fee_pct` (0 to 50, absent:
no fee) is the share of the follower's profit above its high-water mark that its monthly
statement (`python -m nija.report statement`) shows as due; the daemon never charges it. `notify`
(one apprise URL or a list) receives this follower's own events (`nija.notify`); its tokens are
secrets, redacted like keys, and a bad URL is a problem line naming the entry, never its text. A key that looks like a secret
(api_key, secret, passphrase, password, token, ... in any case, at any depth) rejects the file.

Credentials are environment variables named by the FULL user id, upper-cased (the original used the
first name, so john_smith and john_doe shared KRAKEN_USER_JOHN_*):

    <BROKER>_USER_<USER_ID>_API_KEY, <BROKER>_USER_<USER_ID>_API_SECRET
    OKX_USER_<USER_ID>_PASSPHRASE       also required for OKX
    ALPACA_USER_<USER_ID>_PAPER         Alpaca only: true/false, default true; not a secret, so it is
                                        returned in `DiscoveredUsers.alpaca_paper`, not in credentials

Variables are read from the mapping passed in (default `os.environ`, which does not include `.env`;
pass `environment_with_dotenv()` to read `.env` too, the process environment winning as in Settings).
An empty value means unset, as in Settings. A `.env` that cannot be parsed raises `ConfigError`
naming the file and line (`nija.config.read_dotenv`).

`disabled_symbols` are normalised like every symbol setting (`XRP-USD` is `XRP/USD`); a malformed
one rejects the file. A file nested deeper than a user file can be (a list in a list in …) is
one problem line, like any other bad file.

`discover_users` never raises for one bad file: the file becomes one `UserProblem` line
"<file>: <field>: <problem>" and the other users still load. No problem line contains a secret
value. In live mode an enabled user without complete credentials is listed in `missing_credentials`
(status "missing_credentials"), never dropped silently; paper mode needs no credentials.

Demo users (`demo_users()`), for paper mode when no user is configured: demo_alice (kraken,
paper equity 500, risk_multiplier 1) and demo_bob (coinbase, paper equity 2500, risk_multiplier 0.5).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from nija.config import Credentials, normalise_symbol, read_dotenv
from nija.models import BrokerName
from nija.notify_urls import notify_url_secrets, parse_notify_urls

__all__ = [
    "CopyExisting",
    "DiscoveredUsers",
    "OnDisable",
    "UserAccount",
    "UserProblem",
    "alpaca_paper_variable",
    "credential_variables",
    "demo_users",
    "discover_users",
    "environment_with_dotenv",
    "load_user_file",
]

_USER_ID: Final = re.compile(r"[a-z0-9_]{1,64}")
# A file key is a secret when, lower-cased without separators, it contains one of these words
# or is one of the short names.
_SECRET_WORDS: Final = ("apikey", "secret", "passphrase", "password", "passwd", "privatekey", "token")
_SECRET_NAMES: Final = frozenset({"key", "pass", "pwd"})
# Field names shown in problem lines; anything else (a pasted key as a field name) is not echoed.
_PLAIN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")
# Values worth echoing in a problem line ("…, was X"): settings, never free text.
_SHOWN_FIELDS: Final = frozenset(
    {"user_id", "broker", "enabled", "copy_from_master", "risk_multiplier", "paper_equity", "copy_existing",
     "on_disable", "max_drawdown_pct", "flatten_on_breach", "max_position_pct", "max_entry_slippage_pct",
     "performance_fee_pct"}
)
# The accepted form per field; broker is absent because pydantic's message already lists them.
_ACCEPTED: Final[dict[str, str]] = {
    "user_id": "1 to 64 characters of a-z, 0-9 and _",
    "enabled": "true or false",
    "copy_from_master": "true or false",
    "risk_multiplier": "a number within (0, 1]",
    "paper_equity": "a number above 0",
    "copy_existing": "skip or enter",
    "on_disable": "keep or close",
    "max_drawdown_pct": "a percent within (0, 100]",
    "flatten_on_breach": "true or false",
    "max_position_pct": "a percent within (0, 100]",
    "max_entry_slippage_pct": "a percent within [0, 100]",
    "performance_fee_pct": "a percent within [0, 50]",
    "notify": 'an apprise URL or a list of them, e.g. "tgram://bottoken/chat_id"',
    "disabled_symbols": 'a list of symbols, e.g. ["XRP/USD"] or ["XRP-USD"] (tickers like "AAPL" on alpaca)',
}
# Parts each broker needs, as for the master in config.py; OKX also signs with a passphrase.
_PARTS: Final[dict[BrokerName, tuple[str, ...]]] = {
    broker: ("api_key", "api_secret", "passphrase") if broker is BrokerName.OKX else ("api_key", "api_secret")
    for broker in BrokerName
}
_SUFFIXES: Final = ("_API_KEY", "_API_SECRET", "_PASSPHRASE", "_PAPER")
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
_LISTED_MAX: Final = 5  # unused variables named in one line before "and N more"
_MAX_DEPTH: Final = 8  # a user file is one object of settings and a list of symbols: 2 levels deep


class CopyExisting(StrEnum):
    """What a follower does with the master's open positions when it is added or re-enabled."""

    SKIP = "skip"  # copy only the master's next entries
    ENTER = "enter"  # enter them scaled, at the current price, within the slippage guard


class OnDisable(StrEnum):
    """What becomes of a follower's copied positions when it is disabled."""

    KEEP = "keep"  # held; the master's exits are still copied
    CLOSE = "close"  # closed at once


class UserAccount(BaseModel):
    """One copy-trading user as declared in its file; `source` is set by the loader."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    name: str
    broker: BrokerName
    enabled: StrictBool = True
    copy_from_master: StrictBool = True
    disabled_symbols: frozenset[str] = frozenset()  # upper-cased; never copied for this user
    risk_multiplier: Decimal = Field(Decimal(1), gt=0, le=1)  # scales the copied size
    paper_equity: Decimal | None = Field(None, gt=0)  # None: the daemon's own paper equity
    copy_existing: CopyExisting = CopyExisting.SKIP
    on_disable: OnDisable = OnDisable.KEEP
    # The follower's own risk envelope, in percent; None: the .env default (FOLLOWER_*).
    max_drawdown_pct: Decimal | None = Field(None, gt=0, le=100)  # below its own high-water mark
    flatten_on_breach: StrictBool = False  # a drawdown breach also closes the copied positions
    max_position_pct: Decimal | None = Field(None, gt=0, le=100)  # of its equity, per symbol
    max_entry_slippage_pct: Decimal | None = Field(None, ge=0, le=100)  # worse than the master's fill
    # Share of profit above the follower's high-water mark (copied positions' P&L after fees) its
    # statement shows as due; None: no performance fee (`nija.report.statement`).
    performance_fee_pct: Decimal | None = Field(None, ge=0, le=50)
    # Apprise URLs for this follower's own events (`nija.notify`); tokens in them are secrets.
    notify: tuple[SecretStr, ...] = ()
    source: Path | None = None

    @field_validator("user_id")
    @classmethod
    def _check_user_id(cls, value: str) -> str:
        if not _USER_ID.fullmatch(value):
            raise ValueError("must be 1 to 64 characters of a-z, 0-9 and _")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("broker", "copy_existing", "on_disable", mode="before")
    @classmethod
    def _lower_choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_urls(cls, value: Any) -> Any:
        # One URL or a list of them, each checked with apprise's own parser; never echoed. A
        # tuple of SecretStr is a dumped account read back.
        if isinstance(value, list | tuple):
            value = [item.get_secret_value() if isinstance(item, SecretStr) else item for item in value]
        if isinstance(value, str | list):
            return tuple(SecretStr(url) for url in parse_notify_urls(value))
        raise ValueError("must be a URL string or a list of them")

    @field_validator("disabled_symbols")
    @classmethod
    def _normalise_symbols(cls, value: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        # BTC-USD is BTC/USD, as the master's symbols; only an Alpaca user holds bare tickers.
        if any(not symbol.strip() for symbol in value):
            raise ValueError("a symbol must not be empty")
        tickers = info.data.get("broker") is BrokerName.ALPACA
        return frozenset(normalise_symbol(symbol, tickers=tickers) for symbol in value)


class UserProblem(NamedTuple):
    """A user file (or the users folder) that could not be used; `message` is one line."""

    path: Path
    message: str  # "<file>: <field>: <problem>"


@dataclass(frozen=True)
class DiscoveredUsers:
    """What `discover_users` found: loaded users, one line per problem, and their credentials."""

    users: tuple[UserAccount, ...]
    problems: tuple[UserProblem, ...]
    credentials: Mapping[str, Credentials | None]  # user_id -> credentials (None when absent or partial)
    missing_credentials: tuple[str, ...]  # enabled users without complete credentials; always () in paper mode
    alpaca_paper: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))  # Alpaca users only

    def secret_values(self) -> list[str]:
        """Every user secret value, for the log redactor (as `Settings.secret_values`), the
        tokens of each user's notification URLs included."""
        return [
            value.get_secret_value()
            for credentials in self.credentials.values()
            if credentials is not None
            for value in credentials.values()
            if value.get_secret_value()
        ] + [part for user in self.users for url in user.notify for part in notify_url_secrets(url.get_secret_value())]


def credential_variables(broker: BrokerName, user_id: str) -> dict[str, str]:
    """Return the environment variable of each credential part of a user: part -> name."""
    if not _USER_ID.fullmatch(user_id):
        raise ValueError(f"user_id must be 1 to 64 characters of a-z, 0-9 and _, was {user_id!r}")
    prefix = f"{BrokerName(broker).value.upper()}_USER_{user_id.upper()}"
    return {part: f"{prefix}_{part.upper()}" for part in _PARTS[BrokerName(broker)]}


def alpaca_paper_variable(user_id: str) -> str:
    """Return the variable choosing an Alpaca user's paper (true, default) or live endpoint."""
    return credential_variables(BrokerName.ALPACA, user_id)["api_key"].removesuffix("_API_KEY") + "_PAPER"


def environment_with_dotenv(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """Return `.env` values overlaid by the process environment (the precedence Settings uses);
    an empty value is unset, so it neither appears nor hides the other source's value. Raises
    `ConfigError` (file and line) for a `.env` that cannot be parsed or is not UTF-8."""
    from_file = read_dotenv(env_file) if env_file is not None and env_file.is_file() else {}
    merged = {key: value for key, value in from_file.items() if value.strip()}
    merged.update((key, value) for key, value in os.environ.items() if value.strip())
    return merged


def demo_users() -> tuple[UserAccount, ...]:
    """Return the two example users paper mode trades when no user is configured."""
    return (
        UserAccount(user_id="demo_alice", name="Demo Alice", broker=BrokerName.KRAKEN,
                    paper_equity=Decimal(500), risk_multiplier=Decimal(1)),
        UserAccount(user_id="demo_bob", name="Demo Bob", broker=BrokerName.COINBASE,
                    paper_equity=Decimal(2500), risk_multiplier=Decimal("0.5")),
    )


def discover_users(users_dir: Path, env: Mapping[str, str] | None = None, *, live: bool = False) -> DiscoveredUsers:
    """Load every user file in `users_dir` and its credentials from `env` (default `os.environ`).

    Never raises for a bad file or variable: each becomes a `UserProblem` and the rest still load.
    A missing `users_dir` means no users. When two files declare one user_id, the first in
    sorted order is kept and the other reported.
    """
    env = os.environ if env is None else env
    problems: list[UserProblem] = []
    users: list[UserAccount] = []
    first_file: dict[str, Path] = {}
    for path in _user_files(users_dir, problems):
        loaded = _load_file(path)
        if isinstance(loaded, UserProblem):
            problems.append(loaded)
        elif (earlier := first_file.get(loaded.user_id)) is not None:
            problem = f"duplicate {loaded.user_id!r}, already declared in {earlier}; file ignored"
            problems.append(_problem(path, "user_id", problem))
        else:
            first_file[loaded.user_id] = path
            users.append(loaded)

    credentials: dict[str, Credentials | None] = {}
    alpaca_paper: dict[str, bool] = {}
    for user in users:
        credentials[user.user_id] = _read_credentials(user, env, problems)
        if user.broker is BrokerName.ALPACA:
            alpaca_paper[user.user_id] = _read_paper(user, env, problems)
    unused = _unused_variables(env, users)
    if unused:
        problems.append(_problem(users_dir, "credentials", unused))
    missing = tuple(u.user_id for u in users if live and u.enabled and credentials[u.user_id] is None)
    return DiscoveredUsers(
        users=tuple(users),
        problems=tuple(problems),
        credentials=MappingProxyType(credentials),
        missing_credentials=missing,
        alpaca_paper=MappingProxyType(alpaca_paper),
    )


def load_user_file(path: Path) -> UserAccount | UserProblem:
    """Read one user file as `discover_users` does (a changed file re-read while the daemon
    runs): the user, or its one problem line. Never raises."""
    return _load_file(path)


def _problem(path: Path, field_name: str, problem: str) -> UserProblem:
    return UserProblem(path, f"{path}: {field_name}: {problem}")


def _user_files(users_dir: Path, problems: list[UserProblem]) -> list[Path]:
    # Only `*.json` (any case) directly inside the folder; README.md, *.bak, *.example are ignored.
    try:
        if not users_dir.exists():
            return []
        paths = sorted(p for p in users_dir.iterdir() if p.name.lower().endswith(".json"))
    except NotADirectoryError:
        problems.append(_problem(users_dir, "(folder)", "not a folder; expected one JSON file per user inside it"))
        return []
    except OSError as exc:
        problems.append(_problem(users_dir, "(folder)", f"unreadable: {exc.strerror or type(exc).__name__}"))
        return []
    return paths


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; a user file must say things once.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _load_file(path: Path) -> UserAccount | UserProblem:
    # One file -> one user, or one problem line; no exception escapes.
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate the BOM some editors write
    except UnicodeDecodeError:
        return _problem(path, "(file)", "not UTF-8 text")
    except OSError as exc:
        return _problem(path, "(file)", f"unreadable: {exc.strerror or type(exc).__name__}")
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        return _problem(path, "(file)", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except _DuplicateKey as exc:
        return _problem(path, _label(exc.key), "appears twice")
    except RecursionError:  # the parser's own limit: thousands of nested brackets
        return _problem(path, "(file)", f"nested deeper than {_MAX_DEPTH} levels; a user file is one flat object")
    if _depth(data) > _MAX_DEPTH:  # before any recursive look at it
        return _problem(path, "(file)", f"nested deeper than {_MAX_DEPTH} levels; a user file is one flat object")
    if not isinstance(data, dict):
        kind = "a list (one file per user, not a list of users)" if isinstance(data, list) else type(data).__name__
        return _problem(path, "(file)", f"expected one JSON object per user, was {kind}")
    if (secret_key := _secret_key(data)) is not None:
        problem = f"looks like a secret; secrets never go in user files: set {_where(data)} in the environment"
        return _problem(path, secret_key, problem)
    if "source" in data:
        return _problem(path, "source", "set by the loader, not allowed in the file")
    try:
        return UserAccount.model_validate({**data, "source": path})
    except ValidationError as exc:
        return _problem(path, *_describe(exc))


def _depth(data: Any) -> int:
    # How deeply lists and objects nest (a scalar is 0), without recursion.
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > _MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _secret_key(data: Any, at: str = "") -> str | None:
    # The path of the first key that looks like a secret, at any depth; values are never looked at.
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{at}.{_label(key)}" if at else _label(key)
            squashed = re.sub(r"[^a-z0-9]", "", key.lower())
            if squashed in _SECRET_NAMES or any(word in squashed for word in _SECRET_WORDS):
                return where
            if (found := _secret_key(value, where)) is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if (found := _secret_key(value, f"{at}[{index}]")) is not None:
                return found
    return None


def _where(data: dict[str, Any]) -> str:
    # Name the user's real variables when the file says who and where; else the pattern.
    user_id, broker = data.get("user_id"), data.get("broker")
    if isinstance(user_id, str) and _USER_ID.fullmatch(user_id) and isinstance(broker, str):
        try:
            return " and ".join(credential_variables(BrokerName(broker.strip().lower()), user_id).values())
        except ValueError:
            pass
    return "<BROKER>_USER_<USER_ID>_API_KEY and _API_SECRET"


def _label(key: str) -> str:
    # A field name as shown in a problem line: a pasted secret used as a key is not echoed.
    return key if _PLAIN_NAME.fullmatch(key) else "(a field with an unusual name)"


def _describe(exc: ValidationError) -> tuple[str, str]:
    # The first error as (field, problem), in an operator's words; inputs are shown only for
    # settings fields, never for names, symbols or unknown fields.
    errors = exc.errors()
    error = errors[0]
    loc = error["loc"]
    top = str(loc[0]) if loc else "(file)"
    field_name = _label(top) + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
    if error["type"] == "missing":
        problem = "required, missing"
    elif error["type"] == "extra_forbidden":
        problem = f"unknown field; accepted: {', '.join(f for f in UserAccount.model_fields if f != 'source')}"
    else:
        problem = error["msg"].removeprefix("Value error, ")
        shown = _shown(error.get("input")) if top in _SHOWN_FIELDS else None
        if shown is not None:
            problem += f", was {shown}"
        if top in _ACCEPTED:
            problem += f"; accepted: {_ACCEPTED[top]}"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    return field_name, problem


def _shown(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return None


def _read_credentials(user: UserAccount, env: Mapping[str, str], problems: list[UserProblem]) -> Credentials | None:
    # Complete credentials, or None; a partial set is a problem naming the missing variables.
    variables = credential_variables(user.broker, user.user_id)
    given = {part: SecretStr(value) for part, var in variables.items() if (value := env.get(var)) and value.strip()}
    if not given:
        return None
    if len(given) < len(variables):
        missing = ", ".join(var for part, var in variables.items() if part not in given)
        present = next(var for part, var in variables.items() if part in given)
        path = user.source or Path(user.user_id)
        problems.append(_problem(path, "credentials", (
            f"{missing} missing, while {present} is set (set every credential of {user.broker} or none)"
        )))
        return None
    return Credentials(given)


def _read_paper(user: UserAccount, env: Mapping[str, str], problems: list[UserProblem]) -> bool:
    # ALPACA_USER_<ID>_PAPER: paper unless it clearly says false; a typo keeps the safe paper endpoint.
    variable = alpaca_paper_variable(user.user_id)
    raw = (env.get(variable) or "").strip().lower()
    if not raw or raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    problem = f"must be true or false, was {raw[:20]!r}; using true (paper)"
    problems.append(_problem(user.source or Path(user.user_id), variable, problem))
    return True


def _unused_variables(env: Mapping[str, str], users: list[UserAccount]) -> str | None:
    # User credential variables no loaded user reads: a first-name key (KRAKEN_USER_JOHN_*), a typo,
    # or a user whose file is missing or bad. Named, never valued.
    expected = {var for u in users for var in credential_variables(u.broker, u.user_id).values()}
    expected |= {alpaca_paper_variable(u.user_id) for u in users if u.broker is BrokerName.ALPACA}
    prefixes = tuple(f"{broker.value.upper()}_USER_" for broker in BrokerName)
    unused = sorted(
        name for name, value in env.items()
        if name.startswith(prefixes) and name.endswith(_SUFFIXES) and name not in expected and value and value.strip()
    )
    if not unused:
        return None
    listed = ", ".join(unused[:_LISTED_MAX])
    if len(unused) > _LISTED_MAX:
        listed += f" and {len(unused) - _LISTED_MAX} more"
    return (
        f"{listed}: set but read by no loaded user"
        " (names use the full user_id: <BROKER>_USER_<USER_ID>_API_KEY, e.g. KRAKEN_USER_JOHN_SMITH_API_KEY)"
    )
