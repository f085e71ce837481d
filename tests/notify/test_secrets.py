"""Tokens in notification URLs are secrets: a canary in the operator's and a follower's URLs (and
an API key a venue error echoed) never reaches a delivered payload nor a log line, even when a
receiver fails and its drop is logged."""

from __future__ import annotations

import io
import json
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from nija.config import load_settings
from nija.logs import configure_logging, get_logger
from nija.models import CopyLedgerEntry, CopyStatus
from nija.notify import build_notifier
from nija.notify_urls import notify_url_secrets
from nija.store import Recording, Store
from tests.notify.builders import KRAKEN, master_fill
from tests.notify.receiver import Receiver, start_receiver

PASSWORD = "canaryPW7x1"
HEADER = "canaryHDR9y2"
PATH_TOKEN = "canaryPATHtoken0123456789"
API_KEY = "canary-kraken-key-ABCDEFGH"
CANARIES = (PASSWORD, HEADER, PATH_TOKEN, API_KEY)


def test_url_secret_parts_cover_what_apprise_hides_and_what_it_shows() -> None:
    parts = notify_url_secrets(f"json://nija:{PASSWORD}@127.0.0.1:8/{PATH_TOKEN}?+X-Token={HEADER}")
    assert {PASSWORD, HEADER, PATH_TOKEN} <= set(parts)
    assert "127.0.0.1" not in parts and "nija" not in parts
    telegram = notify_url_secrets("tgram://123456789:AAbbCCddEEffGGhhIIjj/12345678")
    assert "123456789:AAbbCCddEEffGGhhIIjj" in telegram and "12345678" not in telegram


def test_canaries_reach_no_payload_and_no_log_line(
    store: Store, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = start_receiver("fail")
    try:
        operator_ok = f"json://nija:{PASSWORD}@127.0.0.1:{receiver.port}/operator?+X-Token={HEADER}"
        operator_failing = f"json://127.0.0.1:{failing.port}/{PATH_TOKEN}"
        monkeypatch.setenv("NIJA_NOTIFY", f"{operator_ok}, {operator_failing}")
        monkeypatch.setenv("NIJA_NOTIFY_BATCH_SECONDS", "0")
        monkeypatch.setenv("NIJA_DATA_DIR", str(store.path.parent))
        monkeypatch.setenv("KRAKEN_MASTER_API_KEY", API_KEY)
        monkeypatch.setenv("KRAKEN_MASTER_API_SECRET", "canary-kraken-secret-IJKLMNOP==")
        users = store.path.parent / "users"
        users.mkdir()
        follower_url = f"json://127.0.0.1:{receiver.port}/alice/{PATH_TOKEN}"
        (users / "alice.json").write_text(json.dumps(
            {"user_id": "alice", "name": "Alice", "broker": "kraken", "notify": [follower_url]}))
        settings = load_settings()
        stream = io.StringIO()
        configure_logging("json", "debug", settings.secret_values(), stream=stream)
        stop = threading.Event()
        # backoff: the failing receiver's retries need not take seconds
        notifier = build_notifier(settings, store, stop, mode="paper", brokers=["kraken"], backoff_seconds=0.01,
                                  log=get_logger("notify"))
        assert notifier is not None
        get_logger("test").info("settings_read", urls=[operator_ok, follower_url])  # a careless line
        notifier.start()

        signal = master_fill(store, 1)
        store.open_copy_rows(signal.signal_id, KRAKEN, {"alice": "nj-a"})
        # A venue error that echoed the key and the follower's own URL back.
        reason = f"AuthError: key {API_KEY} refused; callback {follower_url}"
        store.record(Recording(ledger=[CopyLedgerEntry(signal.signal_id, "alice", CopyStatus.FAILED, reason=reason,
                                                       size_asked=Decimal("5"))]))
        notifier.tick()
        received = receiver.wait_for(3)  # the operator: started, then fill and copy; alice: her copy
        deadline = time.monotonic() + 10
        while notifier.dispatcher.messages_dropped < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        assert notifier.join(10)
    finally:
        failing.close()

    bodies = [r.raw.decode() for r in [*received, *failing.requests]]
    assert any("kraken alice: copy BUY BTC/USD failed: AuthError: key *** refused" in b for b in bodies)
    assert any(r.path.startswith("/alice/") for r in received)  # the follower got its own copy
    logged = stream.getvalue()
    assert "notify_dropped" in logged and "settings_read" in logged
    for canary in CANARIES:
        assert all(canary not in body for body in bodies), canary
        assert canary not in logged, canary
