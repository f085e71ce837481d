"""What each page shows, as plain dicts for its template: the overview, one account, the ledger.

Reads only: the latest `Snapshot` (health and P&L) and `DashboardStore`'s bounded reads. Money
stays `Decimal` here; the templates' filters round it for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from nija.models import BrokerName, CopyStatus, utc_now
from nija.report.collect import AccountReport
from nija.store.dashboard import DashboardStore
from nija.web.charts import equity_svg
from nija.web.snapshot import Snapshot, age_text

__all__ = ["LEDGER_PAGE_ROWS", "NotFound", "account_page", "page_header", "ledger_page", "overview_page"]

TRADES_SHOWN: Final = 200
EQUITY_POINTS: Final = 500
LEDGER_PAGE_ROWS: Final = 100
_ZERO: Final = Decimal(0)


class NotFound(Exception):
    """The page asked for names no account the store knows."""


@dataclass(frozen=True, slots=True)
class _Account:
    # One account as the overview lists it.
    broker: str
    account: str
    role: str
    status: str
    equity: Decimal | None
    pnl_today: Decimal | None
    pnl_total: Decimal | None
    positions: int


def page_header(snapshot: Snapshot) -> dict[str, Any]:
    """The daemon line every page opens with, and how fresh the figures are."""
    now = utc_now()
    daemon = snapshot.status["daemon"]
    state = "running" if daemon["running"] and not daemon.get("stale") else ("stale" if daemon["running"] else "stopped")
    return {
        "daemon_state": state, "mode": daemon["mode"] or "-", "pid": daemon["pid"],
        "heartbeat_age_s": daemon["heartbeat_age_s"], "status_age": age_text(snapshot.status_at, now),
        "report_age": age_text(snapshot.report_at, now), "fold_seconds": snapshot.fold_seconds,
    }


def _accounts(snapshot: Snapshot) -> list[_Account]:
    """Every master and follower: health from status, P&L from the report, masters first."""
    reports = {(r.broker, r.account): r for r in snapshot.report.accounts}
    rows: dict[tuple[str, str], _Account] = {}
    for b in snapshot.status["brokers"]:
        key = (b["broker"], b["account"])
        rows[key] = _row(key, "master", b["status"], _dec(b["total_equity"]), reports.get(key), snapshot)
    for u in snapshot.status["copy"]["users"]:
        key = (u["broker"], u["user_id"])
        state = u["state"] or "unregistered"
        shown = "disabled" if u["enabled"] is False else state
        rows[key] = _row(key, "follower", shown, _dec(u["total_equity"]), reports.get(key), snapshot)
    for key, report in reports.items():  # accounts known from fills only (e.g. a stopped broker)
        if key not in rows:
            rows[key] = _row(key, report.role, "-", None, report, snapshot)
    return sorted(rows.values(), key=lambda a: (a.role != "master", a.broker, a.account))


def _row(key: tuple[str, str], role: str, status: str, equity: Decimal | None, report: AccountReport | None,
         snapshot: Snapshot) -> _Account:
    if equity is None and key in snapshot.equity:
        equity = snapshot.equity[key][0]
    return _Account(
        broker=key[0], account=key[1], role=role, status=status, equity=equity,
        pnl_today=report.totals.net if report else None, pnl_total=report.totals.cumulative_end if report else None,
        positions=snapshot.positions.get(key, 0),
    )


def _dec(value: float | None) -> Decimal | None:
    # status's document holds floats; shown to the cent, so the conversion loses nothing visible.
    return None if value is None else Decimal(str(value))


def _sum(values: list[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), _ZERO)


def overview_page(snapshot: Snapshot) -> dict[str, Any]:
    """Every account with its status, equity, P&L today and in total, and open positions."""
    accounts = _accounts(snapshot)
    totals = {
        role: {
            "count": len(group), "equity": _sum([a.equity for a in group]),
            "pnl_today": _sum([a.pnl_today for a in group]), "pnl_total": _sum([a.pnl_total for a in group]),
            "positions": sum(a.positions for a in group),
        }
        for role in ("master", "follower")
        if (group := [a for a in accounts if a.role == role])
    }
    copy = snapshot.status["copy"]
    return {
        "header": page_header(snapshot), "accounts": accounts, "totals": totals,
        "signals_pending": copy["signals_pending"], "copies_last_hour": copy["copies_last_hour"],
        "pending_exits": len(copy["pending_exits"]),
    }


def account_page(snapshot: Snapshot, store: DashboardStore, broker: str, account: str) -> dict[str, Any]:
    """One account: figures, equity chart, open positions at their marks, trade history and,
    for a follower, its copy quality. Raise `NotFound` for an account the store does not know."""
    found = next((a for a in _accounts(snapshot) if (a.broker, a.account) == (broker, account)), None)
    if found is None or broker not in {b.value for b in BrokerName}:
        raise NotFound(f"{broker}/{account}")
    report = snapshot.account(broker, account)
    positions = []
    for p in store.positions(BrokerName(broker), account):
        mark = report.marks.get(p.symbol) if report else None
        value = p.qty * mark.price if mark else None
        positions.append({
            "symbol": p.symbol, "qty": p.qty, "entry_price": p.entry_price, "mark": mark,
            "value": value, "unrealised": value - p.qty * p.entry_price if value is not None else None,
            "fees": p.fees, "opened_at": p.opened_at,
        })
    series = store.equity_series(broker, account, EQUITY_POINTS)
    return {
        "header": page_header(snapshot), "account": found, "report": report,
        "chart": equity_svg(series, f"Equity of {broker}/{account}"), "positions": positions,
        "trades": store.account_trades(broker, account, TRADES_SHOWN), "trades_shown": TRADES_SHOWN,
        "quality": _quality(snapshot, report, broker, account) if found.role == "follower" else None,
    }


def _quality(snapshot: Snapshot, report: AccountReport | None, broker: str, account: str) -> dict[str, Any]:
    """A follower's copy quality: today's outcomes (report) and its latest copies (status)."""
    user = next((u for u in snapshot.status["copy"]["users"] if (u["broker"], u["user_id"]) == (broker, account)), {})
    copies = report.copies if report else None
    return {
        "today": copies, "tracking": report.tracking if report else None,
        "latest": user.get("quality"), "window": snapshot.status["copy"]["quality_window"],
        "last_error": user.get("last_error"), "drift": user.get("drift", []),
    }


def ledger_page(store: DashboardStore, page: int, user_id: str | None, status: str | None) -> dict[str, Any]:
    """One page of the copy ledger, newest first, optionally one follower's or one status's."""
    statuses = [status] if status else []
    rows = store.ledger_page(LEDGER_PAGE_ROWS + 1, page * LEDGER_PAGE_ROWS, user_id=user_id, statuses=statuses)
    return {
        "rows": rows[:LEDGER_PAGE_ROWS], "page": page, "more": len(rows) > LEDGER_PAGE_ROWS,
        "user": user_id or "", "status": status or "", "statuses": [s.value for s in CopyStatus],
    }
