"""The command writes trades.csv (every fill with its reason), equity.csv and a non-empty
equity.png, and prints the table or the JSON report with the fingerprint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nija.backtest.__main__ import main
from tests.backtest.support import synthetic_csv


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "candles"
    synthetic_csv(directory, "ETH/USD", 1200)
    synthetic_csv(directory, "SOL/USD", 1200)
    return directory


def test_json_report_and_files(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--json", "--workers", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["symbols"]) == {"ETH/USD", "SOL/USD"}
    assert len(doc["fingerprint"]) == 64 and "taker fee" in doc["fill_model"]
    total = doc["total"]
    assert total["trades"] == sum(s["trades"] for s in doc["symbols"].values())
    assert {"win_rate_pct", "mean_trade_pct", "median_trade_pct", "fees", "gross_pnl", "net_pnl", "max_drawdown_pct",
            "exposure_pct", "avg_hold_minutes", "exits", "buy_hold_pct"} <= set(total)

    png = (out / "equity.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    with (out / "trades.csv").open() as handle:
        fills = list(csv.DictReader(handle))
    sells = [f for f in fills if f["side"] == "sell"]
    assert fills and all(f["reason"] for f in fills)
    assert sum(total["exits"].values()) == len(sells)
    assert {f["exit_reason"] for f in sells} <= set(total["exits"])

    with (out / "equity.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["equity"] == total["end_equity"]
    assert len(rows) == total["candles"]


def test_table_names_symbols_exits_fill_model_and_fingerprint(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(data / "ETH-USD-5m.csv"), "--out", str(tmp_path / "out"), "--spread-bps", "0",
                 "--slippage-bps", "0", "--fee", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "ETH/USD" in text and "TOTAL" in text and "b&h%" in text and "ema_cross" in text
    assert "half the 0 bps spread ± 0 bps slippage, paying 0.1% taker fee (kraken fee table, overridden)" in text
    assert "fingerprint " in text
