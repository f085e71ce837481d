"""The crash matrix, short: one kill -9 per step of a master order and of its copy fan-out
(`scripts/crash_matrix.py`, 10 followers), each restarted on the same data dir: nothing lost,
nothing sent twice, nothing left open (DESIGN invariants 4 and 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_matrix.py"
STEPS = ("before_intent", "after_intent", "after_send", "after_fill", "copy_intents", "mid_ledger", "after_ack")


def test_a_kill_at_every_step_loses_and_doubles_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", str(len(STEPS)), "--users", "10", "--seed", "7"],
        check=False, capture_output=True, text=True, timeout=240,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures["steps"]) == set(STEPS)
    assert all(step["runs"] == 1 for step in figures["steps"].values()), figures
    assert (figures["lost"], figures["duplicates"], figures["unresolved"], figures["missed"]) == (0, 0, 0, 0), (
        figures, done.stderr[-3000:])
    # every step after the master fill copied it to every follower
    assert figures["copies_filled"] == 10 * 5, figures
    assert done.returncode == 0, done.stderr[-3000:]
