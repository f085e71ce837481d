"""`python -m nija.report` as an operator runs it: tables, --trades, CSV and PNG files, --help
without a store, and one line with exit 2 for every bad input."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from nija.report.__main__ import main
from tests.report.builders import T0, copy, fill, master_fill, new_store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A store with a master round trip copied by alice (the sell with a fee in base)."""
    path = tmp_path / "data"
    store = new_store(path)
    buy = master_fill(store, fill("master", "buy", "1", "100", "m1", T0, fee="0.26"))
    sell = master_fill(store, fill("master", "sell", "1", "110", "m2", T0 + timedelta(days=1), fee="0.29"),
                       position_before="1", equity="1009")
    copy(store, buy, "alice", fill("alice", "buy", "0.5", "100.5", "a1", T0 + timedelta(seconds=1), fee="0.13"),
         slippage_bps="50", ack_ms=120.0, fill_ms=250.0, equity="500")
    copy(store, sell, "alice", fill("alice", "sell", "0.5", "109", "a2", T0 + timedelta(days=1, seconds=1),
                                    fee="0.14", fee_in_base="0.001"), slippage_bps="91", equity="504")
    store.close()
    return path


def test_json_report_has_every_account_with_exact_money(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "--trades", "--data-dir", str(data_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    accounts = {a["account"]: a for a in doc["accounts"]}
    assert accounts["master"]["realised_pnl"] == "9.45"  # 110 - 100 - 0.26 - 0.29
    assert accounts["master"]["win_rate_pct"] == "100"
    assert accounts["alice"]["fees"] == "0.27"
    assert [c["account"] for c in doc["copies"]] == ["alice"]
    assert doc["copies"][0]["mean_slippage_bps"] == "70.5"
    trades = doc["trades"]
    assert len(trades) == 4
    alice_sell = next(t for t in trades if t["trade_id"] == "a2")
    assert alice_sell["fee_in_base"] == "0.001" and alice_sell["master_trade_id"] == "m2"


def test_text_report_for_one_account_and_window(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    since = (T0 + timedelta(hours=12)).date().isoformat()
    assert main(["--account", "kraken:alice", "--since", since, "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    assert "alice" in text and "master    master" not in text
    assert "followers' copies" in text


def test_csv_and_png_are_written(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_png = tmp_path / "csv", tmp_path / "png"
    assert main(["--trades", "--csv", str(out_csv), "--png", str(out_png), "--data-dir", str(data_dir)]) == 0
    assert sorted(p.name for p in out_csv.iterdir()) == [
        "accounts.csv", "copies.csv", "open_positions.csv", "trades.csv",
    ]
    with (out_csv / "accounts.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {r["account"] for r in rows} == {"master", "alice"}
    charts = sorted(p.name for p in out_png.iterdir())
    assert charts == ["equity_kraken_alice.png", "equity_kraken_master.png", "followers_vs_master.png"]
    for chart in out_png.iterdir():
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 1000
    assert "wrote 4 CSV files" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["--help"], ["statement", "--help"], ["backup", "--help"]])
def test_help_exits_0_without_creating_a_store(tmp_path: Path, command: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--data-dir", str(tmp_path / "nothing")])
    assert exit_.value.code == 0
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "2026-02-30"], "--since"),
        (["--until", "yesterday"], "--until"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--until"),
        (["--account", "kraken"], "--account"),
        (["--account", "mtgox:master"], "--account"),
        (["--account", "kraken:nobody"], "--account"),
        (["--bogus"], "--bogus"),
        (["statement", "--follower", "alice", "--period", "2026-13"], "--period"),
        (["statement", "--follower", "nobody", "--period", "2026-11"], "--follower"),
        (["statement", "--period", "2026-11"], "--follower"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], named: str) -> None:
    assert main([*args, "--data-dir", str(data_dir)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    "command", [[], ["statement", "--follower", "alice", "--period", "2026-11"], ["backup", "x.db"]],
)
def test_a_missing_store_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     command: list[str]) -> None:
    assert main([*command, "--data-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nija report: no store at {tmp_path / 'empty' / 'nija.db'}"]
    assert not (tmp_path / "empty").exists()
