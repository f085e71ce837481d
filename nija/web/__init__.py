"""The read-only web dashboard: `python -m nija.web`, or inside the daemon with NIJA_WEB=true.

It reads the store read-only (`store.dashboard`), takes P&L from `nija.report` and health from
`nija.status`, and never trades, writes or shows a secret. `server` runs it (uvicorn on a
thread), `site` is the Starlette application, `snapshot` the figures it refreshes in the
background, `pages` what each page shows, `charts` the inline SVG equity chart.
"""

from __future__ import annotations

from nija.web.server import WebServer, bind_problem, start_web

__all__ = ["WebServer", "bind_problem", "start_web"]
