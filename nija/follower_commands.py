"""`python -m nija.trade follower disable|enable|resume NAME` and `follower list`: the operator's
controls of one follower, written to the store (`follower_risk`). The running daemon's copy
engine re-reads them every pass, so they take effect without a restart; a stopped daemon takes
them at its start. NAME is the follower's user_id.

- `disable NAME`: no new entries are copied to NAME; its copied positions follow its file's
  `on_disable` (keep: the master's exits are still copied; close: closed).
- `enable NAME`: entries are copied again. Over a file saying `enabled: false` the operator's
  word wins until the next `disable`; otherwise the file decides again.
- `resume NAME`: lifts a drawdown halt (the only way out of one) and resets the circuit breaker;
  drawdown is then measured afresh from the follower's next equity read.
- `list`: every follower the users folder or the store knows, its state and why it takes no
  entries.

Exit codes: 0 done, 2 bad arguments or settings or an unknown NAME, 3 no daemon store.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from nija.config import ConfigError, Settings, load_settings
from nija.models import BrokerName
from nija.store import FollowerRiskRecord, Store, StoreUnavailable, db_path
from nija.users import OnDisable, UserAccount, demo_users, discover_users

__all__ = ["follower_main"]

_PROG = "python -m nija.trade follower"


@dataclass
class _Known:
    """A follower the operator may name: its file's settings (None: known only to the store)
    and every broker the store or its file puts it on."""

    user_id: str
    account: UserAccount | None = None
    brokers: set[BrokerName] = field(default_factory=set)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG, description="control one follower (the running daemon applies it at its next pass, no restart)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="{disable,enable,resume,list}")
    for action, what in (
        ("disable", "copy no new entries to NAME (its copied positions follow its file's on_disable)"),
        ("enable", "copy entries to NAME again"),
        ("resume", "lift NAME's drawdown halt and reset its circuit breaker"),
    ):
        actions.add_parser(action, help=what, description=what).add_argument(
            "name", metavar="NAME", help="the follower's user_id"
        )
    actions.add_parser("list", help="every follower and its state", description="every follower and its state")
    return parser


def follower_main(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Run one follower command (`argv` after "follower"); return the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"nija trade: {exc}", file=err)
        return 2
    path = db_path(settings.data_dir)
    if not path.exists():
        print(f"nija trade: no store at {path} (start the daemon first: ./start.sh)", file=err)
        return 3
    try:
        store = Store(path, readonly=args.action == "list")
    except StoreUnavailable as exc:
        print(f"nija trade: {exc}", file=err)
        return 3
    try:
        known = _known_followers(settings, store)
        if args.action == "list":
            return _list(known, store.follower_risks(), out)
        follower = known.get(args.name)
        if follower is None:
            names = ", ".join(sorted(known)) or "none"
            print(f"nija trade: no follower {args.name[:64]!r} (known: {names})", file=err)
            return 2
        act = {"disable": _disable, "enable": _enable, "resume": _resume}[args.action]
        print(act(store, follower), file=out)
        return 0
    finally:
        store.close()


def _known_followers(settings: Settings, store: Store) -> dict[str, _Known]:
    """Followers by user_id: the users folder's files (demo users in paper mode without any, as the
    daemon does), plus any the store lists (a file since removed or broken)."""
    found = discover_users(settings.users_path, {})  # no environment: settings only, never keys
    users = list(found.users)
    if settings.mode == "paper" and not users and not found.problems:
        users = list(demo_users())
    known: dict[str, _Known] = {}
    for user in users:
        known[user.user_id] = _Known(user.user_id, user, {user.broker})
    pairs = [(BrokerName(row["broker"]), row["user_id"]) for row in store.copy_users()]
    for broker, user_id in [*pairs, *store.follower_risks().keys()]:
        known.setdefault(user_id, _Known(user_id)).brokers.add(broker)
    return known


def _disable(store: Store, follower: _Known) -> str:
    for broker in sorted(follower.brokers):
        store.set_follower_enabled(broker, follower.user_id, False)
    close = follower.account is not None and follower.account.on_disable is OnDisable.CLOSE
    positions = "closed (on_disable: close)" if close else "kept; the master's exits are still copied"
    return (
        f"{follower.user_id}: disabled by operator; the daemon copies it no new entries from its next pass;"
        f" copied positions {positions}"
    )


def _enable(store: Store, follower: _Known) -> str:
    file_enabled = follower.account.enabled if follower.account is not None else True
    override = None if file_enabled else True  # the file decides again, unless it says disabled
    for broker in sorted(follower.brokers):
        store.set_follower_enabled(broker, follower.user_id, override)
    note = " (overrides its file's enabled: false)" if override else ""
    still = [
        f"; still {why}" for broker in sorted(follower.brokers)
        if (why := _paused(store.follower_risk(broker, follower.user_id))) is not None
    ]
    return f"{follower.user_id}: enabled{note}; entries are copied from the daemon's next pass" + "".join(still)


def _resume(store: Store, follower: _Known) -> str:
    lifted = [
        why for broker in sorted(follower.brokers)
        if (why := _paused(store.resume_follower(broker, follower.user_id))) is not None
    ]
    was = f" (was {'; '.join(lifted)})" if lifted else " (was neither halted nor paused)"
    return (
        f"{follower.user_id}: resumed{was}; the daemon measures drawdown afresh from the next equity read"
    )


def _paused(record: FollowerRiskRecord | None) -> str | None:
    """What keeps a follower from entries in the store's row: a halt, an open breaker, or None."""
    if record is None:
        return None
    if record.halted_reason is not None:
        return f"halted: {record.halted_reason}"
    if record.paused_reason is not None:
        return f"paused: {record.paused_reason}"
    return None


def _list(known: dict[str, _Known], records: dict[tuple[BrokerName, str], FollowerRiskRecord], out: TextIO) -> int:
    if not known:
        print("no followers (no user files, nothing in the store)", file=out)
    for user_id in sorted(known):
        follower = known[user_id]
        for broker in sorted(follower.brokers):
            print(f"{user_id} ({broker}): {_state(follower.account, records.get((broker, user_id)))}", file=out)
    return 0


def _state(account: UserAccount | None, record: FollowerRiskRecord | None) -> str:
    """One follower's state in words: enabled and by whom, why it takes no entries, its mark."""
    override = record.enabled_override if record is not None else None
    if override is not None:
        parts = ["enabled by operator" if override else "disabled by operator"]
    elif account is None:
        parts = ["no user file"]
    else:
        parts = ["enabled" if account.enabled else "disabled in its file"]
    enabled = override if override is not None else (account is None or account.enabled)
    blocked = [why for why in (_paused(record),) if why is not None]
    if account is not None and not account.copy_from_master:
        blocked.append("not copying (copy_from_master: false)")
    parts.append("entries copied" if enabled and not blocked else "no entries")
    parts.extend(blocked)
    if record is not None and record.high_water_mark is not None:
        parts.append(f"high-water mark {record.high_water_mark}")
    return "; ".join(parts)
