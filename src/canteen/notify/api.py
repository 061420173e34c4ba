"""Notifications over JSON: the district's log of what was sent to whom, and its settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import OFFICIAL
from canteen.core.apidocs import errors
from canteen.core.outbox import OutboxKind
from canteen.notify import services
from canteen.notify.services import NotificationList, NotifySettingsView

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,10}$", max_length=10)]
Status = Literal["pending", "sending", "sent", "logged", "failed"]
Kind = OutboxKind
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class NotifySettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    webhook_url: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # Omit (or null) to keep the current secret; it is never sent back.
    webhook_secret: Annotated[str, msgspec.Meta(min_length=16, max_length=200)] | None = None
    missed_meal_days: Annotated[int, msgspec.Meta(ge=1, le=30)] = 2
    low_balance_fen: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 2000
    quiet_start: HHMM = "21:00"
    quiet_end: HHMM = "07:00"


class NotificationsController(Controller):
    path = "/api/v1"
    tags = ["notifications"]
    guards = [roles(OFFICIAL)]

    @get(
        "/districts/{district_id:int}/notifications",
        summary="Notifications of the district: recipient (masked), channel, status, attempts",
        responses=errors("not_found"),
    )
    async def list_notifications(
        self,
        request: Request[Any, Any, Any],
        district_id: FromPath[int],
        status: FromQuery[Status | None] = None,
        kind: FromQuery[Kind | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> NotificationList:
        return await services.list_notifications(
            principal_of(request),
            district_id,
            status=status,
            kind=kind,
            limit=limit,
            cursor=int(cursor) if cursor else None,
        )

    @get(
        "/districts/{district_id:int}/notify-settings",
        summary="The district's webhook, missed-meal and low-balance thresholds, quiet hours",
        responses=errors("not_found"),
    )
    async def get_settings(
        self, request: Request[Any, Any, Any], district_id: FromPath[int]
    ) -> NotifySettingsView:
        return await services.get_notify_settings(principal_of(request), district_id)

    @put(
        "/districts/{district_id:int}/notify-settings",
        summary="Set the district's notification settings (audited)",
        responses=errors("not_found", "notify_webhook_invalid"),
    )
    async def put_settings(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[NotifySettingsIn]
    ) -> NotifySettingsView:
        return await services.update_notify_settings(
            principal_of(request),
            district_id,
            webhook_url=data.webhook_url,
            webhook_secret=data.webhook_secret,
            missed_meal_days=data.missed_meal_days,
            low_balance_fen=data.low_balance_fen,
            quiet_start=data.quiet_start,
            quiet_end=data.quiet_end,
        )


CONTROLLERS = [NotificationsController]
