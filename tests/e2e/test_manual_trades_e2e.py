"""End-to-end manual trades (`python -m nija.trade`) in live mode: the daemon as a subprocess, its
real ccxt clients (a Kraken master, and followers where a test needs them) pointed at the local
simulator. DESIGN invariants 4 (one order lifecycle), 5 (positions from fills), 6 (strategy state
belongs to the strategy), 7 (one writer per account) and 9 (exits mirror copied positions).

1. A manual half sell changes the quantity only: the master keeps the other half, APEX's stop and
   take-profit stage stay where APEX put them (no breakeven move, no TP1), the daemon sends no
   sell of its own on a flat price nor at -0.5 %, and each follower keeps half of its copy.
2. Two `nija.trade` sells racing the daemon's own stop exit on one position, twice (the price
   falls as they start, or once both wait in the inbox; the loop ends up selling in either
   order): every intended sell reaches the venue once at most (no client order id twice), each
   CLI call says what happened, the store's position ends equal to what the venue holds, and
   APEX's state goes with the closed position (the second position, bought lower, starts from
   its own entry instead of inheriting the first one's stop, which would sell it at once).
3. With no daemon running, `nija.trade` executes the trade itself under the data dir lock; the
   daemon started afterwards manages that position from its fill (strategy state from the entry).
4. With the daemon running but no loop able to take the intent (an unfunded master has none),
   `nija.trade --timeout 2` gives up within seconds, cancels its intent and sends nothing.
5. An answer lost on its way back: the command waits while the daemon looks the order up by
   client order id and reports the fill it finds (exit 0); an order the venue never saw stays
   unknown past `--timeout`, and the command says so, exit 4 ("do not repeat this trade"),
   without a second order.
6. The daemon's own stop exit, partly filled with the rest kept open by the venue: no second
   exit is decided while it is open; past NIJA_OPEN_ORDER_TIMEOUT_SECONDS the daemon cancels it
   (what filled is kept) and the exit decided again sells the rest.

The price is 60000 USD, an integer: the simulator synthesizes flat candles at the current price
(open = close = price, high/low ±0.1 %), and TA-Lib's EMA of a constant integer series is exactly
that constant (SMA seed of integers, then prev + k × (x − prev) with x − prev = 0), so EMA9 ==
EMA21 and APEX's EMA-cross exit (EMA9 < EMA21) cannot fire; with no directional movement ADX is 0,
so APEX never enters on its own either (every price used here is an integer). `_quiet_candles` checks both premises on the very candles
the simulator serves, at every price these tests hold for more than an instant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nija.models import (
    BrokerName,
    Candles,
    IntentStatus,
    OrderStatus,
    Position,
    Side,
    TradeSignal,
    utc_now,
)
from nija.store import ManualIntent
from nija.strategy.apex import ExitAction, ExitState, evaluate_entry, evaluate_exit
from nija.strategy.registry import default_strategy
from tests.e2e.support import brokers, daemon_pid, eventually, reading, stop_daemon
from tests.sim.simulator import Simulator

VENUE = "kraken"
BROKER = BrokerName.KRAKEN
SYMBOL = "BTC/USD"
PRICE = Decimal("60000")
MASTER = "master"
MASTER_KEY = "manual-e2e-master-key"
MASTER_USD = Decimal("10000")
BUY_BTC = Decimal("0.01")  # 600 USD: 6 % of the master's equity; bought by base so halves are exact
LOT = Decimal("1e-8")  # Kraken BTC/USD: 8 lot decimals
# A manual buy plans no stop: APEX starts it at emergency_loss_pct = 1 % below the entry (Kraken
# charges its fee in USD, so the entry is the fill price itself).
STOP = PRICE * Decimal("0.99")
DOWN_HALF_PCT = PRICE * Decimal("0.995")  # -0.5 %: above the stop and the -1 % emergency exit


# -- harness -------------------------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(venues=[VENUE]) as simulator:
        simulator.set_price(VENUE, SYMBOL, PRICE)
        yield simulator
        assert not simulator.internal_errors, "simulator bug while serving:\n" + "\n".join(simulator.internal_errors)


def _user_key(user_id: str) -> str:
    return f"manual-e2e-{user_id}-key"


def _env(sim: Simulator, tmp_path: Path, users: Mapping[str, Decimal] = {}, master_usd: Decimal = MASTER_USD,
         **extra: str) -> dict[str, str]:  # fmt: skip
    """Live mode on the simulator, one cycle a second: the master and `users` funded with USD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    master = sim.add_account(VENUE, MASTER_KEY, balances={"USD": master_usd})
    env.update(
        NIJA_MODE="live", NIJA_DATA_DIR=str(tmp_path / "data"), NIJA_USERS_DIR=str(tmp_path / "users"),
        NIJA_CYCLE_SECONDS="1", NIJA_LOG_FORMAT="json", NIJA_STATUS_SUMMARY_SECONDS="5", PYTHONUNBUFFERED="1",
        NIJA_HTTP_TIMEOUT_SECONDS="5", KRAKEN_TIER="pro", NIJA_KRAKEN_API_URL=sim.url(VENUE),
        NIJA_SYMBOLS_KRAKEN=SYMBOL, KRAKEN_MASTER_API_KEY=MASTER_KEY, KRAKEN_MASTER_API_SECRET=master.secret,
        MAX_USER_RISK="0.1", COPY_SIGNAL_MAX_AGE_SECONDS="300",
    )
    (tmp_path / "users").mkdir()
    for user_id, usd in users.items():
        account = sim.add_account(VENUE, _user_key(user_id), balances={"USD": usd})
        (tmp_path / "users" / f"{user_id}.json").write_text(json.dumps(
            {"user_id": user_id, "name": user_id.title(), "broker": VENUE, "risk_multiplier": 1.0}
        ))
        env[f"KRAKEN_USER_{user_id.upper()}_API_KEY"] = _user_key(user_id)
        env[f"KRAKEN_USER_{user_id.upper()}_API_SECRET"] = account.secret
    env.update(extra)
    return env


def _cycles(data: Path) -> int:
    return int(brokers(data).get(VENUE, {}).get("cycles_total", 0))


def _start(tmp_path: Path, env: dict[str, str], log_name: str = "daemon.log", *, cycle: bool = True) -> subprocess.Popen[bytes]:
    """Start the daemon; return once it runs (and, with `cycle`, its master loop cycled in this run)."""
    data = tmp_path / "data"
    before = _cycles(data)  # a restart on the same store continues the stored health's counts
    with open(tmp_path / log_name, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nija"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        if proc.poll() is not None:
            return True
        if daemon_pid(data) != proc.pid:
            return False
        return _cycles(data) > before if cycle else VENUE in brokers(data)

    try:
        eventually(up, 60, "the daemon up")
    except AssertionError:
        stop_daemon(proc)
        raise
    assert proc.poll() is None, (tmp_path / log_name).read_text()[-3000:]
    return proc


def _trade_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nija.trade", *args, "--broker", VENUE]


def _trade(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    """Run `python -m nija.trade` (expecting a fill) and return its client order id."""
    done = subprocess.run(_trade_cmd(*args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "client_order_id=" in done.stdout, (done.returncode, done.stdout, done.stderr[-3000:])
    return done.stdout.strip().rsplit("client_order_id=", 1)[1]


def _wait_cycles(data: Path, n: int, what: str) -> None:
    """Wait until the master loop has run `n` more cycles."""
    start = _cycles(data)
    eventually(lambda: _cycles(data) >= start + n, 10 + 3 * n, what)


def _position(data: Path, account: str = MASTER) -> Position | None:
    with reading(data) as store:
        assert store is not None
        return next((p for p in store.positions(BROKER, account) if p.symbol == SYMBOL), None)


def _state(data: Path) -> dict[str, Any] | None:
    """APEX's stored exit state of the master's SYMBOL position, once it has no exit pending."""
    with reading(data) as store:
        if store is None:
            return None
        try:
            stored = store.strategy_states(BROKER, MASTER).get(SYMBOL)
        except Exception:  # a write in progress: try again on the next poll
            return None
        return stored.state if stored is not None and stored.pending_client_order_id is None else None


def _intents(data: Path) -> list[ManualIntent]:
    """Every manual intent of the inbox, oldest first (ids count up from 1)."""
    found: list[ManualIntent] = []
    with reading(data) as store:
        assert store is not None
        while (intent := store.manual_intent(len(found) + 1)) is not None:
            found.append(intent)
    return found


def _signals(data: Path, side: Side) -> list[TradeSignal]:
    with reading(data) as store:
        if store is None:
            return []
        try:
            return [s for s, _ in store.signals() if s.side is side]
        except Exception:
            return []


def _copies_filled(data: Path, signal_id: str, users: int) -> list[dict[str, Any]]:
    def final() -> list[dict[str, Any]] | None:
        with reading(data) as store:
            try:
                rows = store.copy_rows(signal_id) if store is not None else []
            except Exception:
                return None
        done = len(rows) == users and all(r["status"] in ("filled", "partial", "skipped", "failed", "expired") for r in rows)
        return rows if done else None

    rows = eventually(final, 30, f"every copy of {signal_id} final")
    assert {r["status"] for r in rows} == {"filled"}, [(r["user_id"], r["status"], r["reason"]) for r in rows]
    return rows


def _master_sells(sim: Simulator) -> list[Any]:
    return [o for o in sim.orders(VENUE, MASTER_KEY) if o.symbol == SYMBOL and o.side == "sell"]


def _quiet_candles(sim: Simulator, price: Decimal, entry: Decimal = PRICE) -> None:
    """The candles the simulator serves at `price` can move no APEX exit or entry (see the module
    docstring): EMA9 == EMA21 (no EMA cross), no entry signal, and, for a position bought at
    `entry` with its 1 % stop, no exit action while the price is above that stop."""
    # every candle a decision reads (the strategy's look-back), the forming one left out as the loop does
    needed = default_strategy().candles_needed
    bars = sim.venue(VENUE).book.candles(SYMBOL, 300)  # 5-minute candles
    candles = Candles.from_rows(np.array(
        [[c.ts_s * 1000, float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume)] for c in bars[-needed - 1:-1]],
        dtype=np.float64,
    ))
    assert len(candles.close) == needed and set(candles.close.tolist()) == {float(price)}
    opening = evaluate_entry(candles)
    assert not opening.enter, opening
    position = Position(broker=BROKER, account=MASTER, symbol=SYMBOL, qty=BUY_BTC, entry_price=entry, opened_at=utc_now())
    stop = entry * Decimal("0.99")
    if price > stop:
        state = ExitState(stop_price=stop, risk_per_unit=entry - stop, initial_qty=BUY_BTC)
        decision = evaluate_exit(position, state, price, candles)
        assert decision.action is ExitAction.NONE and decision.state == state, decision


# -- 1. the manual half sell ------------------------------------------------------------------------


FOLLOWERS = {"alice": Decimal("1000"), "bob": Decimal("2500")}


def test_a_manual_half_sell_changes_the_quantity_only(sim: Simulator, tmp_path: Path) -> None:
    _quiet_candles(sim, PRICE)
    sim.set_price(VENUE, SYMBOL, DOWN_HALF_PCT)
    _quiet_candles(sim, DOWN_HALF_PCT)
    sim.set_price(VENUE, SYMBOL, PRICE)
    env = _env(sim, tmp_path, FOLLOWERS)
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        # -- a manual buy, copied to both followers ----------------------------------------------
        buy_cid = _trade(tmp_path, env, "buy", SYMBOL, str(BUY_BTC), "--base")
        (buy_order,) = sim.orders(VENUE, MASTER_KEY, client_order_id=buy_cid)
        assert buy_order.filled == BUY_BTC
        (buy,) = eventually(lambda: _signals(data, Side.BUY), 30, "the buy signal")
        _copies_filled(data, buy.signal_id, len(FOLLOWERS))
        copied = {u: sim.orders(VENUE, _user_key(u))[0].filled for u in FOLLOWERS}
        assert all(q > 0 for q in copied.values()), copied
        # APEX's state of the position, created by the loop from the entry (a manual buy: 1 % stop)
        before = eventually(lambda: _state(data), 15, "APEX's exit state of the bought position")
        assert Decimal(before["stop_price"]) == STOP < DOWN_HALF_PCT
        assert (before["tp_stage"], before["trailing_stop"], Decimal(before["initial_qty"])) == (0, None, BUY_BTC)

        # -- the manual half sell -------------------------------------------------------------
        half = BUY_BTC / 2
        sell_cid = _trade(tmp_path, env, "sell", SYMBOL, str(half), "--base")
        (sell,) = eventually(lambda: _signals(data, Side.SELL), 30, "the sell signal")
        assert (sell.qty, sell.master_position_before) == (half, BUY_BTC)
        _copies_filled(data, sell.signal_id, len(FOLLOWERS))

        # -- a flat price for several cycles, then -0.5 % for several more -----------------------
        _wait_cycles(data, 4, "4 master cycles on a flat price")
        tickers = len(sim.requests(VENUE, path_contains="Ticker"))
        sim.set_price(VENUE, SYMBOL, DOWN_HALF_PCT)
        _wait_cycles(data, 5, "5 master cycles at -0.5 %")
        assert len(sim.requests(VENUE, path_contains="Ticker")) >= tickers + 4  # the loop did read the new price

        # -- the master holds the other half; APEX's state did not move ------------------------------
        position = _position(data)
        assert position is not None and position.qty == half
        assert sim.balances(VENUE, MASTER_KEY)["BTC"] == half
        after = _state(data)
        assert after == before, (before, after)  # same stop (not breakeven), tp_stage 0, no trailing
        assert [o.client_order_id for o in _master_sells(sim)] == [sell_cid]  # the daemon sold nothing itself
        assert len(sim.requests(VENUE, path_contains="AddOrder", api_key=MASTER_KEY)) == 2

        # -- each follower sold half of its copy (fraction 0.005 / 0.01 = 1/2 of its copied position) --
        for user_id, qty in copied.items():
            kept = qty - (qty / 2).quantize(LOT, rounding=ROUND_DOWN)
            follower = _position(data, user_id)
            assert follower is not None and follower.qty == kept, (user_id, qty, follower)
            assert sim.balances(VENUE, _user_key(user_id))["BTC"] == kept, user_id
            assert [o.side for o in sim.orders(VENUE, _user_key(user_id))] == ["buy", "sell"], user_id
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


# -- 2. two nija.trade sells racing the daemon's own exit ---------------------------------------------


def _race(sim: Simulator, tmp_path: Path, env: dict[str, str], entry: Decimal, *, drop_at_launch: bool) -> None:
    """Buy a position at `entry`, then two `nija.trade` sells of 0.3 of it each while its stop exit
    falls due; check every order went once and the store ends as the venue."""
    data = tmp_path / "data"
    stop, below_stop = entry * Decimal("0.99"), entry * Decimal("0.98")  # integers: quiet flat candles
    sim.set_price(VENUE, SYMBOL, entry)
    _quiet_candles(sim, entry, entry)
    earlier = {o.client_order_id for o in sim.orders(VENUE, MASTER_KEY)}
    _trade(tmp_path, env, "buy", SYMBOL, str(BUY_BTC), "--base")
    # A new position's state starts from its own entry (never a state left by an earlier one).
    state = eventually(lambda: _state(data), 15, "APEX's exit state of the bought position")
    assert (Decimal(state["stop_price"]), Decimal(state["risk_per_unit"])) == (stop, entry - stop), state
    assert (Decimal(state["initial_qty"]), state["tp_stage"]) == (BUY_BTC, 0), state
    first = len(_intents(data))

    # Two sells launched at once as the price falls below the stop: the loop's next cycle decides
    # its own exit while the intents reach its inbox. The loop runs both in its one thread in
    # whichever order they come; any order must end right. `drop_at_launch`: the price falls as
    # the commands start (the exit usually wins); else once both intents wait in the inbox (the
    # manual sells usually win).
    part = (BUY_BTC * Decimal("0.3")).quantize(LOT, rounding=ROUND_DOWN)
    calls = [
        subprocess.Popen(_trade_cmd("sell", SYMBOL, str(part), "--base"), cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        if not drop_at_launch:
            eventually(lambda: len(_intents(data)) >= first + 2, 30, "both manual sells in the inbox")
        sim.set_price(VENUE, SYMBOL, below_stop)
        answers = [call.communicate(timeout=60) for call in calls]
    finally:
        for call in calls:
            if call.poll() is None:
                call.kill()
                call.wait(timeout=5)
    # the daemon's exit settles, then nothing more happens for a few cycles
    _quiet_candles(sim, below_stop, entry)  # (no entry of APEX's own once flat either)
    eventually(lambda: _position(data) is None, 20, "the position closed")
    _wait_cycles(data, 3, "3 more master cycles")

    sells = _intents(data)[first:]
    assert len(sells) == 2 and {i.side for i in sells} == {Side.SELL}
    by_cid = {i.client_order_id: i for i in sells}
    for call, (out, err) in zip(calls, answers, strict=True):
        if call.returncode == 0:
            cid = out.strip().rsplit("client_order_id=", 1)[1]
            intent = by_cid[cid]
            assert intent.status is IntentStatus.DONE and intent.filled_qty == part, intent
            assert out.split()[:2] == ["filled", "sell"] and Decimal(out.split()[2]) == part, out
        else:  # the daemon's exit sold everything first: the venue refused, and the CLI says so
            assert call.returncode == 1 and out == "", (call.returncode, out, err)
            assert err.startswith("nija trade: InsufficientFunds") and "Insufficient funds" in err, err
    done = [i for i in sells if i.status is IntentStatus.DONE]
    refused = [i for i in sells if i.status is not IntentStatus.DONE]
    assert all(i.status is IntentStatus.REFUSED and i.order_status == "rejected" for i in refused), refused
    assert sorted(c.returncode for c in calls) == sorted(0 if i in done else 1 for i in sells)

    # Each intended sell reached the venue once (filled, or refused for want of coins), the
    # daemon's exit at most once, and no client order id was sent twice.
    creating = [c for r in sim.requests(VENUE, path_contains="AddOrder") if r.creates_order for c in r.client_order_ids]
    assert [cid for cid, n in Counter(creating).items() if n > 1] == []
    for intent in sells:  # a filled sell was sent once; a refused one at most once (today the venue refuses it)
        sent = sim.count_orders(VENUE, intent.client_order_id)
        assert sent <= 1 and (sent == 1 or intent not in done), (intent, sent)
    sold = [o for o in _master_sells(sim) if o.client_order_id not in earlier]
    exits = [o for o in sold if o.client_order_id not in by_cid]
    assert len(exits) <= 1, exits
    assert sorted(o.client_order_id for o in sold if o.client_order_id in by_cid) == sorted(i.client_order_id for i in done)
    # Nothing left unsold, nothing oversold: the exit took exactly what the manual sells left.
    assert sum((o.filled for o in sold), Decimal(0)) == BUY_BTC
    if exits:
        assert exits[0].filled == BUY_BTC - part * len(done)
    # The store's position equals the venue's holding to the last unit: both empty, and APEX's
    # state went with the position (none is left for the next position in this symbol to inherit).
    assert _position(data) is None and _state(data) is None
    assert sim.balances(VENUE, MASTER_KEY).get("BTC", Decimal(0)) == 0


def test_two_manual_sells_racing_the_daemons_exit_send_each_order_once(sim: Simulator, tmp_path: Path) -> None:
    env = _env(sim, tmp_path)
    proc = _start(tmp_path, env)
    try:
        # The second position, bought lower, would be stop-sold at once if it inherited the first
        # one's stop (59400 > 58000).
        _race(sim, tmp_path, env, PRICE, drop_at_launch=True)
        _race(sim, tmp_path, env, Decimal("58000"), drop_at_launch=False)
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


# -- 3. nija.trade without a daemon ----------------------------------------------------------------


def test_a_manual_buy_without_a_daemon_is_managed_by_the_next_daemon(sim: Simulator, tmp_path: Path) -> None:
    _quiet_candles(sim, PRICE)
    env = _env(sim, tmp_path, {"alice": Decimal("1000")})
    data = tmp_path / "data"
    stop_daemon(first := _start(tmp_path, env, "daemon-first.log"))  # an earlier run left its store
    assert first.returncode == 0, (tmp_path / "daemon-first.log").read_text()[-3000:]
    cycles = _cycles(data)

    cid = _trade(tmp_path, env, "buy", SYMBOL, str(BUY_BTC), "--base")  # executed by nija.trade itself
    (order,) = sim.orders(VENUE, MASTER_KEY, client_order_id=cid)
    assert (order.side, order.filled) == ("buy", BUY_BTC)
    assert sim.balances(VENUE, MASTER_KEY)["BTC"] == BUY_BTC
    position = _position(data)
    assert position is not None and (position.qty, position.entry_price) == (BUY_BTC, PRICE)
    assert _state(data) is None and _cycles(data) == cycles  # no loop ran: no strategy state yet
    (intent,) = _intents(data)
    assert (intent.status, intent.client_order_id, intent.filled_qty) == (IntentStatus.DONE, cid, BUY_BTC)
    (buy,) = _signals(data, Side.BUY)  # recorded like any master fill: a copy signal waits in the outbox

    proc = _start(tmp_path, env)
    try:
        state = eventually(lambda: _state(data), 15, "APEX's exit state created from the position")
        assert Decimal(state["stop_price"]) == STOP  # a manual buy plans no stop: 1 % below the entry
        assert Decimal(state["risk_per_unit"]) == PRICE - STOP
        assert (Decimal(state["initial_qty"]), state["tp_stage"], state["trailing_stop"]) == (BUY_BTC, 0, None)
        (row,) = _copies_filled(data, buy.signal_id, 1)  # the new daemon copied the fill to alice
        _wait_cycles(data, 2, "2 master cycles")
        position = _position(data)
        assert position is not None and position.qty == BUY_BTC == sim.balances(VENUE, MASTER_KEY)["BTC"]
        assert _state(data) == state
        assert [o.client_order_id for o in sim.orders(VENUE, MASTER_KEY)] == [cid]  # nothing else traded
        follower = _position(data, "alice")
        assert follower is not None and follower.qty == Decimal(row["size_filled"])
        assert sim.balances(VENUE, _user_key("alice"))["BTC"] == follower.qty
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


# -- 4. nija.trade timeout ----------------------------------------------------------------------------


def test_a_manual_trade_no_loop_takes_times_out_and_is_canceled(sim: Simulator, tmp_path: Path) -> None:
    env = _env(sim, tmp_path, master_usd=Decimal("5"))  # below MINIMUM_FUNDED_BALANCE: no loop runs it
    data = tmp_path / "data"
    proc = _start(tmp_path, env, cycle=False)
    try:
        eventually(lambda: brokers(data).get(VENUE, {}).get("status") == "unfunded", 15, "the master unfunded")
        started = time.monotonic()
        done = subprocess.run(_trade_cmd("buy", SYMBOL, "5", "--quote", "--timeout", "2"), cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - started
        assert done.returncode == 1, (done.returncode, done.stdout, done.stderr[-3000:])
        assert "no broker loop took it within 2s" in done.stderr and "nothing was sent" in done.stderr, done.stderr
        assert done.stdout == ""
        assert 2 <= elapsed < 10, elapsed
        (intent,) = _intents(data)
        assert (intent.side, intent.status, intent.order_status) == (Side.BUY, IntentStatus.CANCELED, None)
        with reading(data) as store:
            assert store is not None and store.get_order(intent.client_order_id) is None
        assert sim.requests(VENUE, path_contains="AddOrder") == []
        assert sim.orders(VENUE) == []
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


# -- 5. an answer lost on the way back ------------------------------------------------------------


def test_a_manual_trade_whose_answer_is_lost_waits_for_the_lookup_or_exits_4(sim: Simulator, tmp_path: Path) -> None:
    env = _env(sim, tmp_path)
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        _quiet_candles(sim, PRICE)
        # Filled at the venue, the answer dropped, and every lookup failing until the faults clear:
        # the daemon answers the intent "unknown" and the command waits for the lookup to settle it.
        sim.inject(VENUE, r"/AddOrder$", "drop", method="POST", apply_after=True)
        sim.inject(VENUE, r"/(ClosedOrders|OpenOrders|QueryOrders)$", "http_5xx", times=None, status=503)
        buy = subprocess.Popen(_trade_cmd("buy", SYMBOL, str(BUY_BTC), "--base"), cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            (intent,) = eventually(lambda: [i for i in _intents(data) if i.status is IntentStatus.DONE] or None, 30,
                                   "the intent answered while the order's outcome is unknown")
            assert intent.order_status == "unknown" and not intent.filled_qty, intent
            time.sleep(2)  # two more cycles whose lookups fail: the command keeps waiting
            assert buy.poll() is None
            sim.clear_faults(VENUE)
            out, err = buy.communicate(timeout=60)
        finally:
            if buy.poll() is None:
                buy.kill()
                buy.wait(timeout=5)
        assert buy.returncode == 0, (buy.returncode, out, err[-3000:])
        assert out.startswith(f"filled buy {BUY_BTC} {SYMBOL} @ ") and intent.client_order_id in out, out
        assert sim.count_orders(VENUE, intent.client_order_id) == 1

        # Dropped before the venue saw it: not found, but not presumed refused within the lookup's
        # grace either, so still unknown when --timeout ends.
        sim.inject(VENUE, r"/AddOrder$", "drop", method="POST")
        started = time.monotonic()
        sell = subprocess.run(_trade_cmd("sell", SYMBOL, str(BUY_BTC / 2), "--base", "--timeout", "8"), cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)
        assert sell.returncode == 4, (sell.returncode, sell.stdout, sell.stderr[-3000:])
        assert 8 <= time.monotonic() - started < 30
        assert sell.stdout == "" and sell.stderr.count("\n") == 1, sell.stderr
        assert sell.stderr.startswith("nija trade: outcome unknown (") and "do not repeat this trade" in sell.stderr
        unknown = _intents(data)[-1]
        assert (unknown.side, unknown.status, unknown.order_status) == (Side.SELL, IntentStatus.DONE, "unknown"), sell.stderr
        assert unknown.client_order_id in sell.stderr
        assert sim.count_orders(VENUE, unknown.client_order_id) == 1  # sent once, never again
        assert sim.orders(VENUE, MASTER_KEY, client_order_id=unknown.client_order_id) == []  # and never booked
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


# -- 6. an exit the venue keeps open ---------------------------------------------------------------


def test_an_exit_the_venue_keeps_open_is_canceled_after_the_timeout_and_decided_again(
    sim: Simulator, tmp_path: Path
) -> None:
    below_stop = PRICE * Decimal("0.98")
    _quiet_candles(sim, PRICE)
    env = _env(sim, tmp_path, NIJA_OPEN_ORDER_TIMEOUT_SECONDS="10")
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        _trade(tmp_path, env, "buy", SYMBOL, str(BUY_BTC), "--base")
        eventually(lambda: _state(data), 15, "APEX's exit state of the bought position")
        sim.inject(VENUE, r"/AddOrder$", "partial_fill", method="POST", fraction="0.5")
        sim.set_price(VENUE, SYMBOL, below_stop)
        (first,) = eventually(lambda: _master_sells(sim) or None, 30, "the stop exit sent")
        assert first.filled == BUY_BTC / 2 and first.status == "open"
        half = eventually(lambda: (p := _position(data)) is not None and p.qty == BUY_BTC / 2 and p, 15, "half sold")
        assert half
        _wait_cycles(data, 3, "3 cycles with the exit open")
        assert len(_master_sells(sim)) == 1  # no second exit while the first is open
        sells = eventually(lambda: len(_master_sells(sim)) == 2 and _master_sells(sim), 40, "the exit decided again")
        assert sells[0].status == "canceled" and sells[0].filled == BUY_BTC / 2
        assert sells[1].filled == BUY_BTC / 2 and sells[1].client_order_id != first.client_order_id
        eventually(lambda: _position(data) is None, 20, "the position closed")
        assert sim.balances(VENUE, MASTER_KEY).get("BTC", Decimal(0)) == 0
        with reading(data) as store:
            assert store is not None
            canceled = store.get_order(first.client_order_id)
            assert canceled is not None and canceled.status is OrderStatus.CANCELED
            assert canceled.filled_qty == BUY_BTC / 2
        log = (tmp_path / "daemon.log").read_text()
        assert '"event": "order_open_too_long"' in log
        assert proc.poll() is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]
