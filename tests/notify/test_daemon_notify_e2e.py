"""End-to-end: the paper daemon with NIJA_NOTIFY set to a hanging receiver and a working one.
Master fills and the demo followers' copies reach the working receiver; the hanging one never
holds up the broker loops' cycles; SIGTERM still stops the daemon within 5 s with exit 0; the
token in the URLs appears in no payload and no log line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.support import brokers, eventually
from tests.notify.receiver import Receiver, start_receiver

TOKEN = "canaryNotifyToken0123456789"


def _env(tmp_path: Path, notify: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(
        NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_CYCLE_SECONDS="0.1", NIJA_LOG_FORMAT="json",
        NIJA_PAPER_BROKERS="kraken,coinbase", NIJA_NOTIFY=notify, NIJA_NOTIFY_BATCH_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _messages(receiver: Receiver) -> str:
    return "\n".join(r.payload["message"] for r in list(receiver.requests))


def test_notifications_flow_while_a_hanging_receiver_never_slows_trading(tmp_path: Path, receiver: Receiver) -> None:
    hanging = start_receiver("hang")
    notify = f"{receiver.url('ok')}?+X-Token={TOKEN}, {hanging.url(TOKEN)}"
    log_path = tmp_path / "daemon.log"
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nija"], cwd=tmp_path, env=_env(tmp_path, notify), stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                eventually(lambda: "NIJA started (paper" in _messages(receiver), 30, "the start message")
                hanging.wait_for(1, timeout=30)  # the delivery thread is now stuck in the hanging request
                data = tmp_path / "data"
                before = eventually(lambda: brokers(data).get("kraken"), 30, "kraken status")["cycles_total"]
                eventually(lambda: "kraken master: " in _messages(receiver) and "demo_" in _messages(receiver),
                           60, "a master fill and a follower's copy")
                after = brokers(data)["kraken"]["cycles_total"]
                assert after > before + 10  # the loops cycled on at 0.1 s all the while
            finally:
                proc.send_signal(signal.SIGTERM)
                began = time.monotonic()
                code = proc.wait(timeout=15)
                stopped_in = time.monotonic() - began
    finally:
        hanging.close()
    assert code == 0 and stopped_in < 5
    payloads = [r.raw.decode() for r in [*receiver.requests, *hanging.requests]]
    assert all(TOKEN not in p for p in payloads)
    logged = log_path.read_text()
    assert TOKEN not in logged
    assert '"stuck_threads": []' in logged  # a send hanging at exit is abandoned, not waited for
