"""Bad input is one line naming the file, line or parameter, and exit 2; never a traceback.
`--help` exits 0 and creates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nija.backtest.__main__ import main
from tests.backtest.support import HEADER, candle_lines, write_csv

GOOD = candle_lines(count=400)


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's own usage errors exit from parse_args
        code = exit_info.code
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _with_line(index: int, line: str) -> list[str]:
    # lines[index] is file line index + 1 (the header is line 1)
    lines = list(GOOD)
    lines[index] = line
    return lines


def _field(row: str, column: int, value: str) -> str:
    parts = row.split(",")
    parts[column] = value
    return ",".join(parts)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([HEADER.replace("volume", "vol"), *GOOD[1:]], "line 1: columns must be timestamp,open,high,low,close,volume"),
        ([HEADER], "no candle rows"),
        (_with_line(10, GOOD[10] + ",1"), "line 11: expected 6 values, was 7"),
        (_with_line(10, _field(GOOD[10], 4, "nan")), "line 11: close must be finite"),
        (_with_line(10, _field(GOOD[10], 2, "abc")), "line 11: values must be numbers"),
        (_with_line(10, _field(GOOD[10], 5, "0")), "line 11: volume must be positive"),
        (_with_line(10, _field(GOOD[10], 3, "-1")), "line 11: prices must be positive"),
        (_with_line(10, GOOD[9]), "line 11: duplicate timestamp"),
        ([*GOOD[:10], GOOD[11], GOOD[10], *GOOD[12:]], "line 12: timestamps out of order"),
        ([*GOOD[:10], *GOOD[60:]], "line 11: gap of more than 36 missing candles"),
        (_with_line(10, _field(GOOD[10], 0, str(int(GOOD[10].split(",")[0]) + 1))), "line 11: timestamp off the 5-minute grid"),
    ],
)
def test_malformed_csv_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], expected: str
) -> None:
    path = write_csv(tmp_path / "in", "ETH-USD-5m.csv", lines)
    err = _error(capsys, ["--data", str(path), "--out", str(tmp_path / "out")])
    assert str(path) in err and expected in err, err
    assert not (tmp_path / "out").exists()


def test_a_short_gap_is_stepped_over_and_max_gap_is_adjustable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "in", "ETH-USD-5m.csv", [*GOOD[:10], *GOOD[13:]])  # 2 candles missing
    err = _error(capsys, ["--data", str(path), "--max-gap", "1", "--out", str(tmp_path / "out")])
    assert "line 11: gap of more than 1 missing candles" in err
    assert main(["--data", str(path), "--out", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--set", "no_such_param=1"], "unknown parameter 'no_such_param'"),
        (["--set", "adx_min=high"], "adx_min: must be a number, was 'high'"),
        (["--set", "adx_min"], "takes name=value"),
        (["--set", "tp_fractions=0.5,0.5"], "tp_r_multiples and tp_fractions must pair up"),
        (["--sweep", "adx_min=1,x"], "adx_min: must be a number, was 'x'"),
        (["--sweep", "adx_min=20", "--sweep", "rsi_low=25", "--sweep", "rsi_high=75"], "at most 2 parameters"),
        (["--broker", "mtgox"], "unknown broker 'mtgox'"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "empty date range"),
        (["--from", "2030-01-01"], "no candle to trade in the date range"),
        (["--to", "2020-01-01"], "no candle to trade in the date range"),
        (["--from", "yesterday"], "date must be YYYY-MM-DD"),
        (["--equity", "abc"], "--equity: must be a number"),
        (["--equity", "5"], "--equity must be at least MINIMUM_FUNDED_BALANCE = 10.0"),
        (["--train", "1.5", "--sweep", "adx_min=20,25"], "--train must be between 0 and 1"),
    ],
)
def test_bad_arguments_name_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    path = write_csv(tmp_path / "in", "ETH-USD-5m.csv", GOOD)
    err = _error(capsys, ["--data", str(path), "--out", str(tmp_path / "out"), *argv])
    assert expected in err, err


def test_missing_file_and_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "ETH-USD-5m.csv"
    assert "no such file or directory" in _error(capsys, ["--data", str(missing)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no *.csv candle files" in _error(capsys, ["--data", str(empty)])
    odd = write_csv(tmp_path / "in", "ethusd.csv", GOOD)
    assert "file name must be BASE-QUOTE-TIMEFRAME.csv" in _error(capsys, ["--data", str(odd)])


def test_no_traceback_from_the_command(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in", "ETH-USD-5m.csv", _with_line(5, _field(GOOD[5], 4, "nan")))
    proc = subprocess.run(
        [sys.executable, "-m", "nija.backtest", "--data", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{path}: line 6: close must be finite" in proc.stderr


def test_help_exits_0_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(tmp_path.rglob("*"))  # the test's working directory (conftest chdirs here)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--sweep" in capsys.readouterr().out
    assert sorted(tmp_path.rglob("*")) == before
