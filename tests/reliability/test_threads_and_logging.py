"""The daemon as a subprocess: a stdout reader that goes away never stops trading, and SIGHUP
(the terminal closed) stops it cleanly like SIGTERM."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nija.logs import configure_logging, get_logger
from tests.e2e.support import eventually

READ_BYTES = 6000  # `python -m nija | head -c 6000`


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_CYCLE_SECONDS="1", NIJA_PAPER_BROKERS="kraken,coinbase",
               NIJA_LOG_FORMAT="json", NIJA_STATUS_SUMMARY_SECONDS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _status(tmp_path: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "nija.status", "--json", "--data-dir", str(tmp_path / "data")],
                          check=False, capture_output=True, text=True, env=env, timeout=30)
    return proc.returncode, json.loads(proc.stdout)


def _cycles(tmp_path: Path, env: dict[str, str]) -> dict[str, int]:
    return {b["broker"]: b["cycles_total"] for b in _status(tmp_path, env)[1].get("brokers", [])}


def test_a_stdout_reader_that_goes_away_never_stops_the_broker_threads(tmp_path: Path) -> None:
    env = _env(tmp_path)
    err = open(tmp_path / "stderr.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        got = 0
        while got < READ_BYTES:  # the reader takes its bytes, then goes away
            chunk = proc.stdout.read1(READ_BYTES - got)  # type: ignore[attr-defined]
            assert chunk, "the daemon ended before writing 6000 bytes"
            got += len(chunk)
        proc.stdout.close()
        # The next log lines hit the broken pipe; every broker thread keeps cycling regardless.
        time.sleep(2)  # two 1 s cycles: each broker has logged into the broken pipe
        before = _cycles(tmp_path, env)
        eventually(lambda: all(n >= before[b] + 3 for b, n in _cycles(tmp_path, env).items()), 20, "cycles after the break")
        code, doc = _status(tmp_path, env)
        assert code == 0 and {b["status"] for b in doc["brokers"]} == {"healthy"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0  # no "Exception ignored ... BrokenPipeError" exit 120 either
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    stderr = (tmp_path / "stderr.log").read_text()
    assert stderr.count("nija: log output") == 1 and "failed (BrokenPipeError" in stderr  # reported once
    assert "Traceback" not in stderr
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    assert "cycle_done" in events and "daemon_stopped" in events  # logging went on, on stderr


def test_a_broken_sink_degrades_and_never_raises(capfd: pytest.CaptureFixture[str]) -> None:
    closed = io.StringIO()
    configure_logging("json", "info", [], stream=closed)
    try:
        closed.close()  # ValueError: I/O operation on closed file
        log = get_logger("t", broker="kraken")
        for _ in range(3):
            log.info("cycle_done")
            log.error("cycle_failed", exc_info=False)
            logging.getLogger("ccxt").warning("library line")
    finally:
        configure_logging("console", "info", [])
    assert capfd.readouterr().err.count("nija: log output") == 1


def test_sighup_stops_cleanly_like_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in _env(tmp_path).items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: len(c := _cycles(tmp_path, env)) == 2 and min(c.values()) >= 1, 30, "both brokers cycling")
            # `python -m nija` re-executed itself under the allocator settings (nija.malloc_env), same PID.
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
            assert {b"MALLOC_ARENA_MAX=2", b"GLIBC_TUNABLES=glibc.malloc.tcache_count=0"} <= set(environ)
            proc.send_signal(signal.SIGHUP)
            started = time.monotonic()
            assert proc.wait(timeout=5) == 0
            assert time.monotonic() - started < 5
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    code, doc = _status(tmp_path, env)
    assert code == 2 and doc["daemon"]["running"] is False
    assert {b["status"] for b in doc["brokers"]} == {"stopped"}
    events = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines() if line.startswith("{")]
    assert {"event": "signal_received", "signal": "SIGHUP"}.items() <= next(e for e in events if e["event"] == "signal_received").items()
