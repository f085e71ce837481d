"""The README quick start works as written: `cp .env.example .env`, the README's own lines, then
`./start.sh` trades in paper mode (issue 11: empty values such as `NIJA_REPLAY_DIR=` were read as
the current directory and the daemon idled with no broker).

The lines are read from the README itself and run in a copy of the checkout's start files
(start.sh, scripts/bootstrap.sh, pyproject.toml, .env.example) whose `.venv` is a one-line wrapper
around the test's own interpreter, marked as installed: start.sh runs unchanged, without a pip
install, and the daemon it starts is this checkout's code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.support import brokers, eventually

REPO = Path(__file__).resolve().parents[2]
_CONFIG_PREFIXES = ("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_", "MULTI_BROKER", "MINIMUM_FUNDED",
                    "MAX_", "MIN_", "COPY_", "ENTRY_BLOCKING", "DISABLED_PAIRS")


def checkout(tmp_path: Path) -> Path:
    """A folder laid out like a fresh clone for start.sh, its .venv already set up."""
    root = tmp_path / "nija"
    (root / "scripts").mkdir(parents=True)
    for name in ("start.sh", ".env.example", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, root / name)
    shutil.copy2(REPO / "scripts" / "bootstrap.sh", root / "scripts" / "bootstrap.sh")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    (root / ".venv" / ".nija-install-base").write_text(f"{digest}-base\n")  # bootstrap: nothing to install
    return root


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any NIJA setting (as a new user's shell)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIG_PREFIXES) or k == "NIJA_TEST_CANDLES_DIR"}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def readme_quick_start() -> list[str]:
    """The command lines of the README's "See it work in a minute" block, comments removed."""
    text = (REPO / "README.md").read_text()
    section = text.split("## See it work in a minute", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no bash block under 'See it work in a minute'"
    return [line.split(" #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_quick_start_trades_in_paper_mode(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    lines = readme_quick_start()
    start = lines.index("./start.sh")
    assert lines[0] == "cp .env.example .env", lines
    env = clean_env()
    for line in lines[:start]:
        subprocess.run(["bash", "-c", line], cwd=root, env=env, check=True, timeout=10)
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen(["./start.sh"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        data = root / "data"

        def traded() -> bool:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            seen = brokers(data)
            filled = {json.loads(line).get("broker") for line in (tmp_path / "daemon.log").read_text().splitlines()
                      if '"order_filled"' in line}
            return all(int(seen.get(b, {}).get("cycles_total", 0)) >= 2 and b in filled for b in ("kraken", "coinbase"))

        eventually(traded, 40, "both paper masters cycling twice and filling an order")
        for line in lines[start + 1:]:  # "in another terminal": the status lines
            status = subprocess.run(shlex.split(line), cwd=root, env=env, capture_output=True, text=True, timeout=30, check=False)
            assert status.returncode == 0, (line, status.stdout, status.stderr)
        log_text = (tmp_path / "daemon.log").read_text()
        started = next(json.loads(x) for x in log_text.splitlines() if '"daemon_started"' in x)
        assert (started["mode"], sorted(started["brokers"])) == ("paper", ["coinbase", "kraken"])
        assert '"broker_setup_failed"' not in log_text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]
