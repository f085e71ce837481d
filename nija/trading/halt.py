"""The operator's switches, files in the data dir: `HALT_<broker>` (present = that broker is
reduce-only) and `EMERGENCY_STOP` (present = no broker makes entries).

A file is the switch, so an operator can read, set or lift it without NIJA running (`cat`,
`rm`, or `python -m nija.trade halt|resume`). A halt file's first line says why. The daemon writes
it when its kill switch trips, atomically and durably, before anything else records the halt.
`SwitchFiles` is how a broker loop reads and sets them (`Switches`: a backtest, which no operator
can reach, keeps its kill switch's halt in memory instead).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Protocol

from nija.models import BrokerName

__all__ = ["EMERGENCY_STOP_FILE", "SwitchFiles", "Switches", "halt_line", "halt_path", "halt_reason", "read_halt", "write_halt"]

HALT_FILE_PREFIX: Final = "HALT_"
EMERGENCY_STOP_FILE: Final = "EMERGENCY_STOP"
_REASON_LIMIT: Final = 300


class Switches(Protocol):
    """What a broker loop asks of the operator's switches, every cycle."""

    def halted(self, broker: BrokerName) -> str | None:
        """Why `broker` is halted (reduce-only), or None."""
        ...

    def halt(self, broker: BrokerName, reason: str) -> None:
        """Halt `broker` (its kill switch tripped); lasts until an operator resumes it."""
        ...

    def emergency_stop(self) -> bool:
        """Whether the operator stopped every broker's entries."""
        ...


class SwitchFiles:
    """The switches as files in `data_dir`, where operators and `nija.trade` set them."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.emergency_stop_path = data_dir / EMERGENCY_STOP_FILE
        self._halt_paths: dict[BrokerName, Path] = {}  # joined once: asked every cycle

    def halt_path(self, broker: BrokerName) -> Path:
        """Where `broker`'s halt file lives."""
        path = self._halt_paths.get(broker)
        if path is None:
            path = self._halt_paths[broker] = halt_path(self.data_dir, broker)
        return path

    def halted(self, broker: BrokerName) -> str | None:
        """The halt file's reason (`read_halt`)."""
        return read_halt(self.halt_path(broker))

    def halt(self, broker: BrokerName, reason: str) -> None:
        """Write the halt file (`write_halt`)."""
        write_halt(self.halt_path(broker), reason)

    def emergency_stop(self) -> bool:
        """Whether the EMERGENCY_STOP file exists."""
        return self.emergency_stop_path.exists()


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"halt file unreadable: {exc}"
    return halt_reason(text, path.name)


def halt_reason(text: str, name: str) -> str:
    """The reason a halt file named `name` holding `text` gives: its first line, else a note."""
    text = text.strip()
    return text.splitlines()[0][:_REASON_LIMIT] if text else f"halted by operator ({name} present)"


def halt_line(reason: str) -> str:
    """What a halt file holds for `reason`: one line, since the first line is the reason."""
    return " ".join(reason.split()) + "\n"


def write_halt(path: Path, reason: str) -> None:
    """Halt: atomic and durable, so a crash right after still finds the broker halted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(halt_line(reason))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
