"""`python -m nija.report`: P&L, fees, returns, drawdown and copy quality per account, from the
store only (never an exchange, never the daemon); `statement` for a follower's month and its
performance fee; `backup DEST` for a consistent copy of the store while the daemon runs.

Exit codes: 0 done; 2 bad input (a flag, a date, an account, a destination) or no usable
store, with one line naming what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from nija.config import ConfigError
from nija.models import utc_now
from nija.report.backup import BadDestination, backup, destination
from nija.report.cli import BAD, Parser, UsageError, open_store, parse_account, parse_time
from nija.report.collect import Window, collect
from nija.report.files import write_csv, write_png
from nija.report.render import render_json, render_text
from nija.report.statement_cli import run_statement
from nija.report.tables import trade_rows
from nija.store import StoreUnavailable

__all__ = ["main"]


def _report_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m nija.report", description=__doc__.split("\n\n")[0],
        epilog="subcommands: `statement --follower NAME --period YYYY-MM` and `backup DEST` (each has --help)",
    )
    parser.add_argument("--account", help="only this account, as BROKER:ACCOUNT (e.g. kraken:master)")
    parser.add_argument("--since", help="from this date (YYYY-MM-DD) or ISO time, UTC")
    parser.add_argument("--until", help="through this date (YYYY-MM-DD, whole day) or before this ISO time, UTC")
    parser.add_argument("--json", action="store_true", help="print one JSON object (money as exact strings)")
    parser.add_argument("--trades", action="store_true", help="also list every fill in the window")
    parser.add_argument("--csv", type=Path, metavar="DIR", help="also write the tables as CSV files into DIR")
    parser.add_argument("--png", type=Path, metavar="DIR", help="also write equity and return charts into DIR")
    parser.add_argument("--data-dir", type=Path, default=None, help="the daemon's data directory (default as status)")
    return parser


def _backup_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m nija.report backup",
                     description="Copy the store consistently while the daemon runs (SQLite online backup).")
    parser.add_argument("dest", type=Path, metavar="DEST", help="a new file, or a directory for a dated copy")
    parser.add_argument("--data-dir", type=Path, default=None, help="the daemon's data directory")
    return parser


def _report(argv: Sequence[str], out: TextIO) -> int:
    args = _report_parser().parse_args(argv)  # --help exits here: nothing read, nothing created
    window = Window(
        since=parse_time("--since", args.since, end=False) if args.since else None,
        until=parse_time("--until", args.until, end=True) if args.until else None,
    )
    if window.since and window.until and window.since >= window.until:
        raise UsageError(f"--until: must be after --since, was {args.until!r}")
    only = parse_account(args.account) if args.account else None
    store = open_store(args.data_dir)
    try:
        if only is not None:
            masters, followers = store.report_accounts()
            if only not in set(masters) | set(followers):
                raise UsageError(f"--account: no account {only[0]}:{only[1]} in the store")
        report = collect(store, window, only)
        fills = store.trade_rows(window.since_key, window.until_key) if args.trades or args.png else []
        equity = store.equity_points(window.until_key) if args.png else {}
    finally:
        store.close()
    trades = trade_rows(fills, only) if args.trades else None
    (render_json if args.json else render_text)(report, trades, out)
    notes = []
    if args.csv is not None:
        notes.append(f"wrote {len(write_csv(report, trades, args.csv))} CSV files to {args.csv}")
    if args.png is not None:
        shown = [f for f in fills if only is None or (f.broker, f.account) == only]
        notes.append(f"wrote {len(write_png(report, equity, shown, args.png))} charts to {args.png}")
    for note in notes:
        print(note, file=sys.stderr if args.json else out)
    return 0


def _backup(argv: Sequence[str], out: TextIO) -> int:
    args = _backup_parser().parse_args(argv)
    store = open_store(args.data_dir)
    try:
        dest = destination(args.dest, store.path, utc_now())
        version = backup(store, dest)
    finally:
        store.close()
    print(f"backed up {store.path} to {dest} (schema {version}, checked)", file=out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the report, a statement or a backup; return the exit code."""
    out = sys.stdout if out is None else out  # looked up per call: a test's captured stdout counts
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args and args[0] in ("statement", "backup") else ("report", args)
    try:
        if command == "statement":
            return run_statement(rest, out)
        return _backup(rest, out) if command == "backup" else _report(rest, out)
    except UsageError as exc:
        print(f"nija report{'' if command == 'report' else ' ' + command}: {exc}", file=sys.stderr)
    except (StoreUnavailable, BadDestination, ConfigError) as exc:
        print(f"nija report: {exc}", file=sys.stderr)
    return BAD


if __name__ == "__main__":
    sys.exit(main())
