"""What every `nija.report` command shares: one-line usage errors (exit 2), the data dir and
settings found as status finds them, the read-only store, dates and accounts from flags."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from nija.config import read_dotenv
from nija.models import BrokerName
from nija.store import Store, StoreUnavailable, db_path

__all__ = ["BAD", "Parser", "UsageError", "data_dir", "open_store", "parse_account", "parse_time", "setting"]

BAD = 2


class UsageError(Exception):
    """Bad input: one line naming the flag (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line with exit 2 (its own usage block stays for --help)."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def setting(name: str) -> str:
    """A setting from the environment, else `.env` (read strictly: `ConfigError`), else ''."""
    return os.environ.get(name, "").strip() or read_dotenv().get(name, "").strip()


def data_dir(given: Path | None) -> Path:
    """--data-dir, else NIJA_DATA_DIR (environment or .env), else data — as status finds it."""
    return given if given is not None else Path(setting("NIJA_DATA_DIR") or "data")


def parse_time(flag: str, text: str, *, end: bool) -> datetime:
    """A UTC moment from YYYY-MM-DD (a date's end is the next midnight: --until includes the
    day) or an ISO time (naive means UTC)."""
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
        if day is not None:
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag}: expected a date YYYY-MM-DD or an ISO time, was {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_account(text: str) -> tuple[str, str]:
    """BROKER:ACCOUNT, the broker one NIJA trades on."""
    broker, sep, account = text.partition(":")
    if not sep or not account:
        raise UsageError(f"--account: expected BROKER:ACCOUNT (e.g. kraken:master), was {text!r}")
    if broker.lower() not in {b.value for b in BrokerName}:
        raise UsageError(f"--account: unknown broker {broker!r}; brokers: {', '.join(b.value for b in BrokerName)}")
    return broker.lower(), account


def open_store(given: Path | None, *, readonly: bool = True) -> Store:
    """The store of the data dir, read-only unless asked; a missing one is `StoreUnavailable`."""
    path = db_path(data_dir(given))
    if not path.exists():
        raise StoreUnavailable(f"no store at {path}")
    return Store(path, readonly=readonly)


