"""structlog setup: one event per line, JSON when stdout is not a TTY, secrets redacted.

Holds process-global logging configuration (structlog and the stdlib root logger), set once by
`configure_logging` at start. Redaction runs on the event dict and again on the rendered line,
so a secret inside an exception message, a nested value or a library's own log line never
reaches the output.
"""

from __future__ import annotations

import logging
import sys
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


class _RedactingStream:
    """Last line of defence: redact the rendered text before it is written."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact_text(text))

    def flush(self) -> None:
        self._stream.flush()


def configure_logging(
    log_format: str = "auto", level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Configure structlog and route the stdlib root logger (ccxt, urllib3) through it."""
    _set_secrets(secrets)
    out = stream if stream is not None else sys.stdout
    as_json = log_format == "json" or (log_format == "auto" and not out.isatty())
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
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=_RedactingStream(out)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_RedactingStream(out))  # type: ignore[arg-type]
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


def get_logger(name: str = "nija", **bound: Any) -> structlog.stdlib.BoundLogger:
    """Return a logger with `bound` context (broker=, account= in broker threads)."""
    return structlog.get_logger(name).bind(**bound)
