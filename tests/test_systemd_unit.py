"""scripts/nija.service: the directives an operator relies on, and `systemd-analyze verify`
(when installed; scripts/test.sh installs it) finding nothing wrong with it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
UNIT = REPO_ROOT / "scripts" / "nija.service"
INSTALL_DIR = "/opt/nija"  # where the unit expects the repository (README, "Run as a service")


def _directives(text: str) -> dict[str, str]:
    """`Key=value` lines of a unit (the last one wins, as systemd reads single-valued keys)."""
    found = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def test_the_unit_restarts_on_failure_and_stops_gracefully() -> None:
    unit = _directives(UNIT.read_text())
    assert unit["Restart"] == "on-failure"
    assert unit["KillSignal"] == "SIGTERM"
    assert float(unit["TimeoutStopSec"]) > 5  # the daemon's own shutdown deadline is 5 s
    assert int(unit["LimitNOFILE"]) >= 4096  # 1,000 copy users need ~2,000 descriptors
    assert unit["WorkingDirectory"] == INSTALL_DIR
    assert unit["EnvironmentFile"].lstrip("-") == f"{INSTALL_DIR}/.env"
    assert unit["ExecStart"] == f"{INSTALL_DIR}/start.sh"
    assert set(unit["RestartPreventExitStatus"].split()) == {"2", "3"}  # bad config, EMERGENCY_STOP


def _verify(unit_text: str, tmp_path: Path) -> list[str]:
    """Problems `systemd-analyze verify` reports for the unit installed at the repository's
    place. It exits 0 on some (a misspelt signal is "ignoring"), so every line naming the unit counts."""
    path = tmp_path / "nija.service"
    path.write_text(unit_text.replace(INSTALL_DIR, str(REPO_ROOT)))
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "nija.service" in line]
    return lines if lines or done.returncode == 0 else [f"exit {done.returncode}: {done.stderr.strip()}"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (scripts/test.sh installs it)")
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    assert _verify(UNIT.read_text(), tmp_path) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (scripts/test.sh installs it)")
def test_the_verify_check_catches_a_bad_directive(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("KillSignal=SIGTERM", "KillSignal=SIGBOGUS")
    problems = _verify(broken, tmp_path)
    assert len(problems) == 1 and "SIGBOGUS" in problems[0]
