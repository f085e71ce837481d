"""Ctrl-C during a backtest: one line, exit 130, and no worker's scratch store left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nija.backtest.engine import _scratch_root
from tests.backtest.support import synthetic_csv


def _scratch_dirs() -> set[str]:
    root = Path(_scratch_root() or os.environ.get("TMPDIR", "/tmp"))
    return {path.name for path in root.glob("nija-backtest-*")}


def test_ctrl_c_stops_every_worker_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "in"
    for symbol, seed in (("ETH/USD", 7), ("BTC/USD", 8)):
        synthetic_csv(data, symbol, 40_000, seed)  # long enough to still be running when interrupted
    before = _scratch_dirs()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nija.backtest", "--data", str(data), "--workers", "2", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _scratch_dirs() - before:  # a worker is replaying
            assert proc.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert err == "python -m nija.backtest: interrupted\n"
    assert out == ""
    assert _scratch_dirs() - before == set()
    assert not (tmp_path / "out").exists()
