"""A damaged or emptied store is never replaced silently, and an unusable data dir is one line.

Each case runs the daemon as a subprocess (`python -m nija` with NIJA_DATA_DIR) and checks the
exit code, the one line on stderr and that the damaged file is exactly as it was. Before issue 11,
an emptied store made the daemon start on a fresh one: every order, fill, position, mark and halt
gone, new positions opened.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from nija import status
from nija.store import Store
from tests.e2e.support import brokers, eventually

ENV_PREFIXES = ("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(NIJA_DATA_DIR=str(data_dir), NIJA_CYCLE_SECONDS="0.25", NIJA_PAPER_BROKERS="kraken",
               NIJA_LOG_FORMAT="json", PYTHONUNBUFFERED="1", **extra)
    return env


def _refused(data_dir: Path, cwd: Path) -> str:
    """Run the daemon; it must refuse at once with exit 2 and one stderr line (returned)."""
    proc = subprocess.run([sys.executable, "-m", "nija"], cwd=cwd, env=_env(data_dir), capture_output=True, check=False,
                          text=True, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _real_store(path: Path) -> None:
    """A store with something to lose: a paper account, a daemon row, enough rows for many pages."""
    store = Store(path)
    store.seed_paper_account("kraken", "master", {"USD": Decimal(1000), "BTC": Decimal("0.5")})
    store.daemon_started(1, "paper", 0.25)
    store.claim("paper", {})
    store.publish_paper_prices("kraken", {f"C{i}/USD": Decimal(i) for i in range(2000)}, 1)
    store.close()


def _emptied(path: Path) -> None:
    path.write_bytes(b"")  # `: > data/nija.db`


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 5 * page] = os.urandom(2 * page)  # two b-tree pages overwritten
    path.write_bytes(bytes(data))


def _overwritten(path: Path) -> None:
    path.write_text("not a database\n" * 50)


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()


@pytest.mark.parametrize(
    ("damage", "says"),
    [(_emptied, "is empty (0 bytes)"), (_truncated, "damaged"), (_corrupt, "damaged"),
     (_overwritten, "not an SQLite database"), (_newer, "newer than this NIJA")],
    ids=["empty", "truncated", "corrupt", "not-sqlite", "newer-schema"],
)
def test_damaged_store_stops_start_up_untouched(tmp_path: Path, damage: Callable[[Path], None], says: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "nija.db"
    _real_store(path)
    damage(path)
    before = path.read_bytes()
    line = _refused(data, tmp_path)
    assert line.startswith(f"nija: store {path} "), line
    assert says in line and "restore the backup" in line and "move it aside" in line, line
    assert path.read_bytes() == before  # never replaced, never migrated, never "repaired"
    assert not (data / "nija.db.new").exists()


def test_only_a_data_dir_without_a_store_gets_a_new_one(tmp_path: Path) -> None:
    """A new store appears whole (built beside, then moved into place), so a file named nija.db is
    always a complete store: one with no NIJA schema is refused, not taken for a crashed start."""
    path = tmp_path / "data" / "nija.db"
    Store(path).close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["nija.db"]
    ro = Store(path, readonly=True)
    assert ro.schema_version() > 0
    ro.close()
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / "nija.db").execute("CREATE TABLE t (x)").connection.close()
    before = (other / "nija.db").read_bytes()
    assert "holds no NIJA schema" in _refused(other, tmp_path)
    assert (other / "nija.db").read_bytes() == before


def test_status_never_creates_or_migrates_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert status.main(["--data-dir", str(missing)], out=io.StringIO()) == status.UNKNOWN
    assert not missing.exists()
    data = tmp_path / "data"
    data.mkdir()
    (data / "nija.db").write_bytes(b"")
    out = io.StringIO()
    assert status.main(["--data-dir", str(data)], out=out) == status.UNKNOWN
    assert "is empty (0 bytes)" in out.getvalue()
    assert (data / "nija.db").read_bytes() == b""


def test_halt_file_still_halts_on_a_fresh_store(tmp_path: Path) -> None:
    """Halt files are authoritative: a store made new does not forget that an operator halted."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "HALT_kraken").write_text("halted by operator\n")
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=_env(data), stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        row = eventually(lambda: brokers(data).get("kraken", {}).get("status") == "halted", 40, "kraken halted")
        assert row
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# -- the data dir -------------------------------------------------------------------------------


def test_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("oops\n")
    line = _refused(not_a_dir, tmp_path)
    assert line == f"nija: data dir {not_a_dir} is not a directory: set NIJA_DATA_DIR to a directory", line
    assert not_a_dir.read_text() == "oops\n"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only data dir: a read-only tmpfs as root (root ignores permissions), else mode 555."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True, check=False)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr!r}")
        try:
            yield path
        finally:
            if subprocess.run(["umount", str(path)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(path)], check=False)  # never leave a mount behind
        return
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o755)


def test_read_only_data_dir_is_one_line(tmp_path: Path, read_only_dir: Path) -> None:
    line = _refused(read_only_dir, tmp_path)
    assert line.startswith(f"nija: data dir {read_only_dir} is not writable ("), line
    unwritable_parent = read_only_dir / "data"  # can't even be created
    line = _refused(unwritable_parent, tmp_path)
    assert line.startswith(f"nija: data dir {unwritable_parent} can't be created: "), line
