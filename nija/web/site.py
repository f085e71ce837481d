"""The dashboard's Starlette application: routes, the token gate and the templates.

GET only; nothing here writes the store or reaches a venue. Every response carries a strict
Content-Security-Policy (no script, no outside resource: pages are self-contained HTML with
inline CSS and SVG) and is never cached. Every value a template prints passes the log
redactor, so a secret that reached an error text in the store still never shows.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nija.logs import redact_text
from nija.store.dashboard import DashboardStore
from nija.web.pages import NotFound, account_page, ledger_page, overview_page, page_header
from nija.web.snapshot import SnapshotCache

__all__ = ["COOKIE", "create_app"]

COOKIE: Final = "nija_web_token"
_STARTING_REFRESH_SECONDS: Final = 2  # while the first figures are computed
_HEADERS: Final = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # a ?token= link never leaks through a Referer header
    "cache-control": "no-store",
}


def _finalize(value: Any) -> Any:
    # Runs on every {{ value }} a template prints: redaction cannot be forgotten on one field.
    return redact_text(value) if isinstance(value, str) else value


def _money(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _signed(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


def _qty(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{value:+.2f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    text = value.isoformat() if isinstance(value, datetime) else value
    return text[:19].replace("T", " ")


def _tone(value: Decimal | None) -> str:
    # The CSS class a figure is shown in: green gain, red loss.
    if value is None or value == 0:
        return ""
    return "gain" if value > 0 else "loss"


def templates() -> Environment:
    """The Jinja environment of nija/web/templates, with the display filters and redaction."""
    env = Environment(
        loader=PackageLoader("nija.web", "templates"), autoescape=select_autoescape(default=True),
        finalize=_finalize, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(money=_money, signed=_signed, qty=_qty, pct=_pct, ms=_ms, when=_when, tone=_tone)
    return env


class TokenGate:
    """ASGI middleware: with a token set, a request must carry it (`Authorization: Bearer …`,
    the cookie, or `?token=`, which sets the cookie and redirects to the same page without it)
    or gets 401. Every response gets the security headers."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token.encode() if token else None

    def _valid(self, given: str | None) -> bool:
        return given is not None and self._token is not None and hmac.compare_digest(given.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token, then serve `scope` with the security headers added."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        send = _with_headers(send)
        if self._token is None:
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = next((value for key, value in query if key == "token"), None)
        if self._valid(from_query):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            response: Response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, from_query or "", httponly=True, samesite="strict")
        elif self._valid(_bearer(request.headers.get("authorization"))) or self._valid(_cookie(request)):
            await self._app(scope, receive, send)
            return
        else:
            response = PlainTextResponse(
                "401 Unauthorized: this dashboard needs its token (NIJA_WEB_TOKEN): an"
                " 'Authorization: Bearer <token>' header, or open a page once with ?token=<token>.\n",
                status_code=401, headers={"www-authenticate": "Bearer"},
            )
        await response(scope, receive, send)


def _bearer(header: str | None) -> str | None:
    if header is None or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip()


def _cookie(request: Request) -> str | None:
    raw = request.headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _with_headers(send: Send) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() not in _HEADERS]
            headers += [(k.encode(), v.encode()) for k, v in _HEADERS.items()]
            message["headers"] = headers
        await send(message)

    return wrapped


def create_app(store: DashboardStore, cache: SnapshotCache, token: str | None, refresh_seconds: float) -> ASGIApp:
    """The dashboard application over `store`, showing `cache`'s snapshots; `token` (None:
    open, only ever on loopback) gates every request."""
    env = templates()
    refresh = max(int(refresh_seconds), 2)

    def render(name: str, code: int = 200, **context: Any) -> HTMLResponse:
        page = env.get_template(name).render({"refresh_seconds": refresh, **context})
        return HTMLResponse(page, status_code=code)

    def not_ready() -> HTMLResponse:
        return render("message.html", 503, title="Starting", refresh_seconds=_STARTING_REFRESH_SECONDS,
                      message="The dashboard is reading the store; this page reloads by itself.")

    def overview(_request: Request) -> Response:
        snapshot = cache.latest
        return not_ready() if snapshot is None else render("overview.html", **overview_page(snapshot))

    def account(request: Request) -> Response:
        snapshot = cache.latest
        if snapshot is None:
            return not_ready()
        broker, name = request.path_params["broker"], request.path_params["account"]
        try:
            context = account_page(snapshot, store, broker, name)
        except NotFound:
            return render("message.html", 404, title="No such account", message=f"The store knows no account"
                          f" {broker}/{name}.")
        return render("account.html", **context)

    def ledger(request: Request) -> Response:
        snapshot = cache.latest
        if snapshot is None:
            return not_ready()
        params = request.query_params
        page = int(params["page"]) if params.get("page", "").isdigit() else 0
        context = ledger_page(store, page, params.get("user") or None, params.get("status") or None)
        return render("ledger.html", header=page_header(snapshot), **context)

    routes = [
        Route("/", overview, methods=["GET"]),
        Route("/account/{broker}/{account}", account, methods=["GET"]),
        Route("/ledger", ledger, methods=["GET"]),
    ]
    return TokenGate(Starlette(routes=routes, exception_handlers={404: _not_found(render)}), token)


def _not_found(render: Callable[..., HTMLResponse]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_request: Request, _exc: Exception) -> Response:
        return render("message.html", 404, title="Not found", message="No such page.")

    return handler
