"""Crash matrix: kill the daemon at each step of a master order and of its copy fan-out, restart it
on the same data dir, and count at the exchange simulator what was lost, doubled or left open.

    scripts/crash_matrix.py --runs N [--users 50] [--seed S] [--steps a,b] [--keep]

Each run is a fresh data dir and a fresh in-process simulator (Kraken, 127.0.0.1): one master
($10,000) and `--users` followers ($1,000 each, one key each), the daemon (`python -m nija`) as a
subprocess in live mode with `NIJA_CRASH_AT` set, and one manual master buy
(`python -m nija.trade buy BTC/USD 500 --quote --broker kraken`). `nija.faults.crash_point`
ends the daemon with `os._exit(137)` (as kill -9: no cleanup, no flush) at the run's step:

    before_intent  master order: before its intent is stored              (before_intent)
    after_intent   master order: intent stored, nothing sent              (after_intent)
    after_send     master order: the venue filled it, the answer unrecorded (after_send)
    after_fill     master fill and its signal recorded, no copy started   (after_record)
    copy_intents   fan-out: every copy's intent stored, none sent         (copy_intents)
    mid_ledger     fan-out: the K-th copy sent (K random in 1..users-1), the others in
                   flight or unsent, no answer recorded                   (copy_sent:K)
    after_ack      fan-out: every copy acknowledged and its ledger row written, no fill read
                   yet                                                    (copy_recorded)

The daemon is then restarted without `NIJA_CRASH_AT` and left to settle (bounded: 90 s) until the
master order is final, its signal `done` and every ledger row final. Counted (read-only store +
the simulator's request log and order book):

    duplicates  client order ids the simulator received more than one order-creating request for
    lost        a master order the venue holds that the store does not (or with another fill), a
                stored intent that vanished, a master fill without its signal, and per signal a
                follower with no ledger row, a failed/expired row, or a filled row without its
                filled order at the venue
    unresolved  ledger rows, orders (any account) or signals not final after the settle wait
    missed      runs whose crash point was never reached (killed with SIGKILL instead)
    intents_stuck  manual intents (`nija.trade`'s inbox) left `taken` after the restart: the loop
                took them, then died; informational (the order itself is counted above)

Prints ONE JSON line: runs, lost, duplicates, unresolved, missed, seconds and `steps` (the same
counts per step, with the copies filled, and what each kill left to recover: `pending_at_kill`
intents stored and unanswered, `sent_unrecorded_at_kill` of them already at the venue). Exit 0 when lost = duplicates =
unresolved = missed = 0, else 1. Everything runs on 127.0.0.1; subprocesses and temp dirs are
removed on exit, Ctrl-C included (`--keep` keeps the temp dirs and prints where).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nija.execution.lookup import OPEN_ORDER_STATUSES
from nija.models import (
    MASTER_ACCOUNT,
    BrokerName,
    CopyStatus,
    IntentStatus,
    OrderStatus,
    SignalStatus,
    client_order_id_for,
)
from nija.store import Store
from tests.sim.simulator import Simulator

VENUE = "kraken"
SYMBOL = "BTC/USD"
PRICE = Decimal(60000)
MASTER_USD = Decimal(10000)
USER_USD = Decimal(1000)
BUY_USD = "500"
START_TIMEOUT_S = 60.0
CRASH_TIMEOUT_S = 40.0
SETTLE_TIMEOUT_S = 90.0
# step -> the NIJA_CRASH_AT point ("{k}": the K-th copy sent, drawn per run)
STEPS: dict[str, str] = {
    "before_intent": "before_intent",
    "after_intent": "after_intent",
    "after_send": "after_send",
    "after_fill": "after_record",
    "copy_intents": "copy_intents",
    "mid_ledger": "copy_sent:{k}",
    "after_ack": "copy_recorded",
}
FINAL_ROWS = frozenset({CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.SKIPPED, CopyStatus.FAILED, CopyStatus.EXPIRED})

_children: list[subprocess.Popen[bytes]] = []


def _kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, wait: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _spawn(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    _children.append(proc)
    return proc


def _cleanup_children() -> None:
    for proc in _children:
        _kill(proc, signal.SIGKILL, 5)
    _children.clear()


@contextmanager
def reading(data: Path) -> Iterator[Store | None]:
    """The daemon's store, read-only; None while it does not exist."""
    try:
        store = Store(data / "nija.db", readonly=True)
    except Exception:  # noqa: BLE001 - not created yet, or being created
        yield None
        return
    try:
        yield store
    finally:
        store.close()


def eventually(check: Callable[[], Any], timeout: float, poll: float = 0.2) -> Any:
    """`check()`'s first truthy result within `timeout` seconds, else None."""
    end = time.monotonic() + timeout
    while True:
        try:
            if result := check():
                return result
        except Exception:  # noqa: BLE001, S110 - a store mid-write: poll again
            pass
        if time.monotonic() >= end:
            return None
        time.sleep(poll)


def master_key(run: int) -> str:
    return f"crash-{run}-master"


def user_key(run: int, user: str) -> str:
    return f"crash-{run}-{user}"


def environment(sim: Simulator, home: Path, run: int, users: list[str]) -> dict[str, str]:
    """Live mode on the simulator: the master and every follower funded with USD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    master = sim.add_account(VENUE, master_key(run), balances={"USD": MASTER_USD})
    env.update(
        NIJA_MODE="live", NIJA_DATA_DIR=str(home / "data"), NIJA_USERS_DIR=str(home / "users"),
        NIJA_CYCLE_SECONDS="150", NIJA_LOG_FORMAT="json", PYTHONUNBUFFERED="1", NIJA_HTTP_TIMEOUT_SECONDS="5",
        KRAKEN_TIER="pro", NIJA_KRAKEN_API_URL=sim.url(VENUE), NIJA_SYMBOLS_KRAKEN=SYMBOL,
        KRAKEN_MASTER_API_KEY=master_key(run), KRAKEN_MASTER_API_SECRET=master.secret,
        COPY_SIGNAL_MAX_AGE_SECONDS="300", NIJA_COPY_WORKERS="8",
    )
    (home / "users").mkdir()
    for user in users:
        account = sim.add_account(VENUE, user_key(run, user), balances={"USD": USER_USD})
        (home / "users" / f"{user}.json").write_text(
            json.dumps({"user_id": user, "name": user, "broker": VENUE, "risk_multiplier": 1.0})
        )
        env[f"KRAKEN_USER_{user.upper()}_API_KEY"] = user_key(run, user)
        env[f"KRAKEN_USER_{user.upper()}_API_SECRET"] = account.secret
    return env


def _last_cycle(data: Path, pid: int) -> datetime | None:
    """The master's last completed cycle, once the daemon `pid` runs on this store."""
    with reading(data) as store:
        if store is None or (record := store.daemon()) is None or record.pid != pid:
            return None
        found = [h.last_cycle_at for h in store.health() if h.broker is BrokerName.KRAKEN and h.account == MASTER_ACCOUNT]
        return found[0] if found and found[0] is not None else None


def start_daemon(home: Path, env: dict[str, str], log: str) -> subprocess.Popen[bytes] | None:
    """The daemon, once it runs on the store and its master completed a cycle after start; None
    if it died or timed out (then killed)."""
    started = datetime.now(UTC)
    proc = _spawn(["-m", "nija"], home, env, home / log)
    up = eventually(lambda: proc.poll() is not None or ((c := _last_cycle(home / "data", proc.pid)) and c >= started),
                    START_TIMEOUT_S)
    if not up or proc.poll() is not None:
        _kill(proc)
        return None
    return proc


@dataclass
class Counts:
    runs: int = 0
    lost: int = 0
    duplicates: int = 0
    unresolved: int = 0
    missed: int = 0
    intents_stuck: int = 0
    pending_at_kill: int = 0
    sent_unrecorded_at_kill: int = 0
    copies_filled: int = 0
    copies_skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for name in ("runs", "lost", "duplicates", "unresolved", "missed", "intents_stuck", "pending_at_kill",
                     "sent_unrecorded_at_kill", "copies_filled", "copies_skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.notes.extend(other.notes)


def settled(data: Path, users: list[str], master_cid: str) -> bool:
    """The master order final, every signal done with every row final, no open order anywhere."""
    with reading(data) as store:
        if store is None:
            return False
        order = store.get_order(master_cid)
        if order is not None and order.status in OPEN_ORDER_STATUSES:
            return False
        signals = store.signals()
        if order is not None and order.filled_qty > 0 and not signals:
            return False
        for signal_, status in signals:
            rows = store.copy_rows(signal_.signal_id)
            if status is not SignalStatus.DONE or len(rows) < len(users):
                return False
            if any(CopyStatus(r["status"]) not in FINAL_ROWS for r in rows):
                return False
        return not any(store.orders_in_status(BrokerName.KRAKEN, a, OPEN_ORDER_STATUSES) for a in [MASTER_ACCOUNT, *users])


def count(sim: Simulator, data: Path, run: int, users: list[str], master_cid: str | None, intent_before: bool) -> Counts:
    """What the simulator and the store show after the restart settled."""
    counts = Counts(runs=1)
    creates = Counter(c for r in sim.requests(VENUE) if r.creates_order for c in r.client_order_ids)
    doubled = {c: n for c, n in creates.items() if n > 1}
    counts.duplicates = len(doubled)
    counts.notes.extend(f"run {run}: {n} order-creating requests for {c}" for c, n in doubled.items())
    with reading(data) as store:
        assert store is not None, "no store after the restart"
        if master_cid is None:
            counts.lost += 1
            counts.notes.append(f"run {run}: the manual intent is gone")
            return counts
        intent = store.manual_intent(1)
        if intent is not None and intent.status is IntentStatus.TAKEN:
            counts.intents_stuck += 1  # the loop took it, then the process died: nothing moves it on
        venue = sim.orders(VENUE, master_key(run), client_order_id=master_cid)
        order = store.get_order(master_cid)
        venue_filled = sum((o.filled for o in venue), Decimal(0))
        if order is None and (venue or intent_before):
            counts.lost += 1
            counts.notes.append(f"run {run}: master order {master_cid} missing from the store (venue has {len(venue)})")
        elif order is not None and order.filled_qty != venue_filled:
            counts.lost += 1
            counts.notes.append(f"run {run}: master filled {order.filled_qty} in the store, {venue_filled} at the venue")
        signals = store.signals()
        if venue_filled > 0 and not signals:
            counts.lost += 1
            counts.notes.append(f"run {run}: the master fill emitted no signal")
        if venue_filled == 0 and signals:
            counts.duplicates += 1
            counts.notes.append(f"run {run}: {len(signals)} signals without a master fill")
        for signal_, status in signals:
            if status is not SignalStatus.DONE:
                counts.unresolved += 1
                counts.notes.append(f"run {run}: signal {signal_.signal_id} {status}")
            rows = {r["user_id"]: r for r in store.copy_rows(signal_.signal_id)}
            for user in users:
                row = rows.get(user)
                if row is None:
                    counts.lost += 1
                    counts.notes.append(f"run {run}: {user} has no ledger row")
                    continue
                state = CopyStatus(row["status"])
                cid = client_order_id_for("copy", signal_.signal_id, user)
                at_venue = sim.orders(VENUE, user_key(run, user), client_order_id=cid)
                filled = sum((o.filled for o in at_venue), Decimal(0))
                if state.is_open:
                    counts.unresolved += 1
                    counts.notes.append(f"run {run}: {user} row still {state}")
                elif state in (CopyStatus.FILLED, CopyStatus.PARTIAL):
                    if filled <= 0 or Decimal(row["size_filled"] or 0) != filled:
                        counts.lost += 1
                        counts.notes.append(f"run {run}: {user} row {state} {row['size_filled']}, venue filled {filled}")
                    else:
                        counts.copies_filled += 1
                elif state is CopyStatus.SKIPPED and filled == 0:
                    counts.copies_skipped += 1
                else:  # failed, expired (fresh signals here), or a skip the venue contradicts
                    counts.lost += 1
                    counts.notes.append(f"run {run}: {user} row {state} ({row['reason']}), venue filled {filled}")
        for account in [MASTER_ACCOUNT, *users]:
            for open_order in store.orders_in_status(BrokerName.KRAKEN, account, OPEN_ORDER_STATUSES):
                counts.unresolved += 1
                counts.notes.append(f"run {run}: {account} order {open_order.request.client_order_id} {open_order.status}")
    return counts


def one_run(run: int, step: str, users_n: int, rng: random.Random, root: Path) -> Counts:
    """One kill at `step`, the restart, the count."""
    home = Path(tempfile.mkdtemp(prefix=f"run{run:03d}-{step}-", dir=root))
    users = [f"u{i:03d}" for i in range(users_n)]
    point = STEPS[step].format(k=rng.randint(1, max(1, users_n - 1)))
    with Simulator(venues=[VENUE]) as sim:
        sim.set_price(VENUE, SYMBOL, PRICE)
        env = environment(sim, home, run, users)
        data = home / "data"
        first = start_daemon(home, {**env, "NIJA_CRASH_AT": point}, "daemon.log")
        if first is None:
            return Counts(runs=1, missed=1, notes=[f"run {run} ({step}): the daemon did not start; see {home}/daemon.log"])
        trade = _spawn(["-m", "nija.trade", "buy", SYMBOL, BUY_USD, "--quote", "--broker", VENUE, "--timeout", "30"],
                       home, env, home / "trade.log")
        crashed = eventually(lambda: first.poll() is not None, CRASH_TIMEOUT_S)
        missed = not crashed or first.returncode != 137
        _kill(first)
        _kill(trade, signal.SIGTERM, 5)
        with reading(data) as store:
            assert store is not None
            intent = store.manual_intent(1)
            master_cid = intent.client_order_id if intent is not None else None
            intent_before = master_cid is not None and store.get_order(master_cid) is not None
            # the state the kill left: intents stored and not answered, and those the venue has
            pending = [o.request.client_order_id for a in [MASTER_ACCOUNT, *users]
                       for o in store.orders_in_status(BrokerName.KRAKEN, a, [OrderStatus.PENDING])]
        at_venue = {c for r in sim.requests(VENUE) if r.creates_order for c in r.client_order_ids}
        at_kill = (len(pending), sum(c in at_venue for c in pending))
        second = start_daemon(home, env, "daemon-restarted.log")
        if second is None:
            return Counts(runs=1, unresolved=1, missed=int(missed),
                          notes=[f"run {run} ({step}): the restarted daemon did not come up; see {home}"])
        try:
            if master_cid is not None:
                eventually(lambda: settled(data, users, master_cid), SETTLE_TIMEOUT_S)
            counts = count(sim, data, run, users, master_cid, intent_before)
        finally:
            _kill(second, signal.SIGTERM, 20)
        counts.missed = int(missed)
        counts.pending_at_kill, counts.sent_unrecorded_at_kill = at_kill
        if missed:
            counts.notes.append(f"run {run}: crash point {point} not reached (exit {first.returncode})")
        if second.returncode not in (0, None):
            counts.notes.append(f"run {run}: the restarted daemon exited {second.returncode}")
        if sim.internal_errors:
            counts.notes.append(f"run {run}: simulator errors: {sim.internal_errors[:1]}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=len(STEPS), help="runs, cycling through the steps")
    parser.add_argument("--users", type=int, default=50, help="followers (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the mid-ledger kill position")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of: " + ", ".join(STEPS))
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, stores)")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or args.runs < 1 or args.users < 2:
        parser.error(f"unknown steps {unknown}" if unknown else "--runs >= 1 and --users >= 2")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="nija-crash-matrix-"))
    started = time.monotonic()
    total = Counts()
    per_step: dict[str, Counts] = {s: Counts() for s in steps}
    try:
        for run in range(args.runs):
            step = steps[run % len(steps)]
            result = one_run(run, step, args.users, rng, root)
            per_step[step].add(result)
            total.add(result)
            if not args.keep:
                for child in root.iterdir():
                    shutil.rmtree(child, ignore_errors=True)
    except KeyboardInterrupt:
        total.notes.append("interrupted")
    finally:
        _cleanup_children()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    for note in total.notes:
        print(note, file=sys.stderr)
    figures = {name: getattr(total, name) for name in ("runs", "lost", "duplicates", "unresolved", "missed")}
    print(json.dumps({
        **figures, "users": args.users, "seed": args.seed, "seconds": round(time.monotonic() - started, 1),
        "copies_filled": total.copies_filled, "copies_skipped": total.copies_skipped, "intents_stuck": total.intents_stuck,
        "steps": {s: {k: getattr(c, k) for k in ("runs", "lost", "duplicates", "unresolved", "missed", "pending_at_kill",
                                                "sent_unrecorded_at_kill", "copies_filled")}
                  for s, c in per_step.items()},
    }), flush=True)
    bad = total.lost or total.duplicates or total.unresolved or total.missed or "interrupted" in total.notes
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
