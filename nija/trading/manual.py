"""Manual master trades, executed by the one writer of the account.

`python -m nija.trade` writes an intent to the store's inbox; the broker loop that owns the
master account takes it between cycles and runs it here, through the same guards as its own
entries (halt, ENTRY_BLOCKING, EMERGENCY_STOP, the Coinbase minimum; sells always go) and the
same order lifecycle, so its fill is recorded, moves the position and is copied like any other.
With no daemon running, `nija.trade` runs the same code itself while holding the data dir's lock.
"""

from __future__ import annotations

from typing import Any

from nija.brokers.base import Broker, BrokerError, TransientError
from nija.execution.executor import OrderExecutor
from nija.logs import redact_text
from nija.models import OPEN_ORDER_STATUSES, IntentStatus, OrderRequest, OrderStatus, Side
from nija.store import ManualIntent, Store
from nija.trading.guard import EntryRules, entry_block_reason

__all__ = ["MANUAL_REASON", "execute_manual_intent", "finish_taken_intents"]

MANUAL_REASON = "manual trade (python -m nija.trade)"


def execute_manual_intent(
    intent: ManualIntent, broker: Broker, store: Store, executor: OrderExecutor, rules: EntryRules, log: Any
) -> bool:
    """Take `intent` and execute it; returns whether an order filled. A guard's refusal, the
    venue's, or an error is recorded on the intent with its reason; nothing is raised."""
    if not store.move_manual_intent(intent.intent_id, IntentStatus.TAKEN):
        return False  # canceled by nija.trade before it was taken
    log = log.bind(client_order_id=intent.client_order_id, manual_intent=intent.intent_id)
    try:
        if intent.symbol not in broker.symbols():
            store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, error=f"{broker.name} has no market {intent.symbol}")
            return False
        snapshot = broker.balance_snapshot()
        if intent.side is Side.BUY:
            halted = rules.switches.halted(broker.name)
            blocked = entry_block_reason(rules, broker.name, snapshot.total_equity, halted=halted)
            if blocked is not None:
                store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, error=f"{blocked}: buys are refused, sells go")
                log.warning("manual_trade_refused", reason=blocked)
                return False
        request = OrderRequest(
            broker=broker.name, account=broker.account, symbol=intent.symbol, side=intent.side,
            quantity=intent.quantity, unit=intent.unit, client_order_id=intent.client_order_id, reason=MANUAL_REASON,
        )
        outcome = executor.submit(request, master_equity=snapshot.total_equity)
    except TransientError as exc:
        # Sent, answer lost: the order is looked up by client order id at the next cycles.
        order = store.get_order(intent.client_order_id)
        store.move_manual_intent(intent.intent_id, IntentStatus.DONE, order, error=redact_text(str(exc)))
        return False
    except (BrokerError, ValueError) as exc:  # ValueError: an amount the domain refuses (e.g. 0)
        store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, error=redact_text(f"{type(exc).__name__}: {exc}"))
        log.warning("manual_trade_failed", error=redact_text(str(exc)))
        return False
    order = outcome.order if outcome is not None else store.get_order(intent.client_order_id)
    if order is None or order.status is OrderStatus.REJECTED:
        store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, order, error=order.error if order else "not sent")
        return False
    store.move_manual_intent(intent.intent_id, IntentStatus.DONE, order, error=order.error)
    log.info("manual_trade_done", status=str(order.status), filled_qty=str(order.filled_qty))
    return order.filled_qty > 0


def finish_taken_intents(broker: Broker, store: Store) -> int:
    """Finish the intents a previous run took but died before answering, from their orders: a
    final order answers the intent (filled: done; refused or never booked: refused), an order
    never stored was never sent; an order still open waits for reconciliation. Returns how many
    were finished."""
    finished = 0
    for intent in store.manual_intents(broker.name, IntentStatus.TAKEN):
        order = store.get_order(intent.client_order_id)
        if order is None:
            store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, error="the daemon stopped before sending it")
        elif order.status in OPEN_ORDER_STATUSES:
            continue  # reconciliation settles the order first
        elif order.filled_qty > 0:
            store.move_manual_intent(intent.intent_id, IntentStatus.DONE, order, error=order.error)
        else:
            store.move_manual_intent(intent.intent_id, IntentStatus.REFUSED, order, error=order.error or str(order.status))
        finished += 1
    return finished
