"""`python -m nija.report statement --follower NAME --period YYYY-MM [--json] [--commit]`.

A plain statement reads the store read-only and only computes. `--commit` is the one write a
report makes: it opens the store read-write and stores the period's high-water mark once (a
second commit of the same period changes nothing and prints the stored figures), only for a
month that has ended, and only in order (never before a later committed month).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from nija.report.cli import Parser, UsageError, data_dir, open_store, setting
from nija.report.render import jsonable
from nija.report.statement import Statement, mark_to_commit, parse_period, statement
from nija.report.tables import money
from nija.models import utc_now
from nija.store import Store
from nija.users import discover_users

__all__ = ["run_statement"]


def _parser() -> Parser:
    parser = Parser(prog="python -m nija.report statement",
                    description="One follower's month: copied positions' value, P&L, fees and performance fee.")
    parser.add_argument("--follower", required=True, metavar="NAME", help="the follower's user_id")
    parser.add_argument("--period", required=True, metavar="YYYY-MM", help="the calendar month (UTC)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (money as exact strings)")
    parser.add_argument("--commit", action="store_true",
                        help="store the month's high-water mark (once; the month must have ended)")
    parser.add_argument("--data-dir", type=Path, default=None, help="the daemon's data directory")
    return parser


def _follower_file(name: str, given: Path | None) -> tuple[str | None, Decimal | None]:
    # (broker, performance_fee_pct) from the follower's file; (None, None) when it has none.
    users_dir = Path(setting("NIJA_USERS_DIR") or data_dir(given) / "users")
    for user in discover_users(users_dir, env={}).users:  # settings only: credentials are not needed
        if user.user_id == name:
            return user.broker.value, user.performance_fee_pct
    return None, None


def _broker_of(store: Store, name: str, from_file: str | None) -> str:
    if from_file is not None:
        return from_file
    _, followers = store.report_accounts()
    brokers = sorted({b for b, user in followers if user == name})
    if not brokers:
        raise UsageError(f"--follower: no follower {name!r} in the store or the users folder")
    return brokers[0]


def run_statement(argv: Sequence[str], out: TextIO) -> int:
    """Print (and with --commit store) one follower's statement; return the exit code."""
    args = _parser().parse_args(argv)  # --help exits here: nothing read, nothing created
    try:
        period = parse_period(args.period)
    except ValueError as exc:
        raise UsageError(f"--period: {exc}") from None
    broker, fee_pct = _follower_file(args.follower, args.data_dir)
    now = utc_now()
    store = open_store(args.data_dir, readonly=not args.commit)
    try:
        broker = _broker_of(store, args.follower, broker)
        stmt = statement(store, broker, args.follower, period, fee_pct)
        if args.commit:
            if stmt.end > now:
                raise UsageError(f"--commit: {period} has not ended; a month's mark is stored once it is over")
            try:
                stored = store.commit_fee_mark(mark_to_commit(stmt, now))
            except ValueError as exc:
                raise UsageError(f"--commit: {exc}") from None
            # Read back: what is stored stands, whether this run or an earlier one wrote it.
            stmt = statement(store, broker, args.follower, period, fee_pct)
            stmt = stmt if stmt.committed is not None else replace(stmt, committed=stored)
    finally:
        store.close()
    if args.json:
        print(json.dumps(jsonable(_doc(stmt))), file=out)
    else:
        _text(stmt, out)
    return 0


def _doc(s: Statement) -> dict[str, Any]:
    t = s.totals
    doc: dict[str, Any] = {
        "broker": s.broker, "follower": s.user_id, "period": s.period, "from": s.start.isoformat(),
        "to": s.end.isoformat(), "opening_value": t.value_start, "closing_value": t.value_end,
        "bought": t.bought, "sold": t.sold, "realised_pnl": t.realised,
        "unrealised_change": t.unrealised_end - t.unrealised_start, "fees": t.fees,
        "fees_taken_in_base": t.fees_in_base,
        "pnl": t.net, "fills": t.fills, "cumulative_pnl": t.cumulative_end,
        "marks": {sym: {"price": m.price, "source": m.source, "at": m.at.isoformat() if m.at else None}
                  for sym, m in s.marks.items()},
        "performance_fee_pct": s.fee_pct, "high_water_mark_before": s.terms.mark_before,
        "profit_above_mark": s.terms.profit_above_mark, "fee_due": s.terms.fee_due if s.fee_pct is not None else None,
        "high_water_mark_after": s.terms.mark_after,
        "committed": None,
    }
    if s.committed is not None:
        c = s.committed
        doc["committed"] = {"at": c.committed_at.isoformat(), "cumulative_pnl": c.cumulative_pnl,
                            "high_water_mark": c.high_water_mark, "fee_pct": c.fee_pct, "fee_due": c.fee_due}
    return doc


def _text(s: Statement, out: TextIO) -> None:
    t = s.totals
    lines = [
        f"NIJA statement  {s.broker}/{s.user_id}  {s.period}  ({s.start:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M} UTC)",
        "",
        "copied positions (quote; valued at the last fill on the broker at each end of the month)",
        f"  opening value          {money(t.value_start):>16}",
        f"  bought                 {money(t.bought):>16}",
        f"  sold                   {money(t.sold):>16}",
        f"  closing value          {money(t.value_end):>16}",
        f"  realised P&L           {money(t.realised):>16}   (after fees)",
        f"  unrealised change      {money(t.unrealised_end - t.unrealised_start):>16}",
        f"  fees paid              {money(t.fees):>16}   ({t.fills} fills)",
        f"  P&L for the month      {money(t.net):>16}   (after fees)",
        f"  cumulative P&L         {money(t.cumulative_end):>16}   (since the first copy)",
    ]
    for sym, m in sorted(s.marks.items()):
        lines.append(f"  mark {sym}: {money(m.price)} ({m.source} {m.at.isoformat() if m.at else ''})")
    lines.append("")
    if s.fee_pct is None:
        lines.append("performance fee: none (the follower file sets no performance_fee_pct)")
    else:
        lines += [
            f"performance fee {money(s.fee_pct)}% of profit above the high-water mark (copied P&L after fees)",
            f"  high-water mark before {money(s.terms.mark_before):>16}",
            f"  profit above the mark  {money(s.terms.profit_above_mark):>16}",
            f"  fee due                {money(s.terms.fee_due):>16}",
            f"  high-water mark after  {money(s.terms.mark_after):>16}",
        ]
    if s.committed is not None:
        c = s.committed
        lines.append(f"committed {c.committed_at.isoformat()}: mark {money(c.high_water_mark)}, fee {money(c.fee_due)}")
    else:
        lines.append("not committed: `--commit` stores this month's mark once the month has ended")
    print("\n".join(lines), file=out)

