"""The per-broker halt file, `<data dir>/HALT_<broker>`: present = that broker is reduce-only.

The file is the switch, so an operator can read, set or lift it without NIJA running (`cat`,
`rm`, or `python -m nija.trade halt|resume`). Its first line says why. The daemon writes it when
its kill switch trips, atomically and durably, before anything else records the halt.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

from nija.models import BrokerName

__all__ = ["halt_path", "read_halt", "write_halt"]

HALT_FILE_PREFIX: Final = "HALT_"
_REASON_LIMIT: Final = 300


def halt_path(data_dir: Path, broker: BrokerName) -> Path:
    """Where `broker`'s halt file lives."""
    return data_dir / f"{HALT_FILE_PREFIX}{broker.value}"


def read_halt(path: Path) -> str | None:
    """Why the broker is halted, or None when the file is absent (an unreadable file still halts)."""
    # Every broker loop asks this every cycle, and the file is almost always absent: one stat
    # says so without opening it. Whatever else the stat finds (present, or any other error)
    # is answered by reading the file, as always; a file removed in between reads as absent.
    try:
        os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"halt file unreadable: {exc}"
    return text.splitlines()[0][:_REASON_LIMIT] if text else f"halted by operator ({path.name} present)"


def write_halt(path: Path, reason: str) -> None:
    """Halt: atomic and durable, so a crash right after still finds the broker halted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(" ".join(reason.split()) + "\n")  # one line: the first line is the reason
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
