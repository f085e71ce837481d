"""What a notification says: one `Note` per event, worded from the store's records. Pure: no I/O,
no clock; the watcher decides when something happened, this module only how it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from nija.models import MASTER_ACCOUNT, CopyStatus, HealthStatus
from nija.store import AccountState, CopyNote, DailyFigures, FillNote, HaltState, TransferNote

__all__ = [
    "Note",
    "copy_note",
    "daily_notes",
    "emergency_note",
    "fill_note",
    "halt_note",
    "health_note",
    "transfer_note",
]

# Health moves worth a message: into these, and out of them back to healthy ("recovered").
_ALARMING: Final = frozenset({HealthStatus.FAILED, HealthStatus.HALTED})
_HALT_WORDS: Final = {
    "kill_switch": ("kill switch tripped", "kill switch lifted"),
    "drawdown": ("paused by its risk envelope", "risk envelope halt lifted"),
    "breaker": ("paused by its circuit breaker", "circuit breaker closed"),
}
_DIGITS: Final = 8  # significant digits a quantity or price is shown with
_DETAIL_CHARS: Final = 300  # a venue's error text can run long; the store keeps the whole of it


@dataclass(frozen=True, slots=True)
class Note:
    """One event as one or more lines for the operator (unless `operator` is False) and, when
    `follower` names a user id, for that follower's own channels too. `alert`: something needs
    the reader's attention."""

    text: str
    follower: str | None = None
    alert: bool = False
    operator: bool = True


def _qty(value: Decimal | None) -> str:
    """A quantity or price for reading: about 8 significant digits (at least 2 decimals before
    trailing zeros go), no exponent (3172.922575776 -> 3172.9226, 0.0100 -> 0.01). Display only:
    the store keeps the exact value."""
    if value is None:
        return "?"
    if not value.is_finite() or value.is_zero():
        return format(value, "f")
    decimals = max(2, _DIGITS - value.adjusted() - 1)
    return format(value.quantize(Decimal(1).scaleb(-decimals)).normalize(), "f")


def _detail(text: str | None) -> str:
    return "" if not text else f": {' '.join(text.split())[:_DETAIL_CHARS]}"


def fill_note(fill: FillNote) -> Note:
    """A master fill."""
    fee = f" (fee {_qty(fill.fee)}{' ' + fill.fee_currency if fill.fee_currency else ''})" if fill.fee else ""
    return Note(f"{fill.broker} master: {fill.side.upper()} {_qty(fill.qty)} {fill.symbol} @ {_qty(fill.price)}{fee}")


def copy_note(copy: CopyNote) -> Note:
    """A follower's copy of a signal that reached a final status, with the reason when not filled."""
    what = f"copy {copy.side.upper()} {copy.symbol}" + ("" if copy.kind == "master" else f" ({copy.kind})")
    status = CopyStatus(copy.status)
    if status in (CopyStatus.FILLED, CopyStatus.PARTIAL):
        outcome = f"{status.value} {_qty(copy.size_filled)} @ {_qty(copy.price)}"
        if status is CopyStatus.PARTIAL and copy.reason:
            outcome += _detail(copy.reason)
    else:
        outcome = f"{status.value}{_detail(copy.reason)}"
    return Note(
        f"{copy.broker} {copy.user_id}: {what} {outcome}", follower=copy.user_id, alert=status is CopyStatus.FAILED
    )


def health_note(state: AccountState, before: str | None) -> Note | None:
    """An account's health moving into failed or halted, or back to healthy from either; None
    for any other move (degraded, unfunded and starting come and go with ordinary cycles)."""
    try:
        now, was = HealthStatus(state.status), HealthStatus(before) if before else None
    except ValueError:  # a state this version doesn't know: nothing to say about it
        return None
    who = f"{state.broker} {state.account}" + (" (follower)" if state.follower else "")
    follower = state.account if state.follower else None
    if now in _ALARMING and now != was:
        return Note(f"{who}: {now.value.upper()}{_detail(state.detail)}", follower=follower, alert=True)
    if now is HealthStatus.HEALTHY and was in _ALARMING:
        return Note(f"{who}: recovered (healthy, was {was.value if was else '?'})", follower=follower)
    return None


def halt_note(halt: HaltState, before: str | None) -> Note | None:
    """A kill switch tripping or lifting, or a follower paused or resumed; None when unchanged."""
    if (halt.reason is None) == (before is None):
        return None
    tripped, lifted = _HALT_WORDS.get(halt.kind, (f"{halt.kind} halt", f"{halt.kind} lifted"))
    follower = None if halt.kind == "kill_switch" else halt.account
    who = f"{halt.broker} {halt.account}"
    if halt.reason is not None:
        return Note(f"{who}: {tripped}{_detail(halt.reason)}", follower=follower, alert=True)
    return Note(f"{who}: {lifted}", follower=follower)


def transfer_note(transfer: TransferNote) -> Note:
    """A deposit or withdrawal seen: why the account's equity moved and no limit counted it."""
    kind = "deposit" if transfer.value > 0 else "withdrawal"
    master = transfer.account == MASTER_ACCOUNT
    scaled = "the kill switch's marks are" if master else "its drawdown mark is"
    return Note(
        f"{transfer.broker} {transfer.account}: {kind} of {_qty(abs(transfer.value))} seen, equity now"
        f" {_qty(transfer.equity)}; not trading, so {scaled} scaled to it",
        follower=None if master else transfer.account,
    )


def emergency_note(present: bool) -> Note:
    """The EMERGENCY_STOP file appearing or going: entries stop, or may resume, on every broker."""
    if present:
        return Note("EMERGENCY_STOP file present: no entries on any broker (exits continue)", alert=True)
    return Note("EMERGENCY_STOP file removed: entries allowed again")


def daily_notes(figures: DailyFigures, since: datetime, now: datetime) -> list[Note]:
    """The daily summary: one note for the operator (every account), one per follower for its own."""
    span = f"{since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC"
    lines = [f"Daily summary, {span}:"]
    for (broker, account), (first, last) in sorted(figures.master_equity.items()):
        fills = figures.fills.get((broker, account), 0)
        lines.append(f"{broker} {account}: equity {_money(last)} ({_change(first, last)}), {fills} fills")
    for (broker, account), fills in sorted(figures.fills.items()):
        if (broker, account) not in figures.master_equity:
            lines.append(f"{broker} {account}: {fills} fills")
    followers = sorted(set(figures.copies) | set(figures.follower_equity))
    notes = []
    for broker, user_id in followers:
        line = _follower_line(figures, broker, user_id)
        lines.append(line)
        notes.append(Note(f"Daily summary, {span}: {line}", follower=user_id, operator=False))
    if len(lines) == 1:
        lines.append("no accounts have reported yet")
    # The operator's summary already lists every follower: each follower's own line goes to it alone.
    return [Note("\n".join(lines)), *notes]


def _follower_line(figures: DailyFigures, broker: str, user_id: str) -> str:
    counts = figures.copies.get((broker, user_id), {})
    copies = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no copies"
    equity = figures.follower_equity.get((broker, user_id))
    return f"{broker} {user_id}: {copies}" + (f", equity {_money(equity)}" if equity is not None else "")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _change(first: Decimal, last: Decimal) -> str:
    delta = last - first
    pct = f", {delta / first:+.2%}" if first else ""
    return f"{'+' if delta >= 0 else ''}{_money(delta)}{pct}"
