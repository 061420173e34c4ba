"""Who orders: an elder or a family member on the ordering page, staff, or the system."""

from __future__ import annotations

from dataclasses import dataclass

from canteen.accounts.roles import Principal
from canteen.core.audit import SystemActor


@dataclass(frozen=True, slots=True)
class ElderPrincipal:
    """An elder (``kind="elder"``) or a family member (``kind="family"``) signed in on the ordering page."""

    kind: str
    account_id: int  # elder id, or family account id
    elder_ids: tuple[int, ...]

    @property
    def user_id(self) -> None:
        return None

    @property
    def username(self) -> str:
        return f"{self.kind}:{self.account_id}"


OrderActor = Principal | ElderPrincipal | SystemActor


def ledger_actor(actor: OrderActor) -> Principal | SystemActor:
    """Who the ledger and the audit log name: the person signed in, or ``elder:<id>`` / ``family:<id>``."""
    if isinstance(actor, ElderPrincipal):
        return SystemActor(actor.username)
    return actor


def placed_by(actor: OrderActor) -> tuple[str, int | None]:
    """(kind, id) recorded on an order: elder / family with the account id, staff with the user id."""
    if isinstance(actor, ElderPrincipal):
        return actor.kind, actor.account_id
    if isinstance(actor, Principal):
        return "staff", actor.user_id
    return "system", None
