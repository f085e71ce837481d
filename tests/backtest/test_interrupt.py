"""Ctrl-C during a backtest: one line, exit 130, and nothing of the run left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backtest.support import synthetic_csv

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process tree in /proc")


def _descendants(pid: int) -> set[int]:
    """`pid` and every process below it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {pid}, True
    while grew:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return tree


def _replaying(pid: int) -> bool:
    """Whether a worker below `pid` is replaying: on a long span its entry scan runs in a process
    of its own, the worker's child (`signals.EntrySignals`)."""
    tree = _descendants(pid)
    workers = {p for p in tree if _parent(p) == pid}
    return any(_parent(p) in workers for p in tree)


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:  # gone meanwhile
        return None


def test_ctrl_c_stops_every_worker_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "in"
    for symbol, seed in (("ETH/USD", 7), ("BTC/USD", 8)):
        synthetic_csv(data, symbol, 40_000, seed)  # long enough to still be running when interrupted
    scratch = tmp_path / "tmp"  # the run's temporary directory: a run keeps nothing there
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nija.backtest", "--data", str(data), "--workers", "2", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        deadline = time.monotonic() + 60
        while not _replaying(proc.pid):
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
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out").exists()


def test_ctrl_c_after_the_report_keeps_the_exit_code(tmp_path: Path) -> None:
    # The run is over once its report is printed: a Ctrl-C during the interpreter's shutdown must
    # not end the process by SIGINT (exit -2, the code lost) as it did in about half the tries.
    data = synthetic_csv(tmp_path / "in")
    for attempt in range(3):
        out_dir = tmp_path / f"out{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "nija.backtest", "--data", str(data), "--workers", "1", "--out", str(out_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # the report's last line: the files are written
                if line.startswith("wrote "):
                    break
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode in (0, 130), (proc.returncode, err)
        assert "Traceback" not in err
        assert (out_dir / "equity.png").stat().st_size > 0
