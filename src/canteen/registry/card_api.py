"""JSON API for member cards (``/api/v1``): issue, revoke, faces, print sheets, verify a scan.

Writes need the admin or an official (the service checks the elder's district:
``not_found`` outside it). ``POST /cards/verify`` and the public key are open to
every signed-in staff member: counters of any district honour any card.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter

from canteen.accounts.context import count_request, principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.accounts.roles import ADMIN, OFFICIAL
from canteen.core import ratelimit
from canteen.core.apidocs import errors
from canteen.core.schemas import Id, IdempotencyKeyHeader, Input
from canteen.registry import card_services as services
from canteen.registry.card_services import CardIssued, CardView, ElderIds
from canteen.registry.cards import looks_like_token

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
IdemKey = IdempotencyKeyHeader
Reason = Annotated[str, msgspec.Meta(max_length=100)]


class CardIssueIn(Input):
    """Why a card is issued: ``first``, ``lost``, ``damaged``, ``reissued`` … (free text, short)."""

    reason: Reason = "first"


class CardRevokeIn(Input):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class SheetIn(Input, kw_only=True):
    """Either ``elder_ids`` or ``community_id``."""

    elder_ids: ElderIds = []
    community_id: Id | None = None


class VerifyIn(Input):
    """A scanned QR token or a typed card number."""

    card: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class VerifyOut(msgspec.Struct, kw_only=True):
    elder_id: int
    card_id: int
    number: str
    district_id: int
    elder_status: str


class PublicKeyOut(msgspec.Struct, kw_only=True):
    key_id: int
    pem: str


_WRITE = [roles(ADMIN, OFFICIAL)]


class ElderCardController(Controller):
    path = "/api/v1/elders"
    tags = ["cards"]

    @post(
        "/{elder_id:int}/cards",
        guards=_WRITE,
        summary="Issue a card (revokes the live one); Idempotency-Key optional",
        responses=errors("not_found", "conflict", "idempotency_key_invalid", "idempotency_key_reused"),
    )
    async def issue(
        self, request: Req, elder_id: PathId, data: JSONBody[CardIssueIn], idempotency_key: IdemKey = None
    ) -> CardIssued:
        return await services.issue_card(
            principal_of(request), elder_id, reason=data.reason, idempotency_key=idempotency_key
        )

    @get(
        "/{elder_id:int}/card.png",
        guards=_WRITE,
        summary="The live card's face as a 300-dpi PNG",
        media_type="image/png",
        responses=errors("not_found", "card_none"),
    )
    async def png(self, request: Req, elder_id: PathId) -> Response[bytes]:
        body = await services.card_png(principal_of(request), elder_id)
        return Response(body, media_type="image/png", headers={"Cache-Control": "private, no-store"})

    @get(
        "/{elder_id:int}/card.svg",
        guards=_WRITE,
        summary="The live card's face as SVG (millimetres)",
        media_type="image/svg+xml",
        responses=errors("not_found", "card_none"),
    )
    async def svg(self, request: Req, elder_id: PathId) -> Response[str]:
        body = await services.card_svg(principal_of(request), elder_id)
        return Response(
            body,
            media_type="image/svg+xml",
            headers={
                "Cache-Control": "private, no-store",
                "Content-Disposition": f'attachment; filename="card-{elder_id}.svg"',
            },
        )


class CardController(Controller):
    path = "/api/v1/cards"
    tags = ["cards"]

    @post(
        "/{card_id:int}/revoke",
        guards=_WRITE,
        summary="Revoke a card without issuing a new one",
        responses=errors("not_found"),
    )
    async def revoke(self, request: Req, card_id: PathId, data: JSONBody[CardRevokeIn]) -> CardView:
        return await services.revoke_card(principal_of(request), card_id, data.reason)

    @post(
        "/sheet.pdf",
        guards=_WRITE,
        summary="Queue an A4 sheet of cards (issues a card to chosen elders who have none); 202, "
        "then download the PDF from the run",
        status_code=202,
        responses=errors("not_found", "card_sheet_empty"),
    )
    async def sheet(self, request: Req, data: JSONBody[SheetIn]) -> Response[JobRunOut]:
        run = await services.submit_sheet(
            principal_of(request), elder_ids=data.elder_ids or None, community_id=data.community_id
        )
        return accepted(run)

    @post(
        "/verify",
        guards=[login_required],
        status_code=200,
        summary="Resolve a scanned token or a typed card number",
        responses=errors("invalid_card", "invalid_card_number", "card_revoked", "too_many_attempts"),
    )
    async def verify(self, request: Req, data: JSONBody[VerifyIn]) -> VerifyOut:
        if not looks_like_token(data.card):  # a typed number can be guessed; a signed token cannot
            await count_request(request, ratelimit.CARD_LOOKUP_PER_ACCOUNT, ratelimit.CARD_LOOKUP_PER_ADDRESS)
        hit = await services.resolve_card(data.card)
        return VerifyOut(
            elder_id=hit.elder_id,
            card_id=hit.card_id,
            number=hit.number,
            district_id=hit.district_id,
            elder_status=hit.elder_status,
        )

    @get(
        "/public-key",
        guards=[login_required],
        summary="The card signing public key (PEM) for offline counter terminals",
        responses=errors(),
    )
    async def public_key(self) -> PublicKeyOut:
        return PublicKeyOut(key_id=services.card_keys().public.key_id, pem=services.public_key_pem())


CONTROLLERS = [ElderCardController, CardController]
