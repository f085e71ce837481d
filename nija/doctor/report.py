"""The doctor's findings and how they are shown: a table per account, or one JSON document.

Every line leaves through `redact_text`, so no configured secret is ever printed, whatever a
venue's error message echoed. The exit code is the worst finding: 0 ok, 1 a warning, 2 a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from tabulate import tabulate

from nija.logs import redact_text

__all__ = ["AccountReport", "Finding", "HoldingRow", "Level", "exit_code", "render_json", "render_text"]


class Level(StrEnum):
    """How a finding weighs on the exit code."""

    OK = "ok"
    INFO = "info"  # not applicable or not exposed by the venue: says so, weighs nothing
    WARN = "WARN"
    FAIL = "FAIL"


_CODE: Final = {Level.OK: 0, Level.INFO: 0, Level.WARN: 1, Level.FAIL: 2}
DETAIL_WIDTH: Final = 110  # a finding's detail wraps here, so a table fits a terminal


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome on one account."""

    check: str
    level: Level
    detail: str


@dataclass(frozen=True, slots=True)
class HoldingRow:
    """One line of the equity breakdown: an asset, what is held and what it counts for."""

    asset: str
    quantity: Decimal
    price: Decimal | None  # None: cash, or no market to value it on
    value: Decimal | None  # None: not counted in equity
    note: str = ""


@dataclass
class AccountReport:
    """Everything the doctor found about one account."""

    broker: str
    account: str  # "master" or the follower's user id
    environment: str = "not reached"
    findings: list[Finding] = field(default_factory=list)
    holdings: list[HoldingRow] = field(default_factory=list)
    equity: Decimal | None = None
    available: Decimal | None = None

    def add(self, check: str, level: Level, detail: str) -> Finding:
        """Record one finding."""
        finding = Finding(check, level, detail)
        self.findings.append(finding)
        return finding

    @property
    def worst(self) -> Level:
        """The finding that weighs most (OK when there is none)."""
        return max((f.level for f in self.findings), key=lambda level: _CODE[level], default=Level.OK)


def exit_code(reports: list[AccountReport]) -> int:
    """0 when every check passed, 1 when any warned, 2 when any failed."""
    return max((_CODE[r.worst] for r in reports), default=0)


def _num(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def render_text(reports: list[AccountReport]) -> str:
    """One block per account: its environment, a check table and the equity breakdown."""
    blocks = []
    for report in reports:
        lines = [f"== {report.broker} / {report.account}: {report.environment} =="]
        lines.append(tabulate([(f.check, f.level.value, f.detail) for f in report.findings],
                              headers=("check", "result", "detail"), tablefmt="simple", disable_numparse=True,
                              maxcolwidths=[None, None, DETAIL_WIDTH]))
        if report.holdings:
            rows = [(h.asset, _num(h.quantity), _num(h.price), _num(h.value), h.note) for h in report.holdings]
            rows.append(("equity", "", "", _num(report.equity), f"available {_num(report.available)}"))
            lines.append("")
            lines.append(tabulate(rows, headers=("asset", "quantity", "price", "value", "note"), tablefmt="simple",
                                  disable_numparse=True))
        blocks.append("\n".join(lines))
    code = exit_code(reports)
    failures = sum(r.worst is Level.FAIL for r in reports)
    warnings = sum(r.worst is Level.WARN for r in reports)
    verdict = {0: "all checks passed", 1: "warnings: read them before going live", 2: "FAILED: do not go live"}[code]
    blocks.append(f"doctor: {len(reports)} account(s), {failures} failed, {warnings} with warnings: {verdict} (exit {code})")
    return redact_text("\n\n".join(blocks)) + "\n"


def _json_report(report: AccountReport) -> dict[str, Any]:
    return {
        "broker": report.broker, "account": report.account, "environment": report.environment,
        "result": report.worst.value.lower(),
        "checks": [{"check": f.check, "result": f.level.value.lower(), "detail": f.detail} for f in report.findings],
        "equity": None if report.equity is None else str(report.equity),
        "available": None if report.available is None else str(report.available),
        "holdings": [
            {"asset": h.asset, "quantity": str(h.quantity), "price": None if h.price is None else str(h.price),
             "value": None if h.value is None else str(h.value), "note": h.note}
            for h in report.holdings
        ],
    }


def render_json(reports: list[AccountReport]) -> str:
    """The whole run as one JSON document (numbers as strings: Decimal, never float)."""
    document = {"exit_code": exit_code(reports), "accounts": [_json_report(r) for r in reports]}
    return redact_text(json.dumps(document, indent=2)) + "\n"
