"""Notification settings and a follower's `notify` field: parsed with apprise's own URL parsing,
empty means unset, and a bad value is one line naming the setting (or the file and field) that
never shows the URL, which may hold a token."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nija.config import ConfigError, load_settings
from nija.notify import build_notifier
from nija.store import Store
from nija.users import discover_users, load_user_file

TOKEN = "canaryTOKEN1234567890"


def test_defaults_and_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.notify_urls, settings.notify_daily_at, settings.notify_batch_seconds) == ((), "00:00", 60.0)
    for name in ("NIJA_NOTIFY", "NIJA_NOTIFY_DAILY_AT", "NIJA_NOTIFY_BATCH_SECONDS"):
        monkeypatch.setenv(name, "  ")
    assert load_settings().notify_urls == ()


def test_urls_are_split_on_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_NOTIFY", f"json://127.0.0.1:8/a?token={TOKEN},  tgram://123456789:AAbbCCddEE/42\n"
                       "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js")
    monkeypatch.setenv("NIJA_NOTIFY_DAILY_AT", "7:05")
    monkeypatch.setenv("NIJA_NOTIFY_BATCH_SECONDS", "0")
    settings = load_settings()
    assert [url.get_secret_value().split(":")[0] for url in settings.notify_urls] == ["json", "tgram", "discord"]
    assert TOKEN not in repr(settings)  # SecretStr: never printed
    assert TOKEN in settings.secret_values()  # but redacted from every log line
    assert (settings.notify_daily_at, settings.notify_batch_seconds) == ("07:05", 0.0)
    monkeypatch.setenv("NIJA_NOTIFY_DAILY_AT", "off")
    assert load_settings().notify_daily_at is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NIJA_NOTIFY", f"json://127.0.0.1:8/ok bogus://{TOKEN}",
         "config error: NIJA_NOTIFY=<secret>: entry 2 of 2 (bogus://…) is not a notification URL apprise can use"),
        ("NIJA_NOTIFY", f"tgram://{TOKEN}", "config error: NIJA_NOTIFY=<secret>: entry 1 of 1 (tgram://…)"),
        ("NIJA_NOTIFY", TOKEN, "config error: NIJA_NOTIFY=<secret>: entry 1 of 1 ((no scheme://))"),
        ("NIJA_NOTIFY_DAILY_AT", "24:00", "config error: NIJA_NOTIFY_DAILY_AT='24:00': not a time of day;"
         " accepted: HH:MM in UTC (e.g. 07:30), or off"),
        ("NIJA_NOTIFY_BATCH_SECONDS", "-1", "config error: NIJA_NOTIFY_BATCH_SECONDS='-1': Input should be"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message
    assert TOKEN not in message


def _user(path: Path, **fields: object) -> Path:
    path.write_text(json.dumps({"user_id": path.stem, "name": path.stem.title(), "broker": "kraken", **fields}))
    return path


def test_a_follower_notify_field_is_checked_with_apprise(tmp_path: Path) -> None:
    good = load_user_file(_user(tmp_path / "alice.json", notify=f"json://127.0.0.1:8/hook?token={TOKEN}"))
    assert [url.get_secret_value() for url in good.notify] == [f"json://127.0.0.1:8/hook?token={TOKEN}"]
    assert TOKEN not in repr(good)
    listed = load_user_file(_user(tmp_path / "bob.json", notify=["json://127.0.0.1:8/a", "json://127.0.0.1:8/b"]))
    assert len(listed.notify) == 2
    assert load_user_file(_user(tmp_path / "carol.json")).notify == ()


@pytest.mark.parametrize(
    ("notify", "problem"),
    [
        (f"bogus://{TOKEN}", "notify: entry 1 of 1 (bogus://…) is not a notification URL apprise can use"),
        (["json://127.0.0.1:8/a", f"discord://{TOKEN}"], "notify: entry 2 of 2 (discord://…) is not a notification"),
        (42, "notify: must be a URL string or a list of them"),
        (["json://127.0.0.1:8/a", 7], "notify: every entry must be a URL string"),
    ],
)
def test_a_bad_follower_notify_is_one_problem_line_naming_file_and_field(
    tmp_path: Path, notify: object, problem: str,
) -> None:
    path = _user(tmp_path / "dave.json", notify=notify)
    found = discover_users(tmp_path, {})
    assert found.users == ()
    [line] = [p.message for p in found.problems]
    assert line.startswith(f"{path}: {problem}") and "\n" not in line
    assert TOKEN not in line


def test_no_notifier_without_any_url(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIJA_DATA_DIR", str(store.path.parent))
    assert build_notifier(load_settings(), store, threading.Event(), mode="paper", brokers=[]) is None
