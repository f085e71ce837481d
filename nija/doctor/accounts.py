"""Which accounts the doctor checks: every master with API keys, and every enabled follower.

Masters are the brokers with complete master credentials in `.env` (whatever NIJA_MODE says: the
doctor is run before going live); followers come from the user files and their
<BROKER>_USER_<ID>_* variables (`nija.users.discover_users`). Adapters are built by the same
factory as the daemon's (`nija.build._live_broker`), so the doctor checks what NIJA would run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nija.brokers.base import Broker
from nija.build import Shared, _live_broker
from nija.config import Credentials, Settings
from nija.doctor.checks import AccountPlan
from nija.logs import add_secrets
from nija.models import MASTER_ACCOUNT, BrokerName
from nija.users import credential_variables, discover_users

__all__ = ["Target", "find_targets"]


@dataclass(frozen=True, slots=True)
class Target:
    """One account to check, or why it cannot be (`problem`)."""

    broker: BrokerName
    account: str  # "master" or the follower's user id
    credentials: Credentials | None
    alpaca_paper: bool
    plan: AccountPlan
    problem: str | None = None

    def matches(self, wanted: str) -> bool:
        """`--account NAME`: a user id, a broker (its master) or BROKER:ACCOUNT."""
        wanted = wanted.strip().lower()
        return wanted in (self.account, f"{self.broker}:{self.account}") or (
            self.account == MASTER_ACCOUNT and wanted == str(self.broker)
        )

    def build(self, settings: Settings, shared: Shared) -> Broker:
        """The account's live adapter, exactly as the daemon builds it."""
        return _live_broker(
            settings, self.broker, self.account, self.credentials, shared,
            alpaca_paper=self.alpaca_paper, master=self.account == MASTER_ACCOUNT,
        )


def _symbols(settings: Settings, broker: BrokerName, disabled: frozenset[str] = frozenset()) -> tuple[str, ...]:
    skip = set(settings.disabled_pairs) | disabled
    return tuple(s for s in settings.symbols_for(broker) if s not in skip)


def find_targets(settings: Settings, env: Mapping[str, str]) -> tuple[list[Target], list[str]]:
    """Every account with keys (masters first), and the user-file problems found on the way."""
    targets: list[Target] = []
    for broker in settings.configured_live_brokers():
        plan = AccountPlan(_symbols(settings, broker), settings.minimum_funded_balance)
        paper = settings.alpaca_paper or settings.sandbox_for(BrokerName.ALPACA)
        targets.append(Target(broker, MASTER_ACCOUNT, settings.master_credentials(broker), paper, plan))
    discovered = discover_users(settings.users_path, env, live=True)
    add_secrets(discovered.secret_values())  # before any follower's client can echo one
    for user in discovered.users:
        if not user.enabled:
            continue
        plan = AccountPlan(
            _symbols(settings, user.broker, user.disabled_symbols), settings.minimum_funded_balance, follower=True,
            risk_multiplier=user.risk_multiplier, max_user_risk=settings.max_user_risk,
            min_position_usd=settings.min_position_usd,
        )
        credentials = discovered.credentials.get(user.user_id)
        problem = None
        if credentials is None:
            problem = "missing credentials: " + ", ".join(credential_variables(user.broker, user.user_id).values())
        targets.append(Target(
            user.broker, user.user_id, credentials,
            discovered.alpaca_paper.get(user.user_id, True) or settings.sandbox_for(BrokerName.ALPACA), plan, problem,
        ))
    return targets, [p.message for p in discovered.problems]
