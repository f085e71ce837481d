"""structlog setup: one event per line, JSON when stdout is not a TTY, secrets redacted.

Holds process-global logging configuration (structlog and the stdlib root logger), set once by
`configure_logging` at start. Redaction runs on the event dict and again on the rendered line,
so a secret inside an exception message, a nested value or a library's own log line never
reaches the output.

Logging never raises into trading: when the output breaks (its reader went away, as with
`python -m nija | head`, or it was closed), lines go to stderr instead, or are dropped when
stderr is broken too; the switch is reported once, as one line on stderr when possible.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final, TextIO

import structlog

__all__ = ["REDACTED", "add_secrets", "configure_logging", "get_logger", "redact_text"]

REDACTED: Final = "***"
# Fragments shorter than this are not redacted on their own: they would match ordinary words.
_MIN_FRAGMENT: Final = 8

_secrets: tuple[str, ...] = ()


def _fragments(secret: str) -> Iterable[str]:
    """The secret, plus each line of a multi-line one (a PEM key logs line by line)."""
    yield secret
    for line in secret.splitlines():
        line = line.strip()
        if len(line) >= _MIN_FRAGMENT and not line.startswith("-----"):
            yield line


def _set_secrets(values: Iterable[str]) -> None:
    global _secrets
    fragments = {fragment for value in values if value for fragment in _fragments(value)}
    # Longest first, so a secret that contains another is replaced whole.
    _secrets = tuple(sorted(fragments, key=len, reverse=True))


def add_secrets(values: Iterable[str]) -> None:
    """Redact these too from now on: copy users' keys are only known once their files are read,
    after logging was configured with the masters' secrets."""
    _set_secrets((*_secrets, *values))


def redact_text(text: str) -> str:
    """Replace every configured secret (and its JSON-escaped form) in `text`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
        escaped = secret.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        if escaped != secret and escaped in text:
            text = text.replace(escaped, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(_redact_value(item) for item in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def _redact_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event_dict
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(value)
    return event_dict


# A broken pipe, a full disk or a lost terminal (OSError), or a closed stream (ValueError).
_SINK_ERRORS: Final = (OSError, ValueError)


class _SafeSink:
    """The one output of every log line: redacts the rendered text (last line of defence) and
    never raises into the caller. A stream that fails is given up for the next one (stderr), or
    every line is dropped when none is left."""

    def __init__(self, stream: TextIO, fallback: TextIO | None) -> None:
        self._streams = [stream] if fallback is None or fallback is stream else [stream, fallback]
        self._lock = threading.Lock()  # structlog and the stdlib handler each lock on their own

    def write(self, text: str) -> int:
        text = redact_text(text)
        with self._lock:
            while self._streams:
                try:
                    self._streams[0].write(text)
                    return len(text)
                except _SINK_ERRORS as exc:
                    self._give_up(exc)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            while self._streams:
                try:
                    self._streams[0].flush()
                    return
                except _SINK_ERRORS as exc:
                    self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        """Drop the failing stream and report it once, on the next one (or stderr)."""
        broken = self._streams.pop(0)
        _silence(broken)
        where = "logging to stderr from now on" if self._streams else "log lines are dropped from now on"
        line = f"nija: log output {getattr(broken, 'name', type(broken).__name__)} failed ({type(exc).__name__}: {exc}): {where}\n"
        report = self._streams[0] if self._streams else sys.__stderr__
        try:
            if report is not None and report is not broken:
                report.write(line)
                report.flush()
        except _SINK_ERRORS:
            pass  # nowhere left to say it; the next write finds this stream broken too


def _silence(stream: TextIO) -> None:
    """Point a broken standard stream's descriptor at /dev/null: the lines still buffered in it
    are then discarded instead of failing again when the interpreter flushes it at exit (which
    would print a traceback and end the process with code 120)."""
    if stream not in (sys.__stdout__, sys.__stderr__):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except _SINK_ERRORS:
        pass


def configure_logging(
    log_format: str = "auto", level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Configure structlog and route the stdlib root logger (ccxt, urllib3) through it."""
    _set_secrets(secrets)
    out = stream if stream is not None else sys.stdout if sys.stdout is not None else sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not _isatty(out))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=_isatty(out))
    )
    numeric_level = logging.getLevelName(level.upper())
    # stdout's fallback is stderr; an explicit stream (a test's) has none.
    sink = _SafeSink(out, sys.stderr if stream is None and out is not sys.stderr else None)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries chat at INFO (urllib3 retries, ccxt requests); only their warnings matter.
    root.setLevel(max(numeric_level, logging.WARNING))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except _SINK_ERRORS:  # closed
        return False


def get_logger(name: str = "nija", **bound: Any) -> structlog.stdlib.BoundLogger:
    """Return a logger with `bound` context (broker=, account= in broker threads)."""
    return structlog.get_logger(name).bind(**bound)
