"""What happened since the last look, read from the store (the truth): new master fills, copies
that reached a final status, health moves, kill-switch trips and follower pauses, deposits and
withdrawals seen, and the EMERGENCY_STOP file. Cursors and last-seen states are saved in the store after every poll, so a
restart goes on where the last run stopped: nothing repeated, nothing lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Protocol, TypeVar

from nija.models import utc_now
from nija.notify.messages import (
    Note,
    copy_note,
    emergency_note,
    fill_note,
    halt_note,
    health_note,
    transfer_note,
)
from nija.store import HaltState, Store
from nija.trading.guard import EMERGENCY_STOP_FILE

__all__ = ["StoreWatcher"]


class _Numbered(Protocol):
    @property
    def rowid(self) -> int: ...


_Row = TypeVar("_Row", bound=_Numbered)  # a row of an insert-only table, numbered by its rowid

# A ledger row's updated_at is stamped before its transaction waits for the write lock (up to the
# store's 10 s busy timeout), so a row may commit after a later-stamped one was read: each poll
# looks this far back again and skips rows it has already announced.
COPY_OVERLAP: Final = timedelta(seconds=60)
# Progress older than this is not resumed: a first run, or one after notifications were off,
# starts from now instead of announcing history.
CATCH_UP: Final = timedelta(minutes=15)
_PAGE: Final = 1000


class StoreWatcher:
    """Turns store changes into notes; one instance per notifier thread."""

    def __init__(self, store: Store, data_dir: Path, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._emergency_path = data_dir / EMERGENCY_STOP_FILE
        self._clock = clock
        saved = store.notify_state()
        now = clock()
        # Progress saved long ago (notifications were off) or never: start from now, not history.
        recent = "saved_at" in saved and datetime.fromisoformat(saved["saved_at"]) >= now - CATCH_UP
        self._fill_rowid = int(saved["fills.rowid"]) if recent else store.last_fill_rowid()
        self._transfer_rowid = (
            int(saved["transfers.rowid"]) if recent and "transfers.rowid" in saved else store.last_transfer_rowid()
        )
        when, _, rowid = saved.get("copies.cursor", "").partition("|") if recent else ("", "", "")
        self._copy_cursor = (datetime.fromisoformat(when), int(rowid)) if when else (now, 0)
        self._floor = self._copy_cursor[0]  # the overlap never reaches back before this run's start
        self._overlap_ready = False  # the first poll goes strictly on from the saved cursor
        self._announced: dict[tuple[str, str], datetime] = {}  # (signal, user) -> updated_at, within the overlap
        self._states: dict[str, str] = json.loads(saved.get("states", "{}"))
        self._halts: dict[str, str] = json.loads(saved.get("halts", "{}"))
        self._emergency = saved.get("emergency_stop") == "1"

    def poll(self) -> list[Note]:
        """Every note since the last poll, oldest kind of event first; progress saved after."""
        notes = (
            self._fills() + self._copies() + self._health() + self._halt_moves() + self._transfers()
            + self._emergency_move()
        )
        self._store.save_notify_state({
            "fills.rowid": str(self._fill_rowid),
            "transfers.rowid": str(self._transfer_rowid),
            "copies.cursor": f"{self._copy_cursor[0].isoformat()}|{self._copy_cursor[1]}",
            "states": json.dumps(self._states, sort_keys=True),
            "halts": json.dumps(self._halts, sort_keys=True),
            "emergency_stop": "1" if self._emergency else "0",
            "saved_at": self._clock().isoformat(),
        })
        return notes

    def _fills(self) -> list[Note]:
        notes, self._fill_rowid = _paged(self._store.master_fills_after, self._fill_rowid, fill_note)
        return notes

    def _copies(self) -> list[Note]:
        since, rowid = self._copy_cursor
        if self._overlap_ready:
            since, rowid = max(since - COPY_OVERLAP, self._floor), 0
        self._overlap_ready = True
        notes = []
        while batch := self._store.final_copies_after(since, rowid, _PAGE):
            for copy in batch:
                key = (copy.signal_id, copy.user_id)
                if key not in self._announced:
                    self._announced[key] = copy.updated_at
                    notes.append(copy_note(copy))
                if (copy.updated_at, copy.rowid) > self._copy_cursor:
                    self._copy_cursor = (copy.updated_at, copy.rowid)
            since, rowid = batch[-1].updated_at, batch[-1].rowid
            if len(batch) < _PAGE:
                break
        horizon = self._copy_cursor[0] - COPY_OVERLAP
        self._announced = {key: at for key, at in self._announced.items() if at >= horizon}
        return notes

    def _health(self) -> list[Note]:
        notes = []
        for state in self._store.account_states():
            key = f"{'follower' if state.follower else 'master'}|{state.broker}|{state.account}"
            if (note := health_note(state, self._states.get(key))) is not None:
                notes.append(note)
            self._states[key] = state.status
        return notes

    def _halt_moves(self) -> list[Note]:
        current = {f"{h.kind}|{h.broker}|{h.account}": h for h in self._store.halt_states()}
        for key in self._halts.keys() - current.keys():  # a resume may delete the row: lifted too
            kind, broker, account = key.split("|", 2)
            current[key] = HaltState(broker, account, kind, None)
        notes = [note for key, halt in current.items() if (note := halt_note(halt, self._halts.get(key))) is not None]
        self._halts = {key: halt.reason for key, halt in current.items() if halt.reason is not None}
        return notes

    def _transfers(self) -> list[Note]:
        notes, self._transfer_rowid = _paged(self._store.transfers_after, self._transfer_rowid, transfer_note)
        return notes

    def _emergency_move(self) -> list[Note]:
        present = self._emergency_path.exists()
        if present == self._emergency:
            return []
        self._emergency = present
        return [emergency_note(present)]


def _paged(read: Callable[[int, int], Sequence[_Row]], after: int, note: Callable[[_Row], Note]) -> tuple[list[Note], int]:
    """A note for every row an insert-only table holds after rowid `after`, read a page at a time,
    and the rowid to go on from."""
    notes: list[Note] = []
    while batch := read(after, _PAGE):
        notes += [note(row) for row in batch]
        after = batch[-1].rowid
        if len(batch) < _PAGE:
            break
    return notes, after
