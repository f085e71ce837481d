"""`python -m nija.report backup DEST`: a consistent copy of the store while the daemon runs.

SQLite's online backup copies the pages of one snapshot, so the copy is a complete store even
while the daemon writes. The copy is written beside DEST and moved into place once checked:
DEST is either a complete store or absent, never half a file. An existing file is never
overwritten.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from nija.store import Store

__all__ = ["BadDestination", "backup", "destination"]


class BadDestination(ValueError):
    """DEST can't take a backup; the message is one line naming it."""


def destination(dest: Path, store_path: Path, now: datetime) -> Path:
    """The file to write: DEST itself, or a dated file inside DEST when it is a directory."""
    if dest.is_dir():
        dest = dest / f"nija-{now.strftime('%Y%m%dT%H%M%SZ')}.db"
    if dest.exists():
        raise BadDestination(f"backup destination {dest} already exists: name a new file or a directory")
    if not dest.parent.is_dir():
        raise BadDestination(f"backup destination {dest}: directory {dest.parent} does not exist")
    if not os.access(dest.parent, os.W_OK):
        raise BadDestination(f"backup destination {dest}: directory {dest.parent} is not writable")
    if dest.resolve() == store_path.resolve():
        raise BadDestination(f"backup destination {dest} is the store itself")
    return dest


def backup(store: Store, dest: Path) -> int:
    """Copy `store` to the new file `dest`; return the copy's schema version."""
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        version = store.backup_into(partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return version
