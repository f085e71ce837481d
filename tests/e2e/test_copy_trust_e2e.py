"""Copy trust end to end (DESIGN invariant 9): the daemon as a subprocess in live mode, its real
ccxt clients pointed at the simulator, a Kraken master and followers with keys of their own.

1. A follower holding 1 BTC of its own gets a copied buy; the master exits fully; the follower
   still holds exactly its 1 BTC.
2. The follower's venue answers 503 to everything during the master's exit, longer than the age
   limit of a signal (scaled down: 2 s), and the daemon is restarted inside the outage; after the
   venue recovers the follower is flat in the symbol with one sell at the venue and no twin.

Prices and candles are the manual-trade e2e's: flat integer prices, on which APEX neither enters
nor exits by itself (`_quiet_candles` checks it), so every order here is one the test asked for.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from nija.models import Side
from tests.e2e.support import eventually, reading, stop_daemon
from tests.e2e.test_manual_trades_e2e import (
    BUY_BTC,
    PRICE,
    SYMBOL,
    VENUE,
    _copies_filled,
    _env,
    _position,
    _quiet_candles,
    _signals,
    _start,
    _trade,
    _user_key,
    sim,  # noqa: F401 - the simulator fixture
)
from tests.sim.simulator import Simulator


def _sells(sim: Simulator, user: str) -> list:  # noqa: F811
    return [o for o in sim.orders(VENUE, _user_key(user)) if o.side == "sell"]


def _row(data: Path, signal_id: str, user: str) -> dict | None:
    with reading(data) as store:
        try:
            rows = store.copy_rows(signal_id) if store is not None else []
        except Exception:  # a write in progress: the next poll reads it
            return None
    return next((r for r in rows if r["user_id"] == user), None)


def _copied_buy(tmp_path: Path, env: dict[str, str], data: Path, followers: int) -> Decimal:
    """A manual master buy copied to every follower; returns alice's copied quantity."""
    _trade(tmp_path, env, "buy", SYMBOL, str(BUY_BTC), "--base")
    (buy,) = eventually(lambda: _signals(data, Side.BUY), 30, "the buy signal")
    _copies_filled(data, buy.signal_id, followers)
    copied = _position(data, "alice")
    assert copied is not None
    return copied.qty


def test_a_full_exit_leaves_a_followers_own_bitcoin(sim: Simulator, tmp_path: Path) -> None:  # noqa: F811
    _quiet_candles(sim, PRICE)
    env = _env(sim, tmp_path, {"alice": Decimal(1000)})
    sim.set_balance(VENUE, _user_key("alice"), "BTC", Decimal(1))
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        copied = _copied_buy(tmp_path, env, data, 1)
        assert sim.balances(VENUE, _user_key("alice"))["BTC"] == 1 + copied
        _trade(tmp_path, env, "sell", SYMBOL, str(BUY_BTC), "--base")
        (sell,) = eventually(lambda: _signals(data, Side.SELL), 30, "the sell signal")
        _copies_filled(data, sell.signal_id, 1)
        assert sim.balances(VENUE, _user_key("alice"))["BTC"] == Decimal(1)
        assert [o.filled for o in _sells(sim, "alice")] == [copied]
        assert _position(data, "alice") is None
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]


def test_an_exit_outlives_a_venue_outage_and_a_restart_inside_it(sim: Simulator, tmp_path: Path) -> None:  # noqa: F811
    _quiet_candles(sim, PRICE)
    env = _env(sim, tmp_path, {"alice": Decimal(1000), "bob": Decimal(1000)},
               COPY_SIGNAL_MAX_AGE_SECONDS="2", COPY_UNKNOWN_GRACE_SECONDS="2")
    data = tmp_path / "data"
    proc = _start(tmp_path, env)
    try:
        copied = _copied_buy(tmp_path, env, data, 2)
        sim.inject(VENUE, ".", "http_5xx", api_key=_user_key("alice"), times=None)  # alice's venue is down
        _trade(tmp_path, env, "sell", SYMBOL, str(BUY_BTC), "--base")
        (sell,) = eventually(lambda: _signals(data, Side.SELL), 30, "the sell signal")
        eventually(lambda: (_row(data, sell.signal_id, "bob") or {}).get("status") == "filled", 30, "bob's exit")
        time.sleep(3)  # past the signal age limit, still down
        assert (_row(data, sell.signal_id, "alice") or {}).get("status") in ("pending", "unknown", "waiting")
        stop_daemon(proc)
        assert proc.returncode == 0
        proc = _start(tmp_path, env, "daemon2.log")  # a restart inside the outage
        time.sleep(3)
        row = _row(data, sell.signal_id, "alice")
        assert row is not None and row["status"] in ("pending", "unknown", "waiting"), row  # never expired
        sim.clear_faults(VENUE)
        eventually(lambda: (_row(data, sell.signal_id, "alice") or {}).get("status") == "filled", 60, "alice's exit")
        assert _position(data, "alice") is None
        assert sim.balances(VENUE, _user_key("alice")).get("BTC", 0) == 0
        assert [o.filled for o in _sells(sim, "alice")] == [copied]  # one sell at the venue
        cids = [o.client_order_id for o in sim.orders(VENUE, _user_key("alice"))]
        assert len(cids) == len(set(cids))
    finally:
        stop_daemon(proc)
    assert proc.returncode == 0, (tmp_path / "daemon2.log").read_text()[-3000:]
