"""`python -m nija.report backup DEST`: a consistent, checked copy while another connection
writes; a bad DEST is one line and exit 2, and never leaves a file behind."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nija.models import BalanceSnapshot
from nija.report.__main__ import main
from nija.store import Store, db_path
from tests.report.builders import KRAKEN, T0, fill, master_fill, new_store


def test_backup_while_a_writer_is_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    store = new_store(data_dir)
    master_fill(store, fill("master", "buy", "1", "100", "m1", T0))
    stop, written = threading.Event(), [0]

    def write() -> None:
        # The daemon's pace is far slower; this writer commits as fast as it can.
        writer = Store(db_path(data_dir))
        n = 0
        while not stop.is_set() or n < 50:
            n += 1
            snapshot = BalanceSnapshot.from_parts(Decimal(1000 + n), Decimal(0), T0 + timedelta(seconds=n))
            writer.record_equity(KRAKEN, "master", snapshot)
        written[0] = n
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        dest = tmp_path / "copy.db"
        assert main(["backup", str(dest), "--data-dir", str(data_dir)]) == 0
    finally:
        stop.set()
        thread.join()
    store.close()
    assert "backed up" in capsys.readouterr().out
    copy = Store(dest, readonly=True)  # a complete store of the current schema
    snapshots = len(copy.equity_points()[(KRAKEN, "master")])
    assert [f.trade_id for f in copy.fills(KRAKEN, "master")] == ["m1"]
    copy.close()
    assert 1 <= snapshots <= written[0] + 1
    assert not list(tmp_path.glob("*.partial"))


def test_backup_into_a_directory_gets_a_dated_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new_store(tmp_path / "data").close()
    (tmp_path / "backups").mkdir()
    assert main(["backup", str(tmp_path / "backups"), "--data-dir", str(tmp_path / "data")]) == 0
    [made] = list((tmp_path / "backups").iterdir())
    assert made.name.startswith("nija-") and made.suffix == ".db"


@pytest.mark.parametrize("dest", ["exists.db", "missing/dir/copy.db", "data/nija.db"])
def test_bad_destination_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], dest: str) -> None:
    new_store(tmp_path / "data").close()
    (tmp_path / "exists.db").write_bytes(b"keep me")
    assert main(["backup", str(tmp_path / dest), "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backup destination" in err[0]
    assert (tmp_path / "exists.db").read_bytes() == b"keep me"
    assert not (tmp_path / "missing").exists()
