"""Logs: one JSON event per line with bound context, and canary secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from nija.config import load_settings
from nija.logs import configure_logging, get_logger

CANARIES = {
    "COINBASE_API_KEY": "organizations/canary-org/apiKeys/canary-coinbase-key",
    "COINBASE_API_SECRET": "-----BEGIN EC PRIVATE KEY-----\nCANARYcoinbaseSECRETline1AAAA\nCANARYline2BBBBBBBB\n-----END EC PRIVATE KEY-----\n",
    "KRAKEN_MASTER_API_KEY": "canary-kraken-key-ABCDEFGH",
    "KRAKEN_MASTER_API_SECRET": "canary-kraken-secret-IJKLMNOP==",
    "OKX_API_KEY": "canary-okx-key-0000",
    "OKX_API_SECRET": "canary-okx-secret-1111",
    "OKX_PASSPHRASE": "canary-okx-pass-2222",
    "BINANCE_API_KEY": "canary-binance-key-3333",
    "BINANCE_API_SECRET": "canary-binance-secret-4444",
    "ALPACA_API_KEY": "canary-alpaca-key-5555",
    "ALPACA_API_SECRET": "canary-alpaca-secret-6666",
}


def _fragments() -> list[str]:
    out = []
    for value in CANARIES.values():
        out.extend(line for line in value.splitlines() if len(line) >= 8 and not line.startswith("-----"))
        out.append(value)
    return out


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    stream = io.StringIO()
    configure_logging("json", "debug", settings.secret_values(), stream=stream)
    return stream


def test_json_one_event_per_line_with_bound_broker_and_account(output: io.StringIO) -> None:
    log = get_logger("test", broker="kraken", account="master")
    log.info("cycle_done", duration_ms=12)
    log.warning("cycle_failed", error="boom")
    lines = output.getvalue().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["cycle_done", "cycle_failed"]
    assert all(e["broker"] == "kraken" and e["account"] == "master" for e in events)
    assert events[0]["level"] == "info" and "timestamp" in events[0]


def test_canary_secrets_never_reach_the_log(output: io.StringIO) -> None:
    log = get_logger("test", broker="okx", account="master")
    secret = CANARIES["OKX_API_SECRET"]
    log.info("plain", value=secret)
    log.info(f"in the event name {CANARIES['KRAKEN_MASTER_API_KEY']}")
    log.info("nested", payload={"headers": {"API-Key": CANARIES["BINANCE_API_KEY"]}, "list": [CANARIES["ALPACA_API_SECRET"]]})
    log.info("pem", key=CANARIES["COINBASE_API_SECRET"])
    log.info("pem line", line=CANARIES["COINBASE_API_SECRET"].splitlines()[1])
    try:
        raise RuntimeError(f"auth failed for key {CANARIES['OKX_PASSPHRASE']}")
    except RuntimeError:
        log.exception("crash")
    log.error("as value", error=RuntimeError(CANARIES["ALPACA_API_KEY"]))
    logging.getLogger("ccxt.base.exchange").warning("request headers %s", CANARIES["KRAKEN_MASTER_API_SECRET"])
    text = output.getvalue()
    assert len(text.splitlines()) == 8
    for fragment in _fragments():
        assert fragment not in text
        assert json.dumps(fragment)[1:-1] not in text
    assert text.count("***") >= 8
