"""What a backtest writes: the stdout table, the JSON document, trades.csv, equity.csv and
equity.png. Money is rounded here and only here, for display; the files keep full Decimals."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from nija.backtest.report import Curve, Summary, max_drawdown
from nija.backtest.runner import BacktestResult
from nija.backtest.sweep import SweepRow
from nija.backtest.trades import EXIT_REASONS, exit_reason
from nija.models import Side

__all__ = [
    "format_sweep", "format_table", "summary_json", "sweep_json", "to_json", "write_equity_csv", "write_equity_png", "write_trades_csv",
]

_COLUMNS = (
    ("symbol", 13), ("trades", 6), ("win%", 6), ("mean%", 7), ("median%", 8), ("fees", 9), ("gross", 9),
    ("net", 9), ("return%", 8), ("b&h%", 8), ("maxDD%", 7), ("expo%", 6), ("hold_m", 7),
)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(name: str, s: Summary) -> list[str]:
    return [
        name, str(s.trades), f"{s.win_rate_pct:.1f}", f"{s.mean_trade_pct:+.3f}", f"{s.median_trade_pct:+.3f}",
        f"{s.fees:.2f}", f"{s.gross:+.2f}", f"{s.net:+.2f}", f"{s.return_pct:+.2f}", f"{s.buy_hold_pct:+.2f}",
        f"{s.max_drawdown_pct:.2f}", f"{s.exposure_pct:.1f}", f"{s.avg_hold_minutes:.0f}",
    ]


def _exits_row(name: str, s: Summary) -> list[str]:
    return [name[:13], *(str(s.exits.get(reason, 0)) for reason in EXIT_REASONS)]


def _lines(header: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(cells, header, strict=True)))

    return [line([h for h, _ in header]), *(line(r) for r in rows)]


def format_table(result: BacktestResult) -> str:
    """The report as text: figures per symbol and total, exits by reason, fill model, fingerprint."""
    rows = [_row(r.run.symbol, r.summary) for r in result.symbols]
    rows.append(_row("TOTAL", result.total))
    exit_header = [("exits", 13), *((reason, max(len(reason), 5)) for reason in EXIT_REASONS)]
    exit_rows = [_exits_row(r.run.symbol, r.summary) for r in result.symbols] + [_exits_row("TOTAL", result.total)]
    first = min((int(r.run.ts[0]) for r in result.symbols if len(r.run.ts)), default=0)
    last = max((int(r.run.ts[-1]) for r in result.symbols if len(r.run.ts)), default=0)
    total = result.total
    return "\n".join([
        (
            f"backtest {_iso(first)} .. {_iso(last)}, {len(result.symbols)} symbol(s), each its own account of"
            f" {result.symbols[0].run.start_equity if result.symbols else 0}"
        ),
        *_lines(_COLUMNS, rows),
        "",
        *_lines(exit_header, exit_rows),
        "",
        (
            f"equity {total.start_equity:.2f} -> {total.end_equity:.2f} ({total.return_pct:+.2f}%),"
            f" buy-and-hold -> {total.buy_hold_end:.2f} ({total.buy_hold_pct:+.2f}%),"
            f" max drawdown {total.max_drawdown:.2f} ({total.max_drawdown_pct:.2f}%)"
        ),
        (
            "mean/median: trade after fees, % of its cost; gross/net: closed trades before/after fees;"
            " return%: equity change with open positions at the last close"
        ),
        f"fill model: {result.fill_model}",
        f"fingerprint {result.fingerprint}",
    ])


def summary_json(s: Summary) -> dict[str, Any]:
    """One summary as JSON values (Decimals as strings, exact)."""
    return {
        "candles": s.candles, "trades": s.trades, "wins": s.wins, "win_rate_pct": str(s.win_rate_pct),
        "mean_trade_pct": str(s.mean_trade_pct), "median_trade_pct": str(s.median_trade_pct),
        "mean_trade": str(s.mean_trade), "median_trade": str(s.median_trade), "fees": str(s.fees),
        "gross_pnl": str(s.gross), "net_pnl": str(s.net), "start_equity": str(s.start_equity),
        "end_equity": str(s.end_equity), "return_pct": str(s.return_pct), "max_drawdown": str(s.max_drawdown),
        "max_drawdown_pct": str(s.max_drawdown_pct), "exposure_pct": str(s.exposure_pct),
        "avg_hold_minutes": str(s.avg_hold_minutes), "exits": dict(s.exits),
        "buy_hold_end_equity": str(s.buy_hold_end), "buy_hold_pct": str(s.buy_hold_pct),
    }


def to_json(result: BacktestResult) -> dict[str, Any]:
    """The whole report as one JSON document."""
    return {
        "fill_model": result.fill_model,
        "fingerprint": result.fingerprint,
        "symbols": {r.run.symbol: summary_json(r.summary) for r in result.symbols},
        "total": summary_json(result.total),
    }


def write_trades_csv(path: Path, result: BacktestResult) -> None:
    """Every fill, with its trade number (per symbol), the exit reason and the order's own reason."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "symbol", "trade", "side", "qty", "price", "notional", "fee", "exit_reason", "reason"])
        for r in result.symbols:
            trade, held = 0, Decimal(0)
            for fill in r.run.fills:
                if held == 0:
                    trade += 1
                held += fill.qty if fill.side is Side.BUY else -fill.qty
                reason = exit_reason(fill.reason)
                writer.writerow([
                    _iso(fill.ts_ms), fill.symbol, trade, str(fill.side), fill.qty, fill.price, fill.qty * fill.price,
                    fill.fee, "" if reason == "entry" else reason, fill.reason,
                ])


def write_equity_csv(path: Path, result: BacktestResult) -> None:
    """Total equity, buy-and-hold and drawdown at every candle time."""
    curve, held = result.curve, result.buy_hold
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "equity", "buy_hold", "drawdown_pct", "in_market"])
        for at, equity, bh, dd, in_market in zip(
            curve.ts.tolist(), curve.equity, held.equity, _drawdowns(curve.equity), curve.held, strict=True
        ):
            writer.writerow([_iso(int(at)), equity, bh, f"{dd:.6f}", int(in_market)])


def _drawdowns(equity: Sequence[Decimal]) -> list[Decimal]:
    # Percent below the running peak at each candle (max_drawdown's deepest is their maximum).
    peak: Decimal | None = None
    out = []
    for value in equity:
        peak = value if peak is None or value > peak else peak
        out.append((peak - value) / peak * 100 if peak > 0 else Decimal(0))
    return out


def write_equity_png(path: Path, curve: Curve, buy_hold: Curve) -> None:
    """Equity against buy-and-hold over time, the strategy's drawdown shaded below."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, works without a display
    import matplotlib.pyplot as plt

    times = [datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in curve.ts.tolist()]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1]})
    try:
        top.plot(times, [float(v) for v in curve.equity], label="strategy", linewidth=1)
        top.plot(times, [float(v) for v in buy_hold.equity], label="buy and hold", linewidth=1)
        top.set_ylabel("equity")
        top.legend(loc="upper left")
        top.grid(alpha=0.3)
        drawdown = [-float(v) for v in _drawdowns(curve.equity)]
        bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4, step="post")
        deepest = max_drawdown(curve.equity)[1]
        bottom.set_ylabel(f"drawdown % (max {deepest:.2f})")
        bottom.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


_SWEEP_HALF = (("return%", 8), ("trades", 6), ("win%", 6), ("mean%", 7), ("maxDD%", 7), ("b&h%", 7))


def _sweep_half(s: Summary) -> list[str]:
    return [
        f"{s.return_pct:+.2f}", str(s.trades), f"{s.win_rate_pct:.1f}", f"{s.mean_trade_pct:+.3f}",
        f"{s.max_drawdown_pct:.2f}", f"{s.buy_hold_pct:+.2f}",
    ]


def format_sweep(rows: Sequence[SweepRow], train: float) -> str:
    """The sweep ranked by the train period, the unseen test period beside it."""
    width = max([len(_setting(r.setting)) for r in rows] + [7])
    header = [("rank", 4), ("setting", width), *((f"train {h}", w + 6) for h, w in _SWEEP_HALF),
              *((f"test {h}", w + 5) for h, w in _SWEEP_HALF)]
    table = [
        [str(rank), _setting(row.setting), *_sweep_half(row.train.total), *_sweep_half(row.test.total)]
        for rank, row in enumerate(rows, start=1)
    ]
    lines = ["  ".join(c.ljust(w) if i == 1 else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(cells, header, strict=True)))
             for cells in [[h for h, _ in header], *table]]
    fill = rows[0].train.fill_model if rows else ""
    return "\n".join([
        (
            f"walk-forward sweep: ranked by the train period (first {train:.0%} of each symbol's candles);"
            " the test period (the rest, unseen when ranking) beside it"
        ),
        *lines,
        f"fill model: {fill}",
    ])


def sweep_json(rows: Sequence[SweepRow], train: float) -> dict[str, Any]:
    """The sweep as one JSON document, best train result first."""
    return {
        "train_share": train,
        "ranking": [
            {
                "setting": dict(row.setting),
                "train": {**summary_json(row.train.total), "fingerprint": row.train.fingerprint},
                "test": {**summary_json(row.test.total), "fingerprint": row.test.fingerprint},
            }
            for row in rows
        ],
    }


def _setting(setting: Sequence[tuple[str, str]]) -> str:
    return " ".join(f"{name}={value}" for name, value in setting)
