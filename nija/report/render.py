"""The report as text for a person (tabulate) or as one JSON object (exact Decimals as strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

from tabulate import tabulate

from nija.report.collect import Report
from nija.report.tables import (
    ACCOUNT_COLUMNS,
    COPY_COLUMNS,
    MARK_COLUMNS,
    TRADE_COLUMNS,
    account_rows,
    copy_rows,
    fmt,
    mark_rows,
)

__all__ = ["jsonable", "render_json", "render_text"]


def jsonable(value: Any) -> Any:
    """Decimals as exact strings (never through a float), containers walked."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _window(report: Report) -> dict[str, str | None]:
    w = report.window
    return {"since": w.since.isoformat() if w.since else None, "until": w.until.isoformat() if w.until else None}


def render_json(report: Report, trades: Sequence[Mapping[str, Any]] | None, out: TextIO) -> None:
    """Print the report as one JSON object."""
    doc = {
        "window": _window(report), "accounts": account_rows(report), "copies": copy_rows(report),
        "open_positions": mark_rows(report),
    }
    if trades is not None:
        doc["trades"] = list(trades)
    print(json.dumps(jsonable(doc)), file=out)


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    body = [[fmt(row[c], c) for c in columns] for row in rows]
    print(tabulate(body, headers=list(columns), tablefmt="simple", disable_numparse=True), file=out)


def render_text(report: Report, trades: Sequence[Mapping[str, Any]] | None, out: TextIO) -> None:
    """Print the report's tables for a person; money rounded to cents for display only."""
    window = _window(report)
    print(f"NIJA report  since {window['since'] or 'the first fill'}  until {window['until'] or 'now'}", file=out)
    accounts = account_rows(report)
    if not accounts:
        print("no accounts in the store yet", file=out)
        return
    print("\naccounts (P&L in quote, after fees; unrealised = change over the window at the marks below):", file=out)
    _table(accounts, ACCOUNT_COLUMNS, out)
    copies = copy_rows(report)
    if copies:
        print("\nfollowers' copies (latency from the master's fill; slippage vs the master's price, adverse"
              " positive; tracking = follower return minus master return on the same trades, in points):", file=out)
        _table(copies, COPY_COLUMNS, out)
    marks = mark_rows(report)
    if marks:
        print("\nopen positions and the marks they are valued at:", file=out)
        _table(marks, MARK_COLUMNS, out)
    if trades is not None:
        print(f"\ntrades ({len(trades)} fills):", file=out)
        _table(trades, TRADE_COLUMNS, out)
