"""End-to-end copy trading in live mode: the daemon as a subprocess, its real ccxt clients (the
Kraken master and every user) pointed at the local simulator.

1. A master and 3 users of different equity and risk multiplier: `python -m nija.trade` buys,
   then sells part of the position. Every user's holdings at the simulator are exactly what the
   copy formulas give from the master's recorded fill (DESIGN invariants 2, 4, 5):
     entry  quote = cents↓(min(master quote value × user equity / master equity × risk_multiplier,
                               MAX_USER_RISK × user equity, available / (1 + taker fee)))
            base  = quote / price rounded down to Kraken's 8 lot decimals (the venue's rounding)
     exit   f = master sold / master position before; sell = f × user holding rounded down to 1e-8
   Kraken charges its 0.26 % taker fee in USD, so the BTC held carries no fee at all and is
   compared exactly; the USD left is compared exactly too, with the simulator's own fee rounding
   (cost to 4 decimals half-even, fee to 4 decimals half-up).
   A last master sell of the rest (f = 1) empties every user's holding; `nija.status` shows it.
2. 50 users, each AddOrder answer held back 1.5 s: the daemon is SIGKILLed mid fan-out (some
   copies at the venue with their answer lost, some never sent), restarted on the same data dir,
   and every user ends with exactly one order for that signal at the venue (one order-creating
   request per client order id), its ledger row filled, the signal done.
3. A manual buy landing between two master cycles keeps its position: the loop re-reads the
   holdings when a recorded position exceeds a paced (cached) read, so it is never taken as gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from nija.models import BrokerName, OrderStatus, Side, TradeSignal, client_order_id_for
from tests.e2e.support import brokers, daemon_pid, eventually, reading, stop_daemon
from tests.sim.simulator import Simulator

VENUE = "kraken"
SYMBOL = "BTC/USD"
PRICE = Decimal("60000")
MASTER_KEY = "copy-e2e-master-key"
MASTER_USD = Decimal("10000")
BUY_USD = Decimal("500")  # 5 % of the master's equity
SELL_BTC = Decimal("0.004")  # about 48 % of what BUY_USD buys at PRICE
MAX_USER_RISK = Decimal("0.04")  # low enough that it binds for one user
LOT = Decimal("1e-8")  # Kraken BTC/USD: 8 lot decimals
# A Kraken quote buy is sent as a base volume (Kraken refuses `viqc`): the amount less one USD unit
# kept for the fee's rounding, over the ask with the taker fee, rounded down to the lot (`_base_for`).
QUOTE_SENT = Decimal("0.1")  # the pair's price step, checked against the simulator's BTC/USD market
CENT = Decimal("0.01")
USD_PLACES = Decimal("1e-4")  # the simulator's cost decimals for Kraken BTC/USD
# The production cycle: the master loop runs its first cycle at start (awaited before trading)
# and then sleeps through the manual trades, which never interleave with a cycle here. (When they
# do, a broker-loop race deletes the master's position: see the last test of this file.)
CYCLE_SECONDS = 150
# user_id -> (USD at the venue, risk_multiplier). alice: the risk cap binds (50 wanted, 40 cap);
# bob and carol: the formula binds, scaled by equity and multiplier.
THREE_USERS = {
    "alice": (Decimal("1000"), Decimal("1")),
    "bob": (Decimal("2000"), Decimal("0.5")),
    "carol": (Decimal("5000"), Decimal("0.3")),
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(venues=[VENUE]) as simulator:
        simulator.set_price(VENUE, SYMBOL, PRICE)
        yield simulator
        assert not simulator.internal_errors, "simulator bug while serving:\n" + "\n".join(simulator.internal_errors)


def _user_key(user_id: str) -> str:
    return f"copy-e2e-{user_id}-key"


def _env(
    sim: Simulator, tmp_path: Path, users: Mapping[str, tuple[Decimal, Decimal]], master_usd: Decimal = MASTER_USD, **extra: str
) -> dict[str, str]:
    """A live-mode environment on the simulator: the master and `users` funded with USD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    master = sim.add_account(VENUE, MASTER_KEY, balances={"USD": master_usd})
    env.update(
        NIJA_MODE="live", NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_USERS_DIR=str(tmp_path / "users"),
        NIJA_CYCLE_SECONDS=str(CYCLE_SECONDS), NIJA_LOG_FORMAT="json", NIJA_STATUS_SUMMARY_SECONDS="5", PYTHONUNBUFFERED="1",
        NIJA_HTTP_TIMEOUT_SECONDS="5", KRAKEN_TIER="pro", NIJA_KRAKEN_API_URL=sim.url(VENUE),
        NIJA_SYMBOLS_KRAKEN=SYMBOL, KRAKEN_MASTER_API_KEY=MASTER_KEY, KRAKEN_MASTER_API_SECRET=master.secret,
        MAX_USER_RISK=str(MAX_USER_RISK), COPY_SIGNAL_MAX_AGE_SECONDS="300",
    )
    (tmp_path / "users").mkdir()
    for user_id, (usd, multiplier) in users.items():
        account = sim.add_account(VENUE, _user_key(user_id), balances={"USD": usd})
        (tmp_path / "users" / f"{user_id}.json").write_text(json.dumps(
            {"user_id": user_id, "name": user_id.title(), "broker": VENUE, "risk_multiplier": float(multiplier)}
        ))
        env[f"KRAKEN_USER_{user_id.upper()}_API_KEY"] = _user_key(user_id)
        env[f"KRAKEN_USER_{user_id.upper()}_API_SECRET"] = account.secret
    env.update(extra)
    return env


def _start(tmp_path: Path, env: dict[str, str], log_name: str = "daemon.log") -> subprocess.Popen[bytes]:
    with open(tmp_path / log_name, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    data = tmp_path / "data"

    def up() -> bool:  # this process runs the daemon and the master finished a cycle (or it died)
        cycled = brokers(data).get(VENUE, {}).get("cycles_ok", 0) >= 1
        return proc.poll() is not None or (daemon_pid(data) == proc.pid and cycled)

    try:
        eventually(up, 60, "the daemon up and a master cycle done")
    except AssertionError:
        stop_daemon(proc)
        raise
    assert proc.poll() is None, (tmp_path / log_name).read_text()[-3000:]
    return proc


def _trade(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    """Run `python -m nija.trade` and return the master order's client order id."""
    done = subprocess.run([sys.executable, "-m", "nija.trade", *args, "--broker", VENUE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "client_order_id=" in done.stdout, (done.stdout, done.stderr[-3000:])
    return done.stdout.strip().rsplit("client_order_id=", 1)[1]


def _signals(data: Path, side: Side) -> list[TradeSignal]:
    """The master's signals of `side` in the outbox, oldest first."""
    with reading(data) as store:
        return [s for s, _ in store.signals() if s.side is side] if store is not None else []


def _signal_of(data: Path, side: Side) -> TradeSignal:
    """The one master signal of `side` in the outbox."""
    signals = eventually(lambda: _signals(data, side), 30, f"the {side} signal")
    assert len(signals) == 1, signals
    return signals[0]


def _ledger(data: Path, signal_id: str) -> list[dict[str, Any]]:
    with reading(data) as store:
        try:
            return store.copy_rows(signal_id) if store is not None else []
        except Exception:  # a write in progress: try again on the next poll
            return []


FINAL = frozenset({"filled", "partial", "skipped", "failed", "expired"})  # ledger rows no pass revisits


def _all_filled(data: Path, signal_id: str, users: int) -> list[dict[str, Any]]:
    rows = eventually(
        lambda: len(r := _ledger(data, signal_id)) == users and all(x["status"] in FINAL for x in r) and r,
        60, "every copy final",
    )
    assert {r["status"] for r in rows} == {"filled"}, [(r["user_id"], r["status"], r["reason"]) for r in rows]
    return rows


def _usd_after(usd: Decimal, side: Side, volume: Decimal, fee_rate: Decimal) -> Decimal:
    """USD left after one fill at PRICE, rounded as the simulator books it (fee in USD)."""
    cost = (volume * PRICE).quantize(USD_PLACES, rounding=ROUND_HALF_EVEN)
    fee = (cost * fee_rate).quantize(USD_PLACES, rounding=ROUND_HALF_UP)
    return usd - cost - fee if side is Side.BUY else usd + cost - fee


def _base_for(quote: Decimal, fee_rate: Decimal) -> Decimal:
    """The BTC a Kraken quote buy of `quote` USD is sent as at PRICE (nija.brokers.ccxt.kraken.buy_volume)."""
    return ((quote - USD_PLACES) / (PRICE * (1 + fee_rate))).quantize(LOT, rounding=ROUND_DOWN)


def _copy_id(signal: TradeSignal, user_id: str) -> str:
    return client_order_id_for("copy", signal.signal_id, user_id)


def _one_order(sim: Simulator, signal: TradeSignal, user_id: str) -> Any:
    """The user's single order for `signal` at the venue (and a single order-creating request)."""
    cid = _copy_id(signal, user_id)
    orders = sim.orders(VENUE, _user_key(user_id), client_order_id=cid)
    assert len(orders) == 1 and sim.count_orders(VENUE, cid) == 1, (user_id, orders, sim.count_orders(VENUE, cid))
    return orders[0]


def test_buy_then_partial_sell_is_copied_scaled_to_each_user(sim: Simulator, tmp_path: Path) -> None:
    fee_rate = sim.venue(VENUE).taker_fee  # 0.26 %, charged in USD
    (market,) = [m for m in sim.markets(VENUE) if m.symbol == SYMBOL]
    assert (Decimal(1).scaleb(-market.price_decimals), Decimal(1).scaleb(-market.amount_decimals)) == (QUOTE_SENT, LOT)
    assert Decimal(1).scaleb(-market.cost_decimals) == USD_PLACES
    env = _env(sim, tmp_path, THREE_USERS)
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        # -- the master buys BUY_USD of BTC -------------------------------------------------------
        master_cid = _trade(tmp_path, env, "buy", SYMBOL, str(BUY_USD), "--quote")
        (master_order,) = sim.orders(VENUE, MASTER_KEY, client_order_id=master_cid)
        buy = _signal_of(data, Side.BUY)
        assert (buy.qty, buy.price) == (master_order.filled, PRICE)  # the signal is the venue's fill
        assert buy.qty == _base_for(BUY_USD, fee_rate)
        assert buy.master_equity == MASTER_USD  # equity before the fill: all cash
        assert buy.master_position_before == 0
        rows = {r["user_id"]: r for r in _all_filled(data, buy.signal_id, len(THREE_USERS))}

        held: dict[str, Decimal] = {}
        usd: dict[str, Decimal] = {}
        for user_id, (equity, multiplier) in THREE_USERS.items():
            wanted = buy.qty * buy.price * equity / buy.master_equity * multiplier
            quote = min(wanted, MAX_USER_RISK * equity, equity / (1 + fee_rate)).quantize(CENT, rounding=ROUND_DOWN)
            base = _base_for(quote, fee_rate)
            order = _one_order(sim, buy, user_id)
            assert (order.side, order.quote_volume, order.volume, order.filled) == (Side.BUY, None, base, base), user_id
            held[user_id], usd[user_id] = base, _usd_after(equity, Side.BUY, base, fee_rate)
            assert sim.balances(VENUE, _user_key(user_id)) == {"USD": usd[user_id], "BTC": base}, user_id
            row = rows[user_id]
            assert (row["unit"], Decimal(row["size_asked"]), Decimal(row["size_filled"])) == ("quote", quote, base), user_id
            assert (Decimal(row["price"]), Decimal(row["fee"])) == (PRICE, order.fee), user_id
            assert 0 <= row["latency_ms"] < 30_000, user_id
        # the risk cap bound alice; bob and carol got the equity-scaled amount
        # (alice 49.87 wanted, 40 cap; bob 498.7032 × 2000/10000 × 0.5 = 49.87032; carol 74.80548)
        assert [rows[u]["size_asked"] for u in THREE_USERS] == ["40.00", "49.87", "74.80"]

        # -- the master sells part of its position ---------------------------------------------------
        _trade(tmp_path, env, "sell", SYMBOL, str(SELL_BTC), "--base")
        sell = _signal_of(data, Side.SELL)
        assert (sell.qty, sell.master_position_before) == (SELL_BTC, buy.qty)
        fraction = sell.qty / sell.master_position_before
        assert Decimal("0.4") < fraction < Decimal("0.99")  # a partial exit, not rounded up to "all"
        rows = {r["user_id"]: r for r in _all_filled(data, sell.signal_id, len(THREE_USERS))}
        for user_id in THREE_USERS:
            sold = (fraction * held[user_id]).quantize(LOT, rounding=ROUND_DOWN)
            order = _one_order(sim, sell, user_id)
            assert (order.side, order.volume, order.filled) == (Side.SELL, sold, sold), user_id
            row = rows[user_id]
            assert (row["unit"], Decimal(row["size_asked"]), Decimal(row["size_filled"])) == ("base", sold, sold), user_id
            assert (Decimal(row["price"]), Decimal(row["fee"])) == (PRICE, order.fee), user_id
            assert sim.balances(VENUE, _user_key(user_id)) == {
                "USD": _usd_after(usd[user_id], Side.SELL, sold, fee_rate), "BTC": held[user_id] - sold
            }, user_id
            held[user_id], usd[user_id] = held[user_id] - sold, _usd_after(usd[user_id], Side.SELL, sold, fee_rate)
        assert sim.balances(VENUE, MASTER_KEY)["BTC"] == buy.qty - SELL_BTC

        # -- the master sells the rest: f = 1, every user sells the whole holding, no dust -------------
        _trade(tmp_path, env, "sell", SYMBOL, str(buy.qty - SELL_BTC), "--base")
        (last,) = [s for s in _signals(data, Side.SELL) if s.signal_id != sell.signal_id]
        assert (last.qty, last.master_position_before) == (buy.qty - SELL_BTC, buy.qty - SELL_BTC)
        _all_filled(data, last.signal_id, len(THREE_USERS))
        for user_id in THREE_USERS:
            order = _one_order(sim, last, user_id)
            assert (order.side, order.volume, order.filled) == (Side.SELL, held[user_id], held[user_id]), user_id
            assert sim.balances(VENUE, _user_key(user_id)) == {
                "USD": _usd_after(usd[user_id], Side.SELL, held[user_id], fee_rate), "BTC": 0
            }, user_id
        # nothing else was traded: one buy and two sells per account
        assert all(len(sim.orders(VENUE, _user_key(u))) == 3 for u in THREE_USERS)
        assert len(sim.orders(VENUE, MASTER_KEY)) == 3
        # `python -m nija.status` shows every user with its last copy and the equity now at the venue
        def status_users() -> dict[str, Any] | None:
            shown = subprocess.run([sys.executable, "-m", "nija.status", "--json", "--data-dir", str(data)], cwd=tmp_path,
                                   env=env, capture_output=True, text=True, timeout=30)
            users = {u["user_id"]: u for u in json.loads(shown.stdout)["copy"]["users"]} if shown.stdout else {}
            return users if all(
                u in users and users[u]["last_copy"] == "filled" and users[u]["state"] == "healthy"
                and Decimal(str(users[u]["total_equity"])) == sim.balances(VENUE, _user_key(u))["USD"]
                for u in THREE_USERS
            ) else None

        eventually(status_users, 20, "status showing every user's copy and equity")
        # the daemon and three `nija.trade` processes shared the master key's persistent nonce
        assert [k for k in (MASTER_KEY, *map(_user_key, THREE_USERS)) if sim.invalid_nonces(VENUE, k)] == []
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


FAN_OUT_USERS = 50
ANSWER_DELAY_MS = 1500  # each AddOrder answer is held back this long, after the order is booked


def test_kill_9_mid_fan_out_then_restart_copies_each_user_exactly_once(sim: Simulator, tmp_path: Path) -> None:
    users = {f"u{i:02d}": (Decimal("1000"), Decimal("1")) for i in range(FAN_OUT_USERS)}
    env = _env(sim, tmp_path, users, NIJA_COPY_WORKERS="8")
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        # Orders are booked at once; their answers come back late, so a fan-out is caught mid-way.
        sim.inject(VENUE, r"/AddOrder$", "latency", times=None, delay_ms=ANSWER_DELAY_MS, apply_after=True)
        master_cid = _trade(tmp_path, env, "buy", SYMBOL, str(BUY_USD), "--quote")
        buy = _signal_of(data, Side.BUY)
        copy_ids = {_copy_id(buy, u): u for u in users}

        def copies_sent() -> set[str]:
            return {u for r in sim.requests(VENUE, path_contains="AddOrder") for c in r.client_order_ids if (u := copy_ids.get(c))}

        # More copies sent than the pool runs at once (8): the fan-out is well under way, not done.
        eventually(lambda: len(copies_sent()) > 8, 60, "the fan-out under way")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop_daemon(proc)
    assert proc.returncode == -signal.SIGKILL
    sent_before = copies_sent()
    assert 8 < len(sent_before) < FAN_OUT_USERS, len(sent_before)
    with reading(data) as store:
        assert store is not None
        ledger = store.copy_rows(buy.signal_id)
        intents = {u: store.get_order(cid) for cid, u in copy_ids.items()}
    # Every (signal, user) row existed before any order went out, and every order sent had its
    # intent stored first; the crash left copies at the venue whose answer the store never got,
    # and copies never sent at all.
    assert len(ledger) == FAN_OUT_USERS and any(r["status"] not in FINAL for r in ledger), ledger
    assert all(intents[u] is not None for u in sent_before)
    answer_lost = {u for u in sent_before if intents[u].status in (OrderStatus.PENDING, OrderStatus.UNKNOWN)}
    assert answer_lost, (sent_before, {u: intents[u].status for u in sent_before})

    sim.clear_faults(VENUE)
    restarted = _start(tmp_path, env, "daemon-restarted.log")
    try:
        rows = _all_filled(data, buy.signal_id, FAN_OUT_USERS)
        eventually(lambda: (s := _signal_status(data, buy.signal_id)) == "done" and s, 30, "the signal done")
        for user_id in users:
            order = _one_order(sim, buy, user_id)
            assert order.filled == order.volume > 0
            assert sim.balances(VENUE, _user_key(user_id))["BTC"] == order.volume
        assert {Decimal(r["size_filled"]) for r in rows} == {sim.orders(VENUE, _user_key("u00"))[0].volume}
        (master_order,) = sim.orders(VENUE, MASTER_KEY)
        assert master_order.client_order_id == master_cid and sim.count_orders(VENUE, master_cid) == 1
        # the persistent Kraken nonces survived the kill: no request of any key was refused for it
        assert [u for u in users if sim.invalid_nonces(VENUE, _user_key(u))] == []
        assert sim.invalid_nonces(VENUE, MASTER_KEY) == 0
        assert restarted.poll() is None
    finally:
        stop_daemon(restarted)
    assert restarted.returncode == 0, (tmp_path / "daemon-restarted.log").read_text()[-3000:]


def _signal_status(data: Path, signal_id: str) -> str | None:
    with reading(data) as store:
        if store is None:
            return None
        try:
            return next((status for s, status in store.signals() if s.signal_id == signal_id), None)
        except Exception:
            return None


def test_a_manual_buy_between_master_cycles_keeps_its_position(sim: Simulator, tmp_path: Path) -> None:
    # $90 of equity: the LOW_CAPITAL profile re-reads balances every 30 s while the loop cycles every 1 s.
    env = _env(sim, tmp_path, {"alice": (Decimal("1000"), Decimal("1"))}, master_usd=Decimal("90"), NIJA_CYCLE_SECONDS="1")
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        _trade(tmp_path, env, "buy", SYMBOL, "20", "--quote")
        buy = _signal_of(data, Side.BUY)
        _all_filled(data, buy.signal_id, 1)
        cycles = eventually(lambda: brokers(data).get(VENUE, {}).get("cycles_total"), 10, "the master's cycle count")
        eventually(lambda: brokers(data).get(VENUE, {}).get("cycles_total", 0) >= cycles + 2, 30, "two master cycles")
        with reading(data) as store:
            assert store is not None
            kept = [(p.symbol, p.qty) for p in store.positions(BrokerName.KRAKEN, "master")]
        assert kept == [(SYMBOL, buy.qty)]

        half = (buy.qty / 2).quantize(LOT, rounding=ROUND_DOWN)
        _trade(tmp_path, env, "sell", SYMBOL, str(half), "--base")
        sell = _signal_of(data, Side.SELL)
        assert sell.master_position_before == buy.qty
        _all_filled(data, sell.signal_id, 1)
        held = _one_order(sim, buy, "alice").volume
        sold = (sell.qty / sell.master_position_before * held).quantize(LOT, rounding=ROUND_DOWN)
        assert sim.balances(VENUE, _user_key("alice"))["BTC"] == held - sold > 0
    finally:
        stop_daemon(proc)
