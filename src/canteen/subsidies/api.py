"""JSON API for subsidy policies (``/api/v1``); the quotes API is ``canteen.meals.api``.

A policy body is the documented ``Policy`` document; its ``district_id`` and
``version`` may be left out (the store sets them). A city's base policy is the
same document under ``/api/v1/cities/{city_id}/policies`` (writers: the admin and
the city's ``city_official``); publish and retire are the same routes for both. Refusals carry the pure
layer's codes (``policy_funding_not_100``, ``policy_funding_invalid``,
``policy_unknown_category`` …) and nothing is written; a body the decoder refuses is
``validation_failed`` naming the field in the caller's language.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, CITY_OFFICIAL, OFFICIAL
from canteen.core.apidocs import errors
from canteen.core.schemas import Id
from canteen.subsidies import services
from canteen.subsidies.schemas import Policy
from canteen.subsidies.services import PolicyList, PolicyView

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]

VALIDATION_CODES = (
    "policy_funding_not_100",
    "policy_funding_duplicate",
    "policy_funding_invalid",
    "policy_unknown_category",
    "policy_invalid_tier",
    "policy_duplicate_tier",
    "policy_unknown_tier",
    "policy_invalid_delivery",
    "policy_invalid_combination",
    "policy_invalid_portability",
    "policy_dates_invalid",
    "validation_failed",
)

# A policy in the style of a city document, with every setting issue #11 added (see
# docs/decisions.md, "Policies, configured").
POLICY_EXAMPLE: dict[str, Any] = {
    "name": "老年助餐补贴政策（2027年）",
    "effective_from": "2027-01-01",
    "combination": "best",
    "per_slot_daily_limit": 1,
    "per_day_limit": 1,
    "monthly_cap_fen": 30000,
    "cap_crossing": "full_price",
    "monthly_cap_meals": 22,
    "funding": [
        {"source": "city", "fixed_fen": 200},
        {"source": "district", "fixed_fen": 200},
        {"source": "street", "rest": True},
    ],
    "tiers": [
        {"code": "dibao", "name_zh": "低保", "name_en": "Dibao", "categories": ["dibao"],
         "kind": "fixed_copay", "value": 300},
        {"code": "diet", "name_zh": "失能老人治疗餐", "name_en": "Disabled, diet sets",
         "categories": ["disabled"], "kind": "amount_off", "value": 500, "slots": ["lunch"],
         "by_meal_type": [{"meal_type": "therapeutic", "kind": "amount_off", "value": 1000},
                          {"meal_type": "soft", "kind": "fixed_copay", "value": 200}],
         "funding": [{"source": "city", "percent": 70}, {"source": "district", "rest": True}]},
        {"code": "senior60", "name_zh": "60岁以上", "name_en": "Aged 60+", "min_age": 60,
         "kind": "amount_off", "value": 300, "meal_types": ["standard"]},
    ],
}  # fmt: skip
POLICY_EXAMPLES = [
    Example(summary="Fixed amounts with a remainder, limits and meal types", value=POLICY_EXAMPLE)
]


class PolicyDraft(Policy, kw_only=True):
    """A policy document to store as a draft; ``district_id`` and ``version`` are set by the store."""

    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None  # type: ignore[assignment]
    district_id: Id | None = None


def to_policy(draft: Policy, district_id: int | None, *, city_id: int | None = None) -> Policy:
    """The ``Policy`` a draft body stands for, in ``district_id`` (or a city's, ``city_id``;
    version filled in by the store). The runtime-only ``city_base`` is never taken from a body."""
    fields = {f: getattr(draft, f) for f in Policy.__struct_fields__}
    fields.update(district_id=district_id, city_id=city_id, version=1, city_base=None)
    return Policy(**fields)


# A city's base in the style of 杭州市: advanced age, paid by the city alone (docs/decisions.md,
# "A city base with district top-ups").
CITY_POLICY_EXAMPLE: dict[str, Any] = {
    "name": "杭州市老年助餐基础补贴（2027年）",
    "effective_from": "2027-01-01",
    "combination": "best",
    "per_slot_daily_limit": 1,
    "funding": [{"source": "city", "percent": 100}],
    "tiers": [
        {"code": "age90", "name_zh": "90岁以上", "name_en": "Aged 90+", "min_age": 90,
         "kind": "amount_off", "value": 300},
        {"code": "age80", "name_zh": "80-89岁", "name_en": "Aged 80-89", "min_age": 80, "max_age": 89,
         "kind": "amount_off", "value": 200},
    ],
}  # fmt: skip
CITY_POLICY_EXAMPLES = [
    Example(summary="A city base: 80+ and 90+ paid by the city", value=CITY_POLICY_EXAMPLE)
]


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
        self, request: Req, district_id: PathId, data: Annotated[PolicyDraft, Body(examples=POLICY_EXAMPLES)]
    ) -> PolicyView:
        return await services.create_policy(principal_of(request), district_id, to_policy(data, district_id))


class CityPolicyController(Controller):
    """A city's base policy: versions of the same document as a district's; the effective
    policy of each district of the city is its own version (the top-up) on top of the base
    in force."""

    path = "/api/v1/cities/{city_id:int}/policies"
    tags = ["subsidies"]
    guards = [login_required]

    @get(
        "/",
        summary="Every version of a city's base subsidy policy (city officials and every district reader)",
        responses=errors("not_found"),
    )
    async def list_city_policies(self, request: Req, city_id: PathId) -> PolicyList:
        return await services.list_city_policies(principal_of(request), city_id)

    @post(
        "/",
        guards=[roles(ADMIN, CITY_OFFICIAL)],
        summary="Store a draft version of the city base (validated; version = latest + 1)",
        responses=errors("not_found", *VALIDATION_CODES),
    )
    async def create_city_policy(
        self, request: Req, city_id: PathId, data: Annotated[PolicyDraft, Body(examples=CITY_POLICY_EXAMPLES)]
    ) -> PolicyView:
        return await services.create_city_policy(
            principal_of(request), city_id, to_policy(data, None, city_id=city_id)
        )


class PolicyController(Controller):
    path = "/api/v1/policies"
    tags = ["subsidies"]
    guards = [login_required]

    @get("/{policy_id:int}", summary="One policy version", responses=errors("not_found"))
    async def get_policy(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.get_policy(principal_of(request), policy_id)

    @post(
        "/{policy_id:int}/publish",
        guards=[roles(ADMIN, OFFICIAL, CITY_OFFICIAL)],
        status_code=200,
        summary="Publish a draft (closes an open-ended earlier version; refuses overlaps)",
        responses=errors("not_found", "policy_not_draft", "policy_overlap"),
    )
    async def publish(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.publish_policy(principal_of(request), policy_id)

    @post(
        "/{policy_id:int}/retire",
        guards=[roles(ADMIN, OFFICIAL, CITY_OFFICIAL)],
        status_code=200,
        summary="Retire a version",
        responses=errors("not_found", "policy_already_retired"),
    )
    async def retire(self, request: Req, policy_id: PathId) -> PolicyView:
        return await services.retire_policy(principal_of(request), policy_id)


CONTROLLERS = [DistrictPolicyController, CityPolicyController, PolicyController]
