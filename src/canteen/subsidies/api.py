"""JSON API for subsidy policies and quotes (``/api/v1``).

A policy body is the documented ``Policy`` document; its ``district_id`` and
``version`` may be left out (the store sets them). Refusals carry the pure
layer's codes (``policy_funding_not_100``, ``policy_unknown_category`` …) and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter

from canteen.accounts.roles import ADMIN, OFFICIAL
from canteen.api.docs import errors
from canteen.api.schemas import Id, Input
from canteen.core.errors import DomainError
from canteen.subsidies import services
from canteen.subsidies.schemas import Policy, Quote
from canteen.subsidies.services import PolicyList, PolicyView
from canteen.web.context import principal_of
from canteen.web.guards import login_required, roles

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]

VALIDATION_CODES = (
    "policy_funding_not_100",
    "policy_funding_duplicate",
    "policy_unknown_category",
    "policy_invalid_tier",
    "policy_duplicate_tier",
    "policy_unknown_tier",
    "policy_invalid_delivery",
    "policy_invalid_combination",
    "policy_invalid_portability",
    "policy_dates_invalid",
)


class PolicyDraft(Policy, kw_only=True):
    """A policy document to store as a draft; ``district_id`` and ``version`` are set by the store."""

    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None  # type: ignore[assignment]
    district_id: Id | None = None  # type: ignore[assignment]


def to_policy(draft: Policy, district_id: int) -> Policy:
    """The ``Policy`` a draft body stands for, in ``district_id`` (version filled in by the store)."""
    fields = {f: getattr(draft, f) for f in Policy.__struct_fields__}
    fields.update(district_id=district_id, version=1)
    return Policy(**fields)


class QuoteIn(Input, kw_only=True):
    """Price one meal. Give ``elder_id`` or ``card`` (a token or a card number), or neither for a
    walk-in. ``slot``, ``mode`` and ``list_price_fen`` are judged by the rules, so a negative
    price is ``invalid_price`` and an unknown slot ``invalid_slot``."""

    elder_id: Id | None = None
    card: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    site_id: Id
    slot: Annotated[str, msgspec.Meta(max_length=20)]
    date: dt.date
    mode: Annotated[str, msgspec.Meta(max_length=20)] = "dine_in"
    list_price_fen: Annotated[int, msgspec.Meta(ge=-2_147_483_648, le=2_147_483_647)]


class DistrictPolicyController(Controller):
    path = "/api/v1/districts/{district_id:int}/policies"
    tags = ["subsidies"]
    guards = [login_required]

    @get("/", summary="Every version of a district's subsidy policy", responses=errors("not_found"))
    async def list_policies(self, request: Req, district_id: PathId) -> PolicyList:
        return await services.list_policies(principal_of(request), district_id)

    @post(
        "/",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Store a draft version (validated; version = latest + 1)",
        responses=errors("not_found", *VALIDATION_CODES),
    )
    async def create_policy(
        self, request: Req, district_id: PathId, data: JSONBody[PolicyDraft]
    ) -> PolicyView:
        return await services.create_policy(principal_of(request), district_id, to_policy(data, district_id))


class PolicyController(Controller):
    path = "/api/v1/policies"
    tags = ["subsidies"]
    guards = [login_required]

    @get("/{policy_id:int}", summary="One policy version", responses=errors("not_found"))
    async def get_policy(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.get_policy(principal_of(request), policy_id)

    @post(
        "/{policy_id:int}/publish",
        guards=[roles(ADMIN, OFFICIAL)],
        status_code=200,
        summary="Publish a draft (closes an open-ended earlier version; refuses overlaps)",
        responses=errors("not_found", "policy_not_draft", "policy_overlap"),
    )
    async def publish(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.publish_policy(principal_of(request), policy_id)

    @post(
        "/{policy_id:int}/retire",
        guards=[roles(ADMIN, OFFICIAL)],
        status_code=200,
        summary="Retire a version",
        responses=errors("not_found", "policy_already_retired"),
    )
    async def retire(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.retire_policy(principal_of(request), policy_id)


class QuoteController(Controller):
    path = "/api/v1/quotes"
    tags = ["subsidies"]
    guards = [login_required]

    @post(
        "/",
        status_code=200,
        summary="Price one meal for an elder (or a walk-in) at a site: subsidy, co-pay and why",
        responses=errors(
            "not_found",
            "invalid_card",
            "invalid_card_number",
            "card_revoked",
            "invalid_price",
            "invalid_slot",
            "invalid_mode",
            "policy_not_in_force",
        ),
    )
    async def quote(self, request: Req, data: JSONBody[QuoteIn]) -> Quote:
        if data.elder_id is not None and data.card is not None:
            raise DomainError("validation_failed", {"reason": "give elder_id or card, not both"})
        return await services.quote_for(
            principal_of(request),
            elder_id=data.elder_id,
            card=data.card,
            site_id=data.site_id,
            slot=data.slot,
            day=data.date,
            mode=data.mode,
            list_price_fen=data.list_price_fen,
        )


CONTROLLERS = [DistrictPolicyController, PolicyController, QuoteController]
