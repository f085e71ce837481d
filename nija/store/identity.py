"""Whose state a store holds: its mode (paper or live) and, per live account, a fingerprint of the
API key that account trades with (never the key: 16 hex characters of its sha256).

A paper run's positions, balances, prices and high-water marks must never be read by a live run,
nor one venue account's positions be sold from another: the daemon claims the store for its mode
and accounts at start-up, and a store that belongs to another refuses it (`StoreMismatch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nija.models import utc_now
from nija.store.db import Database, StoreMismatch

__all__ = ["StoreIdentity", "StoreOwner"]


@dataclass(frozen=True, slots=True)
class StoreOwner:
    """The mode a store was claimed for (None: never claimed) and each live account's key
    fingerprint, by (broker, account)."""

    mode: str | None
    keys: Mapping[tuple[str, str], str]

    def mismatch(self, path: Path, mode: str, keys: Mapping[tuple[str, str], str]) -> str | None:
        """Why a process in `mode` trading `keys` must not use this store (one line), or None."""
        data_dir = path.parent
        if self.mode is not None and self.mode != mode:
            return (
                f"store {path} holds a {self.mode} run's state and this run is {mode}: paper and live never"
                f" share a data dir; set NIJA_DATA_DIR={data_dir}-{mode} (a new dir) for {mode}, or run {self.mode}"
            )
        for (broker, account), fingerprint in sorted(keys.items()):
            recorded = self.keys.get((broker, account))
            if recorded is not None and recorded != fingerprint:
                return (
                    f"store {path} holds {broker} {account} state of another API key (fingerprint {recorded},"
                    f" this key {fingerprint}): set NIJA_DATA_DIR={data_dir}-{broker}-{fingerprint[:8]}"
                    " (a new dir) for this account, or use that account's key"
                )
        return None


class StoreIdentity(Database):
    """The store's mode and its live accounts' key fingerprints."""

    def owner(self) -> StoreOwner:
        """Whom this store belongs to so far."""
        modes = self._query("SELECT mode FROM store_identity WHERE id = 1")
        rows = self._query("SELECT broker, account, key_fingerprint FROM account_keys")
        return StoreOwner(
            mode=modes[0]["mode"] if modes else None,
            keys={(row["broker"], row["account"]): row["key_fingerprint"] for row in rows},
        )

    def check_owner(self, mode: str, keys: Mapping[tuple[str, str], str]) -> None:
        """Raise `StoreMismatch` when this store belongs to another mode or account (read only:
        `nija.trade` and other tools check; only the daemon claims)."""
        reason = self.owner().mismatch(self.path, mode, keys)
        if reason is not None:
            raise StoreMismatch(reason)

    def claim(self, mode: str, keys: Mapping[tuple[str, str], str]) -> None:
        """Check, then record, in one transaction, that this store holds `mode`'s state and each
        live account's key fingerprint (an account seen for the first time is added). Raises
        `StoreMismatch` and writes nothing when the store belongs to another mode or account."""
        now = utc_now().isoformat()
        with self._tx() as conn:
            modes = conn.execute("SELECT mode FROM store_identity WHERE id = 1").fetchall()
            rows = conn.execute("SELECT broker, account, key_fingerprint FROM account_keys").fetchall()
            owner = StoreOwner(
                mode=modes[0]["mode"] if modes else None,
                keys={(row["broker"], row["account"]): row["key_fingerprint"] for row in rows},
            )
            reason = owner.mismatch(self.path, mode, keys)
            if reason is not None:
                raise StoreMismatch(reason)
            conn.execute("INSERT OR IGNORE INTO store_identity VALUES (1, ?, ?)", (mode, now))
            conn.executemany(
                "INSERT OR IGNORE INTO account_keys VALUES (?,?,?,?)",
                [(broker, account, fingerprint, now) for (broker, account), fingerprint in keys.items()],
            )
