"""The audit trail: one call from every service that changes money, policy, personal data or permissions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import msgspec

from canteen.core.clock import utcnow
from canteen.core.context import client_ip_var, request_id_var
from canteen.core.tables import AuditEntry


class Actor(Protocol):
    @property
    def user_id(self) -> int | None: ...
    @property
    def username(self) -> str: ...


class SystemActor:
    """Who acts when no person does: the CLI, the demo loader, scheduled jobs."""

    def __init__(self, name: str = "system") -> None:
        self._name = name

    @property
    def user_id(self) -> None:
        return None

    @property
    def username(self) -> str:
        return self._name


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return msgspec.to_builtins(value, builtin_types=(), str_keys=True, enc_hook=str)


async def record(
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    *,
    before: Any = None,
    after: Any = None,
    district_id: int | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Append one audit row; call it inside the service's write transaction."""
    await AuditEntry.insert(
        AuditEntry(
            at=now or utcnow(),
            actor_id=actor.user_id,
            actor_name=actor.username[:100],
            action=action[:80],
            target_type=target_type[:40],
            target_id=str(target_id)[:64],
            district_id=district_id,
            before=_jsonable(before),
            after=_jsonable(after),
            note=note,
            request_id=request_id_var.get()[:64],
            ip=client_ip_var.get()[:64],
        )
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, so an audit row says what happened at a glance."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
