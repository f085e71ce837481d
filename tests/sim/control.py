"""`/_sim/<operation>`: drive a simulator that runs in another process (benchmarks).

POST operations take a JSON object of keyword arguments, GET ones take query parameters;
both map one-to-one onto `Simulator` methods. Amounts travel as strings and become `Decimal`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from tests.sim.venue import Reply

if TYPE_CHECKING:
    from tests.sim.simulator import Simulator

__all__ = ["control_handler"]

_MUTATIONS: Final = frozenset(
    {
        "add_account",
        "set_price",
        "set_balance",
        "inject",
        "clear_faults",
        "set_latency",
        "set_rate_limit",
        "set_fee_in_base",
        "clear_requests",
    }
)
_QUERIES: Final = frozenset({"requests", "count_orders", "balances", "invalid_nonces", "describe"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "secret"}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _arguments(operation: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    args = dict(raw)
    if operation == "add_account" and "balances" in args:
        args["balances"] = {k: Decimal(str(v)) for k, v in args["balances"].items()}
    for name in ("price", "amount", "max_count", "decay_per_s"):
        if name in args and args[name] is not None:
            args[name] = Decimal(str(args[name]))
    return args


def control_handler(sim: Simulator) -> Callable[[str, str, Mapping[str, Any]], Reply]:
    """Build the handler the dispatcher calls for `/_sim/...` requests."""

    def handle(method: str, path: str, raw: Mapping[str, Any]) -> Reply:
        operation = path.strip("/")
        allowed = _MUTATIONS if method == "POST" else _QUERIES if method == "GET" else frozenset()
        if operation not in allowed:
            return Reply.json({"sim_error": f"unknown control operation {method} {operation!r}"}, status=404)
        try:
            result = getattr(sim, operation)(**_arguments(operation, raw))
        except (KeyError, TypeError, ValueError) as error:
            return Reply.json({"sim_error": f"{type(error).__name__}: {error}"}, status=400)
        if operation == "add_account":
            result = {"api_key": result.api_key, "secret": result.secret}
        return Reply.json({"result": _plain(result)})

    return handle
