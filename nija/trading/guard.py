"""Which entries may be made now: one rule for the daemon's own entries and for manual buys.

Exits are never blocked. Entries stop while the broker is halted (its kill switch tripped or an
operator wrote `HALT_<broker>`), under ENTRY_BLOCKING=true, while the `EMERGENCY_STOP` file
exists in the data dir, on an unfunded account, and on Coinbase below COINBASE_MIN_BALANCE
(its round trip eats small positions).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nija.brokers.fees import fee_schedule
from nija.models import BrokerName
from nija.trading.halt import EMERGENCY_STOP_FILE, Switches

__all__ = ["EMERGENCY_STOP_FILE", "EntryRules", "entry_block_reason"]


@dataclass(frozen=True, slots=True)
class EntryRules:
    """The settings and operator switches the entry rule reads."""

    switches: Switches  # `halt.SwitchFiles` of the data dir
    entry_blocking: bool = False
    coinbase_min_balance: Decimal = Decimal(50)


def entry_block_reason(
    rules: EntryRules, broker: BrokerName, equity: Decimal | None, *, funded: bool = True, halted: str | None = None
) -> str | None:
    """Why no entry may be made on `broker` now, or None. `equity` None (not read yet) skips the
    one check that needs it, so a caller can refuse before touching the venue."""
    if halted is not None:
        return f"halted: {halted}"
    if not funded:
        return "unfunded"
    if rules.entry_blocking:
        return "ENTRY_BLOCKING=true"
    if rules.switches.emergency_stop():
        return f"emergency_stop: {EMERGENCY_STOP_FILE} file present"
    if broker is BrokerName.COINBASE and equity is not None and equity < rules.coinbase_min_balance:
        return (
            f"Coinbase equity {equity:.2f} < COINBASE_MIN_BALANCE {rules.coinbase_min_balance}:"
            f" a {fee_schedule(broker).round_trip:.2%} round trip eats small positions; exits continue"
        )
    return None
