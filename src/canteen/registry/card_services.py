"""Member cards in the database: issue, revoke, resolve a scan, print.

Scope: the admin and the officials of an elder's district may issue, revoke
and print that elder's cards; an official of another district gets
``not_found`` (the elder is outside what they may see), other roles
``forbidden``. :func:`resolve_card` takes no actor: it is what every counter
calls for every scan, and a card is honoured at any meal point (portability
of the subsidy is the policy's business, not the card's).

Printing a sheet **issues a card to every chosen elder who has none** (one
transaction, one ``card.issue_batch`` audit row), so "print the cards of
卖鱼桥社区" works for newly registered elders without a second step. Elders
who already hold a live card get that card reprinted: tokens are
deterministic, so the reprint is the same card, not a new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import msgspec
from piccolo.query.functions.aggregate import Max

from canteen.accounts.roles import ADMIN, OFFICIAL, Principal
from canteen.core import audit, queue
from canteen.core.audit import Actor
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import check_key, run_once
from canteen.regions.tables import Community
from canteen.registry.card_render import CardFace, render_png, render_sheet_pdf, render_svg
from canteen.registry.cards import (
    CardKeys,
    format_card_number,
    issue_token,
    looks_like_token,
    new_card_number,
    parse_card_number,
    verify_token,
)
from canteen.registry.tables import Card, Elder
from canteen.settings import get_settings

register("card_none", 404)
register("card_sheet_empty", 422)

#: Elders per printed sheet request: a community's cards come in batches of hundreds.
MAX_SHEET_ELDERS = 2000
_NUMBER_DRAWS = 8


# --------------------------------------------------------------------- Structs


class CardIssued(msgspec.Struct, kw_only=True):
    """A freshly issued card: the printed number (``K7M-4QXP-9``) and the QR token."""

    card_id: int
    elder_id: int
    serial: int
    number: str
    token: str
    revoked_card_id: int | None = None


class CardHit(msgspec.Struct, kw_only=True, frozen=True):
    """Who a scanned or typed card names. ``number`` is the printed form;
    ``district_id`` is the elder's home district, ``elder_status`` their registry status."""

    elder_id: int
    card_id: int
    serial: int
    number: str
    district_id: int
    elder_status: str


class CardView(msgspec.Struct, kw_only=True):
    id: int
    elder_id: int
    serial: int
    number: str
    issued_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str


class ElderCards(msgspec.Struct, kw_only=True):
    """An elder's card page: who, where, the live card and the history (newest first)."""

    elder_id: int
    name: str
    community_name: str
    district_id: int
    status: str
    live: CardView | None
    history: list[CardView]


class CommunityChoice(msgspec.Struct, kw_only=True):
    id: int
    name: str
    district_id: int


ElderIds = Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]], msgspec.Meta(max_length=500)]


# ------------------------------------------------------------------------ keys

_KEYS: dict[str, CardKeys] = {}


def card_keys() -> CardKeys:
    """The signing keys for the configured seed, built once per process and seed
    (deriving an Ed25519 key costs more than verifying a token)."""
    seed = get_settings().card_signing_key
    keys = _KEYS.get(seed)
    if keys is None:
        keys = _KEYS[seed] = CardKeys.from_hex(seed)
    return keys


def public_key_pem() -> str:
    """The PEM a counter terminal needs to verify cards offline."""
    return card_keys().public.pem()


# ----------------------------------------------------------------------- scope


def _require_card_role(actor: Principal) -> None:
    if not actor.has_role(ADMIN, OFFICIAL):
        raise DomainError("forbidden", {"needs_role": [ADMIN, OFFICIAL]})


async def _elder_in_scope(actor: Principal, elder_id: int) -> dict[str, Any]:
    _require_card_role(actor)
    row = (
        await Elder.select(
            Elder.id,
            Elder.name,
            Elder.status,
            Elder.district,
            Elder.community.name.as_alias("community_name"),
        )
        .where(Elder.id == elder_id)
        .first()
    )
    if row is None or not actor.can_district(int(row["district"])):
        raise DomainError("not_found", {"elder_id": elder_id})
    return row


def _view(row: dict[str, Any]) -> CardView:
    return CardView(
        id=row["id"],
        elder_id=row["elder"],
        serial=row["serial"],
        number=format_card_number(row["number"]),
        issued_at=row["issued_at"],
        revoked_at=row["revoked_at"],
        revoke_reason=row["revoke_reason"],
    )


_CARD_COLUMNS = (
    Card.id,
    Card.elder,
    Card.serial,
    Card.number,
    Card.issued_at,
    Card.revoked_at,
    Card.revoke_reason,
)


# ----------------------------------------------------------------------- issue


async def _fresh_numbers(count: int) -> list[str]:
    """``count`` new card numbers that no stored card has (one query per draw round)."""
    chosen: list[str] = []
    for _ in range(_NUMBER_DRAWS):
        wanted = count - len(chosen)
        if wanted == 0:
            return chosen
        taken = set(chosen)
        draw = [n for n in {new_card_number() for _ in range(wanted)} if n not in taken]
        clash = {r["number"] for r in await Card.select(Card.number).where(any_of(Card.number, draw))}
        chosen.extend(n for n in draw if n not in clash)
    if len(chosen) < count:  # pragma: no cover - 31**7 numbers; needs a near-full space
        raise DomainError("conflict", {"reason": "card_number_space"})
    return chosen


async def _issue_in_tx(
    actor: Actor, elder: dict[str, Any], reason: str, now: dt.datetime
) -> tuple[int, CardIssued]:
    elder_id = int(elder["id"])
    live = (
        await Card.select(Card.id, Card.serial)
        .where((Card.elder == elder_id) & Card.revoked_at.is_null())
        .first()
    )
    revoked_id = None
    if live is not None:
        revoked_id = int(live["id"])
        await Card.update({Card.revoked_at: now, Card.revoke_reason: (reason or "reissued")[:100]}).where(
            Card.id == revoked_id
        )
    top = await Card.select(Max(Card.serial).as_alias("top")).where(Card.elder == elder_id).first()
    serial = int((top or {}).get("top") or 0) + 1
    (number,) = await _fresh_numbers(1)
    rows = await Card.insert(
        Card(
            elder=elder_id,
            serial=serial,
            number=number,
            issued_at=now,
            issued_by=actor.user_id,
        )
    ).returning(Card.id)
    card_id = int(rows[0]["id"])
    await audit.record(
        actor,
        "card.issue",
        "card",
        card_id,
        before={"revoked_card_id": revoked_id} if revoked_id else None,
        after={"elder_id": elder_id, "serial": serial, "number": number},
        district_id=int(elder["district"]),
        note=reason[:300],
        now=now,
    )
    issued = CardIssued(
        card_id=card_id,
        elder_id=elder_id,
        serial=serial,
        number=format_card_number(number),
        token=issue_token(card_keys(), elder_id, serial),
        revoked_card_id=revoked_id,
    )
    return 201, issued


async def issue_card(
    actor: Principal,
    elder_id: int,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> CardIssued:
    """Issue a new card to an elder, revoking their live card (``reason``: lost, damaged …).

    One write transaction: revoke the live card, serial = max + 1, a fresh
    random number (drawn again on a clash), audit ``card.issue``. Two
    concurrent issues for one elder cannot both win: the unique indexes on
    (elder, serial) and on the one live card per elder refuse the loser, which
    is retried once against the new state. With ``idempotency_key`` a retry of
    the same request returns the first card instead of issuing another.
    """
    now = now or utcnow()
    key = check_key(idempotency_key)
    elder = await _elder_in_scope(actor, elder_id)
    request = {"elder_id": elder_id, "reason": reason}
    for attempt in range(3):
        try:
            outcome = await run_once(
                f"card.issue:{actor.user_id}",
                key,
                request,
                lambda: _issue_in_tx(actor, elder, reason, now),
                now=now,
            )
        except UniqueViolation:
            if attempt == 2:
                raise DomainError("conflict", {"elder_id": elder_id}) from None
            continue
        body = outcome.body
        return body if isinstance(body, CardIssued) else msgspec.convert(body, CardIssued)
    raise AssertionError("unreachable")  # pragma: no cover


async def revoke_card(
    actor: Principal, card_id: int, reason: str, *, now: dt.datetime | None = None
) -> CardView:
    """Revoke a card (reported lost, elder moved away …) without issuing a new one.

    Revoking a card that is already revoked changes nothing and writes nothing.
    """
    now = now or utcnow()
    _require_card_role(actor)
    async with write_transaction():
        row = (
            await Card.select(*_CARD_COLUMNS, Card.elder.district.as_alias("district"))
            .where(Card.id == card_id)
            .first()
        )
        if row is None or not actor.can_district(int(row["district"])):
            raise DomainError("not_found", {"card_id": card_id})
        if row["revoked_at"] is not None:
            return _view(row)
        await Card.update({Card.revoked_at: now, Card.revoke_reason: reason[:100]}).where(Card.id == card_id)
        await audit.record(
            actor,
            "card.revoke",
            "card",
            card_id,
            after={"elder_id": row["elder"], "serial": row["serial"], "reason": reason[:100]},
            district_id=int(row["district"]),
            now=now,
        )
        row.update(revoked_at=now, revoke_reason=reason[:100])
        return _view(row)


# --------------------------------------------------------------------- resolve


_HIT_COLUMNS = (
    Card.id,
    Card.elder,
    Card.serial,
    Card.number,
    Card.revoked_at,
    Card.revoke_reason,
    Card.elder.district.as_alias("district"),
    Card.elder.status.as_alias("elder_status"),
)


def _revoked(row: dict[str, Any]) -> DomainError:
    revoked_at = row["revoked_at"]
    return DomainError(
        "card_revoked",
        {
            "card_id": row["id"],
            "serial": row["serial"],
            "revoked_at": revoked_at.isoformat() if isinstance(revoked_at, dt.datetime) else None,
            "reason": row["revoke_reason"],
        },
    )


async def resolve_card(
    text: str, *, district_id: int | None = None, districts: Iterable[int] | None = None
) -> CardHit:
    """Who a scan (QR token) or a typed card number names; THE counter call for every scan.

    A token is verified offline with the public key first (a forged or
    mistyped token never reaches the database: ``invalid_card`` 400), then the
    card row is read with the elder's district and status in one round trip:
    no such card → ``invalid_card``; revoked (lost, replaced by a newer serial)
    → ``card_revoked`` 409 with ``{card_id, serial, revoked_at, reason}``.
    Anything else is read as a card number: malformed → ``invalid_card_number``
    400 (with the reason), unknown → ``invalid_card_number`` (reason
    ``unknown``), revoked → ``card_revoked``.

    ``district_id``, when given, accepts only cards of elders registered in
    that district (``not_found`` otherwise), for callers that must not learn
    about other districts' elders. The counter leaves it out: elders may eat
    at any point, and the policy decides what follows them. ``districts`` is the
    same check against several districts (the quotes API passes the districts
    whose elders the caller may read); both are checked before revocation, so a
    revoked card of another district says nothing either.
    """
    key = card_key(text)
    if key.number is None:
        row = await (
            Card.select(*_HIT_COLUMNS)
            .where((Card.elder == key.elder_id) & (Card.serial == key.serial))
            .first()
        )
    else:
        row = await Card.select(*_HIT_COLUMNS).where(Card.number == key.number).first()
    return card_hit(key, row, district_id=district_id, districts=districts)


class CardKey(msgspec.Struct, frozen=True):
    """What a scan names before the database is asked: a verified token's (elder, serial),
    or a well-formed card number."""

    elder_id: int = 0
    serial: int = 0
    number: str | None = None


def card_key(text: str) -> CardKey:
    """Verify a token offline (``invalid_card``) or parse a typed number (``invalid_card_number``)."""
    if looks_like_token(text):
        claims = verify_token(card_keys(), text)
        return CardKey(elder_id=claims.elder_id, serial=claims.serial)
    return CardKey(number=parse_card_number(text))


def card_hit(
    key: CardKey,
    row: dict[str, Any] | None,
    *,
    district_id: int | None = None,
    districts: Iterable[int] | None = None,
) -> CardHit:
    """Judge the card row ``key`` found (``_HIT_COLUMNS``' names; None: no such card), as
    :func:`resolve_card` documents; callers that read the row themselves (the counter's one
    read) call this so the verdicts stay the same."""
    if row is None:
        if key.number is None:
            raise DomainError("invalid_card", {"reason": "unknown_card"})
        raise DomainError("invalid_card_number", {"reason": "unknown"})
    if district_id is not None and int(row["district"]) != district_id:
        raise DomainError("not_found", {"reason": "other_district"})
    if districts is not None and int(row["district"]) not in set(districts):
        raise DomainError("not_found", {"reason": "other_district"})
    if row["revoked_at"] is not None:
        raise _revoked(row)
    return CardHit(
        elder_id=int(row["elder"]),
        card_id=int(row["id"]),
        serial=int(row["serial"]),
        number=format_card_number(row["number"]),
        district_id=int(row["district"]),
        elder_status=str(row["elder_status"]),
    )


async def _live_card(elder_id: int) -> dict[str, Any]:
    row = (
        await Card.select(*_CARD_COLUMNS).where((Card.elder == elder_id) & Card.revoked_at.is_null()).first()
    )
    if row is None:
        raise DomainError("card_none", {"elder_id": elder_id})
    return row


async def card_token(elder_id: int) -> str:
    """The QR token of the elder's live card, for reprinting it (``card_none`` if there is none)."""
    row = await _live_card(elder_id)
    return issue_token(card_keys(), elder_id, int(row["serial"]))


# ---------------------------------------------------------------------- output


async def elder_cards(actor: Principal, elder_id: int) -> ElderCards:
    """The elder's live card and card history, for the card page."""
    elder = await _elder_in_scope(actor, elder_id)
    rows = (
        await Card.select(*_CARD_COLUMNS).where(Card.elder == elder_id).order_by(Card.serial, ascending=False)
    )
    views = [_view(r) for r in rows]
    return ElderCards(
        elder_id=elder_id,
        name=elder["name"],
        community_name=elder["community_name"] or "",
        district_id=int(elder["district"]),
        status=elder["status"],
        live=next((v for v in views if v.revoked_at is None), None),
        history=views,
    )


async def card_png(actor: Principal, elder_id: int) -> bytes:
    """The live card's face as a 300-dpi PNG (``card_none`` if the elder has no live card)."""
    await _elder_in_scope(actor, elder_id)
    row = await _live_card(elder_id)
    return render_png(issue_token(card_keys(), elder_id, int(row["serial"])), row["number"])


async def card_svg(actor: Principal, elder_id: int) -> str:
    """The live card's face as SVG in millimetres."""
    await _elder_in_scope(actor, elder_id)
    row = await _live_card(elder_id)
    return render_svg(issue_token(card_keys(), elder_id, int(row["serial"])), row["number"])


async def _issue_missing(actor: Actor, elders: Sequence[dict[str, Any]], now: dt.datetime, note: str) -> int:
    """Issue a first card to each of ``elders`` without a live card; call inside a write transaction.

    Batched: one query for live cards, one for top serials, one per number
    draw round, inserts in chunks, and a single ``card.issue_batch`` audit row
    per district instead of one per card.
    """
    ids = [int(e["id"]) for e in elders]
    if not ids:
        return 0
    live = {
        int(r["elder"])
        for r in await Card.select(Card.elder).where(any_of(Card.elder, ids) & Card.revoked_at.is_null())
    }
    missing = [e for e in elders if int(e["id"]) not in live]
    if not missing:
        return 0
    missing_ids = [int(e["id"]) for e in missing]
    tops = {
        int(r["elder"]): int(r["top"] or 0)
        for r in await Card.select(Card.elder, Max(Card.serial).as_alias("top"))
        .where(any_of(Card.elder, missing_ids))
        .group_by(Card.elder)
    }
    numbers = await _fresh_numbers(len(missing))
    rows = [
        Card(elder=eid, serial=tops.get(eid, 0) + 1, number=num, issued_at=now, issued_by=actor.user_id)
        for eid, num in zip(missing_ids, numbers, strict=True)
    ]
    for start in range(0, len(rows), 200):
        await Card.insert(*rows[start : start + 200])
    by_district: dict[int, list[int]] = {}
    for e in missing:
        by_district.setdefault(int(e["district"]), []).append(int(e["id"]))
    for district, elder_ids in sorted(by_district.items()):
        await audit.record(
            actor,
            "card.issue_batch",
            "district",
            district,
            after={"count": len(elder_ids), "elder_ids": elder_ids[:1000]},
            district_id=district,
            note=note,
            now=now,
        )
    return len(rows)


async def issue_missing_cards(actor: Actor, elder_ids: Iterable[int], *, now: dt.datetime, note: str) -> int:
    """Give every listed elder without a live card a first card (no scope check: for loaders
    and the CLI). Returns how many cards were issued."""
    ids = sorted(set(elder_ids))
    async with write_transaction():
        elders = await Elder.select(Elder.id, Elder.district).where(any_of(Elder.id, ids)) if ids else []
        return await _issue_missing(actor, elders, now, note)


class SheetSelection(msgspec.Struct, kw_only=True):
    """Who a card sheet is for, checked against the actor's scope: the job's arguments."""

    elder_ids: list[int]
    district_id: int | None
    filename: str


_SHEET_COLS = (
    Elder.id,
    Elder.name,
    Elder.district,
    Elder.community.name.as_alias("community_name"),
)


async def select_sheet(
    actor: Principal, *, elder_ids: Sequence[int] | None = None, community_id: int | None = None
) -> SheetSelection:
    """Check a sheet request (the fast part, in the request): the listed elders or every active
    elder of a community, each inside the actor's districts (``not_found`` otherwise); nobody
    to print is ``card_sheet_empty``. Reads only; the job issues and renders."""
    _require_card_role(actor)
    if community_id is not None:
        community = (
            await Community.select(Community.id, Community.district)
            .where(Community.id == community_id)
            .first()
        )
        if community is None or not actor.can_district(int(community["district"])):
            raise DomainError("not_found", {"community_id": community_id})
        elders = await (
            Elder.select(Elder.id, Elder.district)
            .where((Elder.community == community_id) & (Elder.status == "active"))
            .order_by(Elder.id)
            .limit(MAX_SHEET_ELDERS)
        )
        filename = f"cards-community-{community_id}.pdf"
    elif elder_ids:
        wanted = sorted(set(elder_ids))[:MAX_SHEET_ELDERS]
        elders = await Elder.select(Elder.id, Elder.district).where(any_of(Elder.id, wanted))
        found = {int(e["id"]): e for e in elders}
        for eid in wanted:
            e = found.get(eid)
            if e is None or not actor.can_district(int(e["district"])):
                raise DomainError("not_found", {"elder_id": eid})
        filename = "cards.pdf"
    else:
        elders = []
        filename = "cards.pdf"
    if not elders:
        raise DomainError("card_sheet_empty")
    districts = {int(e["district"]) for e in elders}
    return SheetSelection(
        elder_ids=sorted(int(e["id"]) for e in elders),
        district_id=districts.pop() if len(districts) == 1 else None,
        filename=filename,
    )


async def sheet_faces(
    actor: Actor, elder_ids: Sequence[int], *, now: dt.datetime | None = None
) -> list[CardFace]:
    """The faces of a sheet, sorted by community then name; elders without a live card get one
    first (one transaction, one ``card.issue_batch`` row per district). Safe to repeat: a second
    call finds the cards the first issued and issues none (a retried job reprints the same cards)."""
    now = now or utcnow()
    ids = sorted(set(elder_ids))
    async with write_transaction():
        elders = await Elder.select(*_SHEET_COLS).where(any_of(Elder.id, ids)) if ids else []
        if not elders:
            raise DomainError("card_sheet_empty")
        await _issue_missing(actor, elders, now, note="printed on a card sheet")
        live = {
            int(r["elder"]): r
            for r in await Card.select(Card.elder, Card.serial, Card.number).where(
                any_of(Card.elder, [int(e["id"]) for e in elders]) & Card.revoked_at.is_null()
            )
        }
    keys = card_keys()
    hotline = get_settings().hotline
    elders = sorted(elders, key=lambda e: (e["community_name"] or "", e["name"], e["id"]))
    return [
        CardFace(
            display_name=e["name"],
            community_name=e["community_name"] or "",
            card_number=live[int(e["id"])]["number"],
            token=issue_token(keys, int(e["id"]), int(live[int(e["id"])]["serial"])),
            hotline=hotline,
        )
        for e in elders
    ]


async def cards_sheet_pdf(
    actor: Principal,
    *,
    elder_ids: Sequence[int] | None = None,
    community_id: int | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """An A4 PDF of cards (10 per page) for the listed elders or every active elder of a community,
    in this process (the CLI and benchmarks; requests queue ``registry.card_sheet`` instead).

    Elders without a live card get one first (see the module docstring); cards come out sorted
    by community, then name. An elder or community outside the actor's districts is
    ``not_found``; nobody to print is ``card_sheet_empty``.
    """
    chosen = await select_sheet(actor, elder_ids=elder_ids, community_id=community_id)
    return render_sheet_pdf(await sheet_faces(actor, chosen.elder_ids, now=now))


async def submit_sheet(
    actor: Principal,
    *,
    elder_ids: Sequence[int] | None = None,
    community_id: int | None = None,
    now: dt.datetime | None = None,
) -> queue.JobRunView:
    """Check a sheet request (scope, selection) and queue ``registry.card_sheet``; the run.
    Asking again for the same cards while it runs joins the first run."""
    chosen = await select_sheet(actor, elder_ids=elder_ids, community_id=community_id)
    digest = hashlib.sha256(",".join(map(str, chosen.elder_ids)).encode()).hexdigest()[:32]
    return await queue.submit(
        "registry.card_sheet",
        {"elder_ids": chosen.elder_ids, "filename": chosen.filename},
        user_id=actor.user_id,
        district_id=chosen.district_id,
        key=f"{actor.user_id}:{digest}",
        now=now,
    )


async def print_choices(actor: Principal) -> list[CommunityChoice]:
    """Communities whose card sheets the actor may print."""
    _require_card_role(actor)
    query = Community.select(Community.id, Community.name, Community.district).order_by(Community.name)
    visible = None if actor.is_admin else actor.district_ids(OFFICIAL)
    if visible is not None:
        if not visible:
            return []
        query = query.where(Community.district.is_in(sorted(visible)))
    return [CommunityChoice(id=r["id"], name=r["name"], district_id=r["district"]) for r in await query]
