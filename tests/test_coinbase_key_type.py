"""An Ed25519 CDP key is refused at start, naming its variable (research: real-venues.md defect #8).

Coinbase's docs: Ed25519 (EdDSA) keys are not supported for Advanced Trade, select ECDSA. ccxt signs an
Ed25519 secret with EdDSA without a word, and every private call then fails: before this check the
daemon started and its Coinbase account failed on authentication every cycle.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from nija import build, logs
from nija.app import main
from nija.brokers.base import BrokerError
from nija.brokers.ccxt.coinbase import key_type_problem
from nija.build import master_key_problem
from nija.config import load_settings
from nija.models import BrokerName
from nija.store import Store


def _ed25519_secret() -> str:
    """A CDP Ed25519 secret as Coinbase's portal shows it: base64 of the 32-byte seed and the 32-byte public key."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed + public).decode()


def _ecdsa_secret() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_key_type_problem_refuses_ed25519_and_passes_an_ecdsa_pem() -> None:
    secret = _ed25519_secret()
    assert len(secret) == 88  # the shape ccxt 4.5 signs with EdDSA
    assert "Ed25519" in (key_type_problem(secret) or "") and "ECDSA" in (key_type_problem(secret) or "")
    assert key_type_problem(_ecdsa_secret()) is None
    assert key_type_problem("not-base64 at all") is None  # other shapes: the venue's answer decides


def test_master_ed25519_secret_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _ed25519_secret()
    monkeypatch.setenv("COINBASE_API_KEY", "organizations/o/apiKeys/k")
    monkeypatch.setenv("COINBASE_API_SECRET", secret)

    message = master_key_problem(load_settings()) or ""

    assert message.startswith("config error: COINBASE_API_SECRET: an Ed25519 key")
    assert "\n" not in message and secret not in message


def test_master_ecdsa_secret_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINBASE_API_KEY", "organizations/o/apiKeys/k")
    monkeypatch.setenv("COINBASE_API_SECRET", _ecdsa_secret())

    assert master_key_problem(load_settings()) is None


def test_the_daemon_exits_2_with_that_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NIJA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COINBASE_API_KEY", "organizations/o/apiKeys/k")
    monkeypatch.setenv("COINBASE_API_SECRET", _ed25519_secret())
    err = io.StringIO()

    assert main([], err) == 2
    assert err.getvalue().startswith("nija: config error: COINBASE_API_SECRET: an Ed25519 key")
    assert err.getvalue().count("\n") == 1
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_a_manual_trade_refuses_the_key_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NIJA_MODE", "live")
    monkeypatch.setenv("COINBASE_API_KEY", "organizations/o/apiKeys/k")
    monkeypatch.setenv("COINBASE_API_SECRET", _ed25519_secret())
    store = Store(tmp_path / "nija.db")
    try:
        with pytest.raises(BrokerError, match="^config error: COINBASE_API_SECRET: an Ed25519 key"):
            build.manual_master_broker(load_settings(), BrokerName.COINBASE, store, build.Shared(), logs.get_logger("t"))
    finally:
        store.close()


def test_a_followers_ed25519_secret_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    users = tmp_path / "users"
    users.mkdir()
    (users / "alice.json").write_text(json.dumps({"user_id": "alice", "name": "Alice", "broker": "coinbase"}))
    secret = _ed25519_secret()
    monkeypatch.setenv("NIJA_USERS_DIR", str(users))
    monkeypatch.setenv("COINBASE_USER_ALICE_API_KEY", "organizations/o/apiKeys/a")
    monkeypatch.setenv("COINBASE_USER_ALICE_API_SECRET", secret)
    master = SimpleNamespace(broker=SimpleNamespace(name=BrokerName.COINBASE))
    store = Store(tmp_path / "nija.db")
    try:
        engine = build.build_copy_engine(load_settings(), "live", store, [master], build.Shared(), logs.get_logger("t"))
    finally:
        store.close()

    assert engine is not None and engine.user_count == 0
    [row] = engine._unavailable
    assert row["user_id"] == "alice"
    assert row["last_error"].startswith("COINBASE_USER_ALICE_API_SECRET: an Ed25519 key")
    assert secret not in row["last_error"]
