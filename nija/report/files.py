"""The report written to files: `--csv DIR` (one CSV per table) and `--png DIR` (charts).

Charts use matplotlib's Agg backend: no display, no network. Money reaches matplotlib as floats
only to be drawn; every figure in a CSV is the exact Decimal text.
"""

from __future__ import annotations

import bisect
import csv
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from nija.report.collect import AccountReport, Report
from nija.report.tables import (
    ACCOUNT_COLUMNS,
    COPY_COLUMNS,
    MARK_COLUMNS,
    TRADE_COLUMNS,
    account_rows,
    copy_rows,
    mark_rows,
)
from nija.store import EquityPoint, TradeRow

__all__ = ["write_csv", "write_png"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _name(*parts: str) -> str:
    # A file name from broker and account names (no path separators, whatever they hold).
    return "_".join(_UNSAFE.sub("-", p) for p in parts)


def _write(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else str(row[c]) for c in columns])


def write_csv(report: Report, trades: Sequence[Mapping[str, Any]] | None, directory: Path) -> list[Path]:
    """Write accounts.csv, copies.csv, open_positions.csv (and trades.csv with --trades)."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = [("accounts", account_rows(report), ACCOUNT_COLUMNS), ("copies", copy_rows(report), COPY_COLUMNS),
              ("open_positions", mark_rows(report), MARK_COLUMNS)]
    if trades is not None:
        tables.append(("trades", list(trades), TRADE_COLUMNS))
    written = []
    for name, rows, columns in tables:
        path = directory / f"{name}.csv"
        _write(path, rows, columns)
        written.append(path)
    return written


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, whatever the environment says
    import matplotlib.pyplot as plt

    return plt


def _equity_chart(plt: Any, account: AccountReport, points: Sequence[EquityPoint], fills: Sequence[TradeRow],
                  path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    times = [p.at for p in points]
    if points:
        ax.plot(times, [float(p.equity) for p in points], label="equity")
    for side, colour, marker in (("buy", "tab:green", "^"), ("sell", "tab:red", "v")):
        marked = [t for t in fills if t.side == side]
        if marked and points:
            # A fill is drawn on the equity line at its time (the last equity known then).
            ax.scatter([t.ts for t in marked], [float(_equity_at(points, times, t)) for t in marked], c=colour,
                       marker=marker, s=18, label=f"{side} fills", zorder=3)
        elif marked:
            ax.scatter([t.ts for t in marked], [float(t.price) for t in marked], c=colour, marker=marker, s=18,
                       label=f"{side} fills (price)", zorder=3)
    ax.set_title(f"{account.broker}/{account.account} ({account.role}): {account.equity_source}")
    ax.set_ylabel("quote")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _equity_at(points: Sequence[EquityPoint], times: Sequence[Any], trade: TradeRow) -> Decimal:
    # The last equity point at or before the fill (the first one for a fill before any).
    index = bisect.bisect_right(times, trade.ts)
    return points[max(index - 1, 0)].equity


_CHART_FOLLOWERS: Final = 40  # bars beyond this are unreadable: the widest tracking gaps are drawn


def _returns_chart(plt: Any, report: Report, path: Path) -> None:
    followers = [a for a in report.accounts if a.tracking is not None]
    title = "followers vs master"
    if len(followers) > _CHART_FOLLOWERS:
        followers = sorted(followers, key=lambda a: -abs(a.tracking.difference_pct or 0))[:_CHART_FOLLOWERS]
        title += f" (the {_CHART_FOLLOWERS} widest tracking differences; copies.csv has all)"
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.25 * max(len(followers), 4)))
    names = [f"{a.broker}/{a.account}" for a in followers]
    mine = [float(a.tracking.follower_return_pct or 0) for a in followers if a.tracking]
    theirs = [float(a.tracking.master_return_pct or 0) for a in followers if a.tracking]
    ys = range(len(followers))
    ax.barh([y + 0.2 for y in ys], mine, height=0.4, label="follower")
    ax.barh([y - 0.2 for y in ys], theirs, height=0.4, label="master, same trades")
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("return on copied positions, % of the quote at work")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_png(report: Report, equity: Mapping[tuple[str, str], Sequence[EquityPoint]], trades: Sequence[TradeRow],
              directory: Path) -> list[Path]:
    """Write equity_<broker>_<account>.png per account (its equity series in the window, fills
    marked) and followers_vs_master.png."""
    directory.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    by_account: dict[tuple[str, str], list[TradeRow]] = {}
    for t in trades:
        by_account.setdefault((t.broker, t.account), []).append(t)
    written = []
    for account in report.accounts:
        path = directory / f"equity_{_name(account.broker, account.account)}.png"
        key = (account.broker, account.account)
        since = report.window.since
        points = [p for p in equity.get(key, ()) if since is None or p.at >= since]
        _equity_chart(plt, account, points, by_account.get(key, []), path)
        written.append(path)
    path = directory / "followers_vs_master.png"
    _returns_chart(plt, report, path)
    written.append(path)
    return written

