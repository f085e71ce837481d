"""The halt file is read every cycle: absent, present, empty, unreadable, and seen on the next read;
the switch files answer through `SwitchFiles` as the functions do."""

from __future__ import annotations

from pathlib import Path

from nija.models import BrokerName
from nija.trading.guard import EMERGENCY_STOP_FILE, EntryRules, entry_block_reason
from nija.trading.halt import SwitchFiles, halt_path, read_halt, write_halt


def test_absent_then_written_then_removed_is_seen_on_each_read(tmp_path: Path) -> None:
    path = halt_path(tmp_path, BrokerName.KRAKEN)
    assert read_halt(path) is None
    write_halt(path, "drawdown 12%\nsecond line")
    assert read_halt(path) == "drawdown 12% second line"
    path.write_text("operator says stop\nmore\n", encoding="utf-8")
    assert read_halt(path) == "operator says stop"
    path.unlink()
    assert read_halt(path) is None


def test_an_empty_file_halts_and_an_unreadable_one_too(tmp_path: Path) -> None:
    path = halt_path(tmp_path, BrokerName.OKX)
    path.touch()
    assert read_halt(path) == f"halted by operator ({path.name} present)"
    path.unlink()
    path.mkdir()  # present but not readable as a file
    assert (read_halt(path) or "").startswith("halt file unreadable")


def test_a_missing_data_dir_component_reads_as_not_halted(tmp_path: Path) -> None:
    assert read_halt(halt_path(tmp_path / "gone", BrokerName.KRAKEN)) is None


def test_emergency_stop_is_seen_on_the_next_check(tmp_path: Path) -> None:
    rules = EntryRules(SwitchFiles(tmp_path))
    assert entry_block_reason(rules, BrokerName.KRAKEN, None) is None
    (tmp_path / EMERGENCY_STOP_FILE).touch()
    assert (entry_block_reason(rules, BrokerName.KRAKEN, None) or "").startswith("emergency_stop")
    (tmp_path / EMERGENCY_STOP_FILE).unlink()
    assert entry_block_reason(rules, BrokerName.KRAKEN, None) is None


def test_switch_files_read_and_write_the_files_an_operator_sees(tmp_path: Path) -> None:
    switches = SwitchFiles(tmp_path)
    assert switches.halted(BrokerName.KRAKEN) is None and not switches.emergency_stop()
    switches.halt(BrokerName.KRAKEN, "drawdown 12%\nfrom the kill switch")
    assert read_halt(halt_path(tmp_path, BrokerName.KRAKEN)) == "drawdown 12% from the kill switch"
    assert switches.halted(BrokerName.KRAKEN) == "drawdown 12% from the kill switch"
    assert switches.halted(BrokerName.OKX) is None
    halt_path(tmp_path, BrokerName.KRAKEN).unlink()  # an operator's resume
    assert switches.halted(BrokerName.KRAKEN) is None
    (tmp_path / EMERGENCY_STOP_FILE).touch()
    assert switches.emergency_stop()
