"""`python -m nija.status`: health of the daemon and every broker account, from the store.

Reads the store read-only; never talks to an exchange or to the daemon. Exit codes follow the
Nagios convention:
  0  running, every funded broker healthy
  1  running, some broker degraded, failed, unfunded or halted (its kill switch tripped)
  2  not running, heartbeat older than 3 cycles (and 15 s), no funded broker, or a broker
     `stalled`: its loop has not been alive (completed a cycle or woken while waiting) within
     3 cycles (and 15 s), whatever the main thread's heartbeat says
  3  no store, or the store is unreadable

A daemon that is gone never shows a healthy broker: its brokers read `stopped` (a halted one
stays `halted`: its halt file still holds), and `recorded_status` keeps what the store says.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO

from tabulate import tabulate

from nija.config import ConfigError, read_dotenv
from nija.models import OPEN_ORDER_STATUSES, BrokerName, CopyStatus, HealthStatus, Order, utc_now
from nija.store import QUALITY_WINDOW, CopyQuality, EntryCost, PendingExit, Store, StoreUnavailable, db_path

__all__ = ["collect", "exit_code", "main"]

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STALE_AFTER_CYCLES: Final = 3
# Floor for very fast demo cycles: a heartbeat written every 0.25 s can lag a second under load.
STALE_FLOOR_SECONDS: Final = 15.0
_BAD: Final = frozenset({HealthStatus.DEGRADED, HealthStatus.FAILED, HealthStatus.UNFUNDED, HealthStatus.HALTED})
STALLED: Final = "stalled"  # shown instead of the recorded status: the loop is dead or stuck
FEE_REPORT_HOURS: Final = 24


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _pct(fraction: Decimal | None) -> float | None:
    return float(fraction * 100) if fraction is not None else None


def _quality(q: CopyQuality | None) -> dict[str, Any]:
    """A follower's copy quality over its latest copies (None figures when it has none)."""
    return {
        "copies": q.copies if q else 0,
        "ack_latency_p50_ms": q.ack_latency_p50_ms if q else None,
        "ack_latency_p95_ms": q.ack_latency_p95_ms if q else None,
        "fill_latency_p50_ms": q.fill_latency_p50_ms if q else None,
        "fill_latency_p95_ms": q.fill_latency_p95_ms if q else None,
        "mean_slippage_bps": _num(q.mean_slippage_bps) if q else None,
    }


def _why_waiting(exit_: PendingExit) -> str:
    """What a pending exit copy waits on, in words."""
    if exit_.status is CopyStatus.WAITING:
        retry = f"next attempt at {exit_.retry_at.isoformat()}" if exit_.retry_at else "next attempt on the next pass"
        return f"{exit_.reason}; {retry}" if exit_.reason else retry
    if exit_.status is CopyStatus.SENT:
        return "sent: its fill is still to be read"
    if exit_.status is CopyStatus.UNKNOWN:
        looked_up = "answer ambiguous: looked up by client order id"
        return f"{looked_up} ({exit_.reason})" if exit_.reason else looked_up
    return exit_.reason or "not sent yet: due on the copy engine's next pass"


def _copy_telemetry(store: Store, users: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each follower's copied positions, drift and copy quality to its entry; return the
    pending exit copies (a copy user known only from them is added too)."""
    quality = {(q.broker, q.user_id): q for q in store.copy_quality()}
    drift: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d in store.drift_rows():
        drift.setdefault((d.broker, d.user_id), []).append({
            "symbol": d.symbol, "copied_qty": float(d.copied_qty), "expected_qty": float(d.expected_qty),
            "drift_pct": _num(d.drift_pct), "beyond": d.beyond, "checked_at": _iso(d.checked_at),
        })
    exits = store.pending_exits()
    for key in [*drift, *((e.broker, e.user_id) for e in exits)]:
        users.setdefault(key, _unregistered(*key, None))
    for (broker, user_id), user in users.items():
        user["positions"] = [
            {"symbol": p.symbol, "qty": float(p.qty), "entry_price": float(p.entry_price), "fees": float(p.fees)}
            for p in store.positions(BrokerName(broker), user_id)
        ]
        user["drift"] = drift.get((broker, user_id), [])
        user["quality"] = _quality(quality.get((broker, user_id)))
    return [
        {
            "broker": e.broker, "user_id": e.user_id, "symbol": e.symbol, "signal_id": e.signal_id, "kind": str(e.kind),
            "status": str(e.status), "reason": e.reason, "attempts": e.attempts, "retry_at": _iso(e.retry_at),
            "opened_at": _iso(e.opened_at), "why": _why_waiting(e),
        }
        for e in exits
    ]


def _unregistered(broker: str, user_id: str, equity: Decimal | None) -> dict[str, Any]:
    """A copy user the engine has not registered (known from the ledger only)."""
    return {
        "user_id": user_id, "broker": broker, "state": None, "enabled": None, "total_equity": _num(equity),
        "available": None, "equity_at": None, "last_error": None, "state_at": None,
        "last_copy": None, "last_reason": None, "last_copy_at": None,
    }


def _copy_doc(store: Store, since: datetime) -> dict[str, Any]:
    """Copy-trading figures since `since`, and every copy user — registered by the engine (state,
    equity) even before a first copy, or known from the ledger — with its latest ledger row, its
    copied positions, drift from the scaled master and the quality of its latest copies."""
    summary = store.copy_summary(since)
    users: dict[tuple[str, str], dict[str, Any]] = {}
    for r in store.copy_users():
        users[(r["broker"], r["user_id"])] = {
            "user_id": r["user_id"], "broker": r["broker"], "state": r["state"], "enabled": bool(r["enabled"]),
            "last_copy": None, "last_reason": None, "last_copy_at": None,
            "total_equity": float(r["equity"]) if r["equity"] is not None else None,
            "available": float(r["available"]) if r["available"] is not None else None,
            "equity_at": r["equity_at"], "last_error": r["last_error"], "state_at": r["updated_at"],
        }
    for last in summary.last_copies:
        user = users.setdefault((last.broker, last.user_id), _unregistered(last.broker, last.user_id, last.user_equity))
        user.update({"last_copy": last.status, "last_reason": last.reason, "last_copy_at": _iso(last.updated_at)})
    pending_exits = _copy_telemetry(store, users)
    return {
        "signals_pending": summary.signals_pending, "copies_last_hour": dict(summary.copies_by_status),
        "last_fanout_latency_ms": summary.last_fanout_latency_ms, "users": [users[key] for key in sorted(users)],
        "quality_window": QUALITY_WINDOW, "pending_exits": pending_exits,
    }


def _fee_routing(costs: Sequence[EntryCost]) -> list[dict[str, Any]]:
    """The entries a cheaper funded broker also listed (capital isolation kept them where found),
    their round trips in percent."""
    return [
        {
            "broker": c.broker, "account": c.account, "symbol": c.symbol, "round_trip_pct": _pct(c.round_trip),
            "cheaper_broker": c.cheaper_broker, "cheaper_round_trip_pct": _pct(c.cheaper_round_trip),
            "entered_at": _iso(c.entered_at),
        }
        for c in costs
        if c.cheaper_broker
    ]


def collect(store: Store) -> dict[str, Any]:
    """Everything status shows, as the stable JSON document."""
    now = utc_now()
    daemon = store.daemon()
    if daemon is None:
        daemon_doc: dict[str, Any] = {
            "running": False, "pid": None, "mode": None, "heartbeat_age_s": None, "started_at": None,
        }
    else:
        age = (now - daemon.heartbeat_at).total_seconds()
        running = daemon.stopped_at is None and _pid_alive(daemon.pid)
        daemon_doc = {
            "running": running,
            "pid": daemon.pid,
            "mode": daemon.mode,
            "heartbeat_age_s": round(age, 1),
            "started_at": _iso(daemon.started_at),
            "stale": age > max(STALE_AFTER_CYCLES * daemon.cycle_seconds, STALE_FLOOR_SECONDS),
            "cycle_seconds": daemon.cycle_seconds,
        }
    brokers = []
    liveness = store.liveness()
    for health in store.health():
        equity = store.latest_equity(health.broker, health.account)
        alive_at = liveness.get((str(health.broker), health.account))
        brokers.append(
            {
                "broker": str(health.broker),
                "account": health.account,
                "status": _shown_status(health.status, daemon_doc, alive_at, now),
                "recorded_status": str(health.status),
                "loop_alive_at": _iso(alive_at),
                "funded": health.funded,
                "total_equity": _num(equity.total_equity if equity else None),
                "available": _num(equity.available if equity else None),
                "locked_in_positions": _num(equity.locked_in_positions if equity else None),
                "open_positions": len(store.positions(health.broker, health.account)),
                "cycles_total": health.cycles_total,
                "cycles_ok": health.cycles_ok,
                "success_rate": round(health.success_rate, 1),
                "consecutive_errors": health.consecutive_errors,
                "last_error": health.last_error,
                "last_cycle_at": _iso(health.last_cycle_at),
                "note": health.note,  # why it is halted or makes no entries
            }
        )
    orders_open = [
        _open_order(order, now)
        for health in store.health()
        for order in store.orders_in_status(health.broker, health.account, OPEN_ORDER_STATUSES)
    ]
    copy = _copy_doc(store, now - timedelta(hours=1))
    copy["mode"] = daemon.copy_mode if daemon is not None else None
    fee_routing = _fee_routing(store.entry_costs(now - timedelta(hours=FEE_REPORT_HOURS)))
    return {"daemon": daemon_doc, "brokers": brokers, "orders_open": orders_open, "copy": copy, "fee_routing": fee_routing}


def _open_order(order: Order, now: datetime) -> dict[str, Any]:
    """A broker account's order whose outcome is not final: the venue keeps it open, or its
    answer was lost and the daemon looks it up by client order id every cycle."""
    request = order.request
    return {
        "broker": str(request.broker), "account": request.account, "client_order_id": request.client_order_id,
        "symbol": request.symbol, "side": str(request.side), "quantity": _num(request.quantity), "unit": str(request.unit),
        "status": str(order.status), "filled_qty": _num(order.filled_qty), "age_s": round((now - order.created_at).total_seconds()),
        "error": order.error,
    }


def _shown_status(recorded: HealthStatus, daemon: dict[str, Any], alive_at: datetime | None, now: datetime) -> str:
    """The status to show: `stopped` when the daemon is gone (a halt holds on), `stalled` when
    the daemon or this broker's own loop has not been alive within 3 cycles, else the record."""
    if not daemon["running"]:
        return str(recorded) if recorded is HealthStatus.HALTED else str(HealthStatus.STOPPED)
    if recorded is HealthStatus.STOPPED:
        return str(recorded)
    limit = max(STALE_AFTER_CYCLES * daemon["cycle_seconds"], STALE_FLOOR_SECONDS)
    if daemon.get("stale") or (alive_at is not None and (now - alive_at).total_seconds() > limit):
        return STALLED
    return str(recorded)


def exit_code(doc: dict[str, Any]) -> int:
    """Nagios-style code for a collected document."""
    daemon = doc["daemon"]
    if not daemon["running"] or daemon.get("stale"):
        return CRITICAL
    funded = [b for b in doc["brokers"] if b["funded"]]
    if not funded or any(b["status"] == STALLED for b in doc["brokers"]):
        return CRITICAL
    if any(b["status"] in _BAD for b in doc["brokers"]):
        return WARNING
    return OK


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def render(doc: dict[str, Any], out: TextIO) -> None:
    """Print the human table."""
    d = doc["daemon"]
    state = "running" if d["running"] and not d.get("stale") else ("stale" if d["running"] else "not running")
    age = "-" if d["heartbeat_age_s"] is None else f"{d['heartbeat_age_s']:.0f}s"
    print(f"daemon: {state}  pid={d['pid'] or '-'}  mode={d['mode'] or '-'}  heartbeat={age} ago", file=out)
    rows = [
        [
            b["broker"], b["account"], b["status"], "yes" if b["funded"] else "no", _money(b["total_equity"]),
            _money(b["available"]), _money(b["locked_in_positions"]), b["open_positions"],
            f"{b['cycles_ok']}/{b['cycles_total']}", f"{b['success_rate']:.1f}%", b["last_error"] or "",
        ]
        for b in doc["brokers"]
    ]
    headers = ["broker", "account", "status", "funded", "equity", "available", "locked", "positions", "cycles ok", "success", "last error"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) if rows else "no broker accounts yet", file=out)
    for b in doc["brokers"]:
        if b["status"] == STALLED:
            print(f"{b['broker']}/{b['account']} STALLED: its loop was last alive at {b['loop_alive_at'] or '-'}"
                  f" (recorded status {b['recorded_status']})", file=out)
        if b["note"]:
            print(f"{b['broker']}/{b['account']} {'HALTED' if b['status'] == 'halted' else 'no entries'}: {b['note']}", file=out)
    if doc["orders_open"]:
        print("\norders not final yet (unknown: the venue's answer was lost; looked up by client order id every cycle,"
              " never sent again):", file=out)
        order_rows = [
            [o["broker"], o["account"], o["client_order_id"], o["symbol"], o["side"], _qty(o["quantity"]), o["unit"],
             o["status"], _qty(o["filled_qty"]), f"{o['age_s']}s"]
            for o in doc["orders_open"]
        ]
        headers = ["broker", "account", "client order id", "symbol", "side", "quantity", "unit", "status", "filled", "age"]
        print(tabulate(order_rows, headers=headers, tablefmt="simple", disable_numparse=True), file=out)
    if doc["fee_routing"]:
        print(f"\nentries a cheaper broker also listed (last {FEE_REPORT_HOURS} h; capital stays isolated):", file=out)
        fee_rows = [
            [e["entered_at"][:19], e["symbol"], e["broker"], f"{e['round_trip_pct']:.2f}%", e["cheaper_broker"],
             f"{e['cheaper_round_trip_pct']:.2f}%"]
            for e in doc["fee_routing"]
        ]
        headers = ["entered", "symbol", "broker", "round trip", "cheaper broker", "its round trip"]
        print(tabulate(fee_rows, headers=headers, tablefmt="simple", disable_numparse=True), file=out)
    _render_copy(doc["copy"], out)


def _qty(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".")


def _pair(p50: float | None, p95: float | None) -> str:
    return "-" if p50 is None else f"{p50:.0f}/{p95:.0f}"


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso[:19].replace("T", " ")


def _holdings(user: dict[str, Any]) -> str:
    """A follower's copied positions, each with its drift from the scaled master, and drift rows
    of symbols it holds no copy of (an entry it missed)."""
    drift = {d["symbol"]: d for d in user["drift"]}
    parts = []
    for p in user["positions"]:
        parts.append(f"{p['symbol']} {_qty(p['qty'])} @ {_money(p['entry_price'])}{_drift_note(drift.pop(p['symbol'], None))}")
    parts.extend(f"{d['symbol']} none held{_drift_note(d)}" for d in drift.values())
    return "; ".join(parts)


def _drift_note(d: dict[str, Any] | None) -> str:
    if d is None:
        return ""
    if d["drift_pct"] is None:
        what = "none expected"
    else:
        what = f"drift {d['drift_pct']:+.2f}% of expected {_qty(d['expected_qty'])}"
    return f" ({what}{', BEYOND TOLERANCE' if d['beyond'] else ''})"


def _user_row(u: dict[str, Any]) -> list[Any]:
    """A follower's row: state, equity, copied positions, last copy and its copy quality."""
    q = u["quality"]
    return [
        u["broker"], u["user_id"], (u.get("state") or "-") + ("" if u.get("enabled") is not False else " (off)"),
        _money(u["total_equity"]), len(u["positions"]), u["last_copy"] or "none yet", _when(u["last_copy_at"]),
        _pair(q["ack_latency_p50_ms"], q["ack_latency_p95_ms"]), _pair(q["fill_latency_p50_ms"], q["fill_latency_p95_ms"]),
        "-" if q["mean_slippage_bps"] is None else f"{q['mean_slippage_bps']:+.1f}",
        u["last_reason"] or u.get("last_error") or "",
    ]


def _render_copy(copy: dict[str, Any], out: TextIO) -> None:
    """Print copy trading: totals, each follower's state and copy quality, its copied positions
    with their drift, and the pending exit copies with why each waits."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(copy["copies_last_hour"].items())) or "none"
    latency = copy["last_fanout_latency_ms"]
    print(
        f"\ncopy trading: mode={copy['mode'] or '-'}  signals pending={copy['signals_pending']}"
        f"  copies last hour: {counts}  last fan-out latency={'-' if latency is None else f'{latency:.0f} ms'}",
        file=out,
    )
    if copy["users"]:
        user_rows = [_user_row(u) for u in copy["users"]]
        headers = ["broker", "user", "state", "equity", "positions", "last copy", "last copy at", "ack p50/p95 ms",
                   "fill p50/p95 ms", "slippage bps", "reason / last error"]
        print(tabulate(user_rows, headers=headers, tablefmt="simple", disable_numparse=True), file=out)
        print(f"(latency from the master's fill and mean slippage against its price, adverse positive,"
              f" over each follower's last {copy['quality_window']} copies)", file=out)
    held = [(u, line) for u in copy["users"] if (line := _holdings(u))]
    if held:
        print("\ncopied positions, with drift from the master scaled to the follower:", file=out)
        for u, line in held:
            print(f"  {u['broker']}/{u['user_id']}  {line}", file=out)
    if copy["pending_exits"]:
        print("\npending exits (retried until done, never expired):", file=out)
        exit_rows = [
            [e["broker"], e["user_id"], e["symbol"], e["status"], e["attempts"], _when(e["opened_at"]), e["why"]]
            for e in copy["pending_exits"]
        ]
        headers = ["broker", "user", "symbol", "status", "attempts", "since", "why it waits"]
        print(tabulate(exit_rows, headers=headers, tablefmt="simple", disable_numparse=True), file=out)


def _default_data_dir() -> Path:
    """NIJA_DATA_DIR from the environment, else `.env` (read strictly: `ConfigError`), else data."""
    configured = os.environ.get("NIJA_DATA_DIR", "").strip() or read_dotenv().get("NIJA_DATA_DIR", "").strip()
    return Path(configured or "data")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Print status and return the Nagios exit code."""
    parser = argparse.ArgumentParser(prog="python -m nija.status", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="the daemon's data directory (default: NIJA_DATA_DIR from the environment or .env, else data)",
    )
    args = parser.parse_args(argv)  # --help exits here: nothing read, nothing created
    try:
        data_dir = args.data_dir if args.data_dir is not None else _default_data_dir()
    except ConfigError as exc:  # a .env that cannot be parsed: its file and line
        print(json.dumps({"error": str(exc)}) if args.json else f"nija status: {exc}", file=out)
        return CRITICAL
    path = db_path(data_dir)
    try:
        store = Store(path, readonly=True)
        doc = collect(store)
        store.close()
    except StoreUnavailable as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}), file=out)
        else:
            print(f"nija status: {exc}", file=out)
        return UNKNOWN
    code = exit_code(doc)
    if args.json:
        print(json.dumps(doc), file=out)
    else:
        render(doc, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
