"""The report's tables as rows of plain values: one source for the text, JSON and CSV outputs.

Money stays exact here (`Decimal`, written as text in JSON and CSV); rounding happens only in
`money()` and friends, for the text a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from nija.report.collect import AccountReport, Report
from nija.store import TradeRow

__all__ = [
    "ACCOUNT_COLUMNS",
    "COPY_COLUMNS",
    "MARK_COLUMNS",
    "TRADE_COLUMNS",
    "account_rows",
    "copy_rows",
    "fmt",
    "mark_rows",
    "money",
    "trade_rows",
]

ACCOUNT_COLUMNS: Final = (
    "broker", "account", "role", "fills", "closed_trades", "win_rate_pct", "realised_pnl", "unrealised_pnl",
    "fees", "fees_taken_in_base", "net_pnl", "opening_equity", "return_pct", "max_drawdown", "max_drawdown_pct",
    "equity_source",
)
COPY_COLUMNS: Final = (
    "broker", "account", "filled", "partial", "skipped", "failed", "expired", "open", "ack_p50_ms", "ack_p95_ms",
    "fill_p50_ms", "fill_p95_ms", "mean_slippage_bps", "follower_return_pct", "master_return_pct",
    "tracking_difference_pct", "not_filled_by_reason",
)
MARK_COLUMNS: Final = ("broker", "account", "symbol", "qty", "entry_price", "mark", "mark_source", "mark_at")
TRADE_COLUMNS: Final = (
    "time", "broker", "account", "symbol", "side", "qty", "price", "fee", "fee_in_base", "fee_currency",
    "trade_id", "reason", "copied_signal", "master_trade_id",
)
_CENT: Final = Decimal("0.01")
_OPEN_STATUSES: Final = ("pending", "sent", "unknown", "waiting")


def money(value: Decimal | None, places: Decimal = _CENT) -> str:
    """A Decimal rounded for display only (half-even, as a ledger rounds); '-' for None."""
    return "-" if value is None else str(value.quantize(places, rounding=ROUND_HALF_EVEN))


# Quantities and prices are shown as stored: rounding them would misstate what was traded.
_EXACT: Final = frozenset({"qty", "price", "fee_in_base", "entry_price", "mark"})


def fmt(value: Any, column: str = "") -> str:
    """A table cell for text: money to cents, quantities and prices exact, floats to 1 decimal,
    None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return str(value) if column in _EXACT else money(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def account_rows(report: Report) -> list[dict[str, Any]]:
    """One row per account: P&L, fees, returns, drawdown."""
    return [_account_row(a) for a in report.accounts]


def _account_row(a: AccountReport) -> dict[str, Any]:
    t = a.totals
    return {
        "broker": a.broker, "account": a.account, "role": a.role, "fills": t.fills, "closed_trades": t.closed,
        "win_rate_pct": a.win_rate_pct, "realised_pnl": t.realised,
        "unrealised_pnl": t.unrealised_end - t.unrealised_start,
        "fees": t.fees, "fees_taken_in_base": t.fees_in_base, "net_pnl": t.net, "opening_equity": a.opening_equity,
        "return_pct": a.return_pct, "max_drawdown": a.drawdown.amount if a.drawdown else None,
        "max_drawdown_pct": a.drawdown.pct if a.drawdown else None, "equity_source": a.equity_source,
    }


def copy_rows(report: Report) -> list[dict[str, Any]]:
    """One row per follower: copies by outcome, latency, slippage and tracking difference."""
    rows = []
    for a in report.accounts:
        if a.copies is None:
            continue
        c, by = a.copies, a.copies.by_status
        reasons = "; ".join(f"{status} {why}: {n}" for (status, why), n in sorted(c.by_reason.items()))
        rows.append({
            "broker": a.broker, "account": a.account, "filled": by.get("filled", 0), "partial": by.get("partial", 0),
            "skipped": by.get("skipped", 0), "failed": by.get("failed", 0), "expired": by.get("expired", 0),
            "open": sum(by.get(s, 0) for s in _OPEN_STATUSES),
            "ack_p50_ms": c.ack_p50_ms, "ack_p95_ms": c.ack_p95_ms, "fill_p50_ms": c.fill_p50_ms,
            "fill_p95_ms": c.fill_p95_ms, "mean_slippage_bps": c.mean_slippage_bps,
            "follower_return_pct": a.tracking.follower_return_pct if a.tracking else None,
            "master_return_pct": a.tracking.master_return_pct if a.tracking else None,
            "tracking_difference_pct": a.tracking.difference_pct if a.tracking else None,
            "not_filled_by_reason": reasons,
        })
    return rows


def mark_rows(report: Report) -> list[dict[str, Any]]:
    """Each position open at the window's end with the mark it is valued at and its source."""
    rows = []
    for a in report.accounts:
        for symbol, book in sorted(a.totals.books.items()):
            if not book.qty:
                continue
            mark = a.marks.get(symbol)
            rows.append({
                "broker": a.broker, "account": a.account, "symbol": symbol, "qty": book.qty, "entry_price": book.entry,
                "mark": mark.price if mark else None, "mark_source": mark.source if mark else "none: valued at cost",
                "mark_at": mark.at.isoformat() if mark and mark.at else None,
            })
    return rows


def trade_rows(trades: Sequence[TradeRow], only: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Every fill in the window (of one account when `only`), oldest first."""
    return [
        {
            "time": t.ts.isoformat(), "broker": t.broker, "account": t.account, "symbol": t.symbol, "side": t.side,
            "qty": t.qty, "price": t.price, "fee": t.fee, "fee_in_base": t.fee_in_base, "fee_currency": t.fee_currency,
            "trade_id": t.trade_id, "reason": t.reason, "copied_signal": t.signal_id,
            "master_trade_id": t.master_trade_id,
        }
        for t in trades
        if only is None or (t.broker, t.account) == only
    ]
