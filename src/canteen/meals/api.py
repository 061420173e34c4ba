"""JSON API for a meal's price: ``POST /api/v1/quotes`` (the one quote assembly over HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.openapi.spec import Example
from litestar.params import Body

from canteen.accounts.context import count_request, principal_of
from canteen.accounts.guards import login_required
from canteen.core import ratelimit
from canteen.core.apidocs import errors
from canteen.core.errors import DomainError
from canteen.core.schemas import Id, Input
from canteen.meals import pricing
from canteen.registry.cards import looks_like_token
from canteen.subsidies.schemas import DEFAULT_MEAL_TYPE, Quote

Req = Request[Any, Any, Any]


class QuoteIn(Input, kw_only=True):
    """Price one meal. Give ``elder_id`` or ``card`` (a token or a card number), or neither for a
    walk-in. Give the meal set (``meal_set_id``, on the menu the site serves that day and slot:
    its list price and its type are used) or a ``list_price_fen`` (with ``meal_type``, default
    ``standard``). ``slot``, ``mode``, ``meal_type`` and ``list_price_fen`` are judged by the
    rules, so a negative price is ``invalid_price``, an unknown slot ``invalid_slot`` and an
    unknown type ``invalid_meal_type``."""

    elder_id: Id | None = None
    card: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    site_id: Id
    slot: Annotated[str, msgspec.Meta(max_length=20)]
    date: dt.date
    mode: Annotated[str, msgspec.Meta(max_length=20)] = "dine_in"
    list_price_fen: Annotated[int, msgspec.Meta(ge=-2_147_483_648, le=2_147_483_647)] | None = None
    meal_set_id: Id | None = None
    meal_type: Annotated[str, msgspec.Meta(max_length=20)] | None = None


QUOTE_EXAMPLES = [
    Example(
        summary="A set on the day's menu (its price and type are used)",
        value={"elder_id": 12, "site_id": 3, "slot": "lunch", "date": "2026-12-01", "meal_set_id": 41},
    ),
    Example(
        summary="A price and a meal type",
        value={
            "card": "8600012345",
            "site_id": 3,
            "slot": "lunch",
            "date": "2026-12-01",
            "list_price_fen": 1800,
            "meal_type": "therapeutic",
        },
    ),
]


class QuoteController(Controller):
    """Staff at a site they may quote at. An elder the caller may not read (another district's)
    is ``not_found`` exactly like an unknown id or card; the tier and the reason, which name the
    elder's categories, reach only roles that may see categories (officials, operators and
    cashiers of the elder's district), never kitchen or courier staff: see ``pricing.quote_for``."""

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
            "card_other_city",
            "invalid_price",
            "invalid_slot",
            "invalid_mode",
            "invalid_meal_type",
            "no_menu",
            "policy_not_in_force",
            "validation_failed",
            "too_many_attempts",
        ),
    )
    async def quote(self, request: Req, data: Annotated[QuoteIn, Body(examples=QUOTE_EXAMPLES)]) -> Quote:
        if data.elder_id is not None and data.card is not None:
            raise DomainError("validation_failed", {"field": "card", "reason": "one_of", "other": "elder_id"})
        if (data.meal_set_id is None) == (data.list_price_fen is None):
            raise DomainError(
                "validation_failed", {"field": "list_price_fen", "reason": "one_of", "other": "meal_set_id"}
            )
        if data.meal_set_id is not None and data.meal_type is not None:
            raise DomainError("validation_failed", {"field": "meal_type", "reason": "from_set"})
        await count_request(request, ratelimit.QUOTES_PER_ACCOUNT, ratelimit.QUOTES_PER_ADDRESS)
        if data.card is not None and not looks_like_token(data.card):  # a typed card number
            await count_request(request, ratelimit.CARD_LOOKUP_PER_ACCOUNT, ratelimit.CARD_LOOKUP_PER_ADDRESS)
        return await pricing.quote_for(
            principal_of(request),
            elder_id=data.elder_id,
            card=data.card,
            site_id=data.site_id,
            slot=data.slot,
            day=data.date,
            mode=data.mode,
            list_price_fen=data.list_price_fen,
            meal_set_id=data.meal_set_id,
            meal_type=data.meal_type or DEFAULT_MEAL_TYPE,
        )


CONTROLLERS = [QuoteController]
