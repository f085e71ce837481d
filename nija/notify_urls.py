"""Notification URLs (apprise): parsed and checked with apprise's own parser, and the parts of
each that are secret, for the log redactor. Settings (`NIJA_NOTIFY`) and follower files
(`notify`) both read them here; nothing here sends anything (that is `nija.notify`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = ["notify_plugin", "notify_url_secrets", "parse_notify_urls"]

# Split on commas and whitespace, as apprise reads its own lists.
_URL_SPLIT: Final = re.compile(r"[\s,]+")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}(?=://)")
_URL_WORDS: Final = re.compile(r"[^/:@?&=#,+\s]+")
_MIN_SECRET_PART: Final = 6  # shorter parts (a port, "json", a chat id "42") would redact ordinary words
_TOKEN_LIKE: Final = 16  # a URL word this long is taken for a token wherever it appears


def notify_plugin(url: str) -> Any:
    """Return apprise's plugin for one notification URL, or None when apprise can't use it."""
    import apprise  # lazily: ~1 s to load its plugins, paid only when notifications are configured

    # apprise logs a URL it can't parse whole, token included, and each failed send on its own;
    # NIJA reports both itself (one line, redacted), so apprise's logger stays silent.
    logging.getLogger("apprise").disabled = True
    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def parse_notify_urls(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Return the apprise URLs in `raw` (comma or space separated, or a list), each checked with
    apprise's own parsing. Raise ValueError naming the bad entry by position and scheme only:
    the URL itself may hold a token. The caller names its setting or field."""
    parts = _URL_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    urls = tuple(part.strip() for part in parts if isinstance(part, str) and part.strip())
    if len(urls) != sum(1 for part in parts if not isinstance(part, str) or part.strip()):
        raise ValueError("every entry must be a URL string")
    for position, url in enumerate(urls, start=1):
        if notify_plugin(url) is None:
            scheme = _SCHEME.match(url)
            shown = f"{scheme.group(0)}://…" if scheme else "(no scheme://)"
            raise ValueError(
                f"entry {position} of {len(urls)} ({shown}) is not a notification URL apprise can use;"
                " e.g. json://host:port/path, tgram://bottoken/chat_id, discord://webhook_id/webhook_token"
            )
    return urls


def notify_url_secrets(url: str) -> list[str]:
    """The parts of a notification URL to redact: the URL itself, every part apprise's privacy
    form hides (tokens, passwords), every word of 16 characters or more (a generic webhook's
    path token, which apprise shows) and every header or query value (apprise shows headers, and
    a webhook's `?token=` is as secret as its path)."""
    plugin = notify_plugin(url)
    if plugin is None:
        return [url]
    public = set(_URL_WORDS.findall(unquote(plugin.url(privacy=True))))  # host, port, chat ids
    secrets = {url}
    for word in _URL_WORDS.findall(unquote(url.partition("://")[2].partition("?")[0])):
        # A long word is a token even where apprise shows it (a generic webhook's path).
        if len(word) >= _TOKEN_LIKE or (word not in public and len(word) >= _MIN_SECRET_PART):
            secrets.add(word)
    for _key, value in parse_qsl(urlsplit(url).query):
        secrets.update(part for part in (value, quote(value)) if len(part) >= _MIN_SECRET_PART)
    # A hidden segment that holds a separator (Telegram's "123:ABC") is redacted whole too.
    private = unquote(plugin.url(privacy=True))
    for segment in url.partition("://")[2].partition("?")[0].split("/"):
        if len(segment) >= _MIN_SECRET_PART and segment not in private:
            secrets.add(segment)
    return sorted(secrets, key=len, reverse=True)
