"""The elder registry: register, edit, search and read elders; the facts the counter needs.

Who may do what (object scope is decided here, not by route guards)::

    role       reads elders of                     sees                                   writes  full ID
    admin      every district                      everything                             yes     yes
    official   their district(s)                   everything                             yes     yes
    operator   districts of their sites            everything but the full ID             no      no
    courier    districts of their sites            name, masked ID, contact, address, diet no      no
    cashier    districts of their sites            name, masked ID, categories, diet      no      no
    kitchen    districts of their sites            name, masked ID, diet                  no      no

Community workers act as officials of their district. An elder outside every district a
principal may read is ``not_found`` (never ``forbidden``: the id says nothing about who
exists elsewhere); a reader who may not write gets ``forbidden``. Fields a role may not
see are ``None`` in the view, grouped as ``contact``, ``categories``, ``diet`` and
``record`` (see ``ElderView.access``); several roles add up.

The national ID is stored encrypted (context ``elder.national_id``) and found by a keyed
hash, unique per district; it is shown masked, and every full view writes an audit row
``elder.id_viewed``. Every write runs in one ``write_transaction`` with its audit row.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import msgspec
from msgspec import UNSET

from canteen.accounts.passwords import hash_password_async
from canteen.accounts.roles import (
    ADMIN,
    CASHIER,
    COMMUNITY_WORKER,
    COURIER,
    KITCHEN,
    OFFICIAL,
    OPERATOR,
    Principal,
)
from canteen.core import audit
from canteen.core.categories import (
    ALLERGENS,
    CATEGORIES,
    CATEGORY_LABELS,
    DELIVERY_ELIGIBLE_CATEGORIES,
    DELIVERY_ELIGIBLE_MIN_AGE,
    DIET_TAGS,
    sorted_allergens,
)
from canteen.core.clock import local_date, utcnow
from canteen.core.crypto import PiiCipher
from canteen.core.db import UniqueViolation, any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import check_key, run_once
from canteen.core.tables import AuditEntry
from canteen.regions.tables import Community, District
from canteen.registry.cards import parse_card_number
from canteen.registry.importing import normalise_phone
from canteen.registry.national_id import (
    NationalId,
    age_on,
    mask_national_id,
    normalise_national_id,
    parse_national_id,
)
from canteen.registry.schemas import (
    ELDER_STATUSES,
    AgeBand,
    CategoryGrant,
    CategoryIn,
    CategoryView,
    ElderBrief,
    ElderCreate,
    ElderFacts,
    ElderList,
    ElderPatch,
    ElderSummary,
    ElderView,
    HistoryEntry,
    StatusEventView,
)
from canteen.registry.tables import Card, Elder, ElderCategory, ElderStatusEvent
from canteen.settings import get_settings

register("elder_duplicate_id", 409)
register("unknown_category", 422)
register("unknown_diet_tag", 422)
register("unknown_allergen", 422)
register("category_dates_invalid", 422)
register("elder_birth_date_future", 422)
register("elder_birth_date_mismatch", 422)
register("elder_gender_mismatch", 422)
register("pin_invalid", 422)
register("pin_too_weak", 422)
register("delivery_grant_until_past", 422)

NATIONAL_ID_CONTEXT = "elder.national_id"
INT4_MAX = 2_147_483_647
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

# Field groups a role may see (see the module docstring).
CONTACT, CATEGORY_GROUP, DIET, RECORD = "contact", "categories", "diet", "record"
FULL_ACCESS = frozenset({CONTACT, CATEGORY_GROUP, DIET, RECORD})
ROLE_ACCESS: dict[str, frozenset[str]] = {
    OPERATOR: FULL_ACCESS,
    COURIER: frozenset({CONTACT, DIET}),
    CASHIER: frozenset({CATEGORY_GROUP, DIET}),
    KITCHEN: frozenset({DIET}),
}
_AUDITED_FIELDS = (
    "name",
    "gender",
    "birth_date",
    "national_id",
    "community",
    "district",
    "phone",
    "address",
    "lat",
    "lon",
    "living_situation",
    "diet",
    "diet_note",
    "allergies",
    "allergens",
    "texture_level",
    "emergency_name",
    "emergency_phone",
    "categories",
)


# --- helpers shared with the import service -----------------------------------------------


@lru_cache(maxsize=2)
def _cipher_for(key_hex: str) -> PiiCipher:
    return PiiCipher.from_hex(key_hex)


def cipher() -> PiiCipher:
    """The PII cipher built from settings (cached: HKDF runs once per key)."""
    return _cipher_for(get_settings().pii_key)


def today_of(now: dt.datetime) -> dt.date:
    """The service day of ``now`` in the service time zone."""
    return local_date(now, get_settings().tz)


def id_hash(number: str) -> str:
    return cipher().lookup_hash(number, scope="national_id")


def encrypt_id(number: str) -> str:
    return cipher().encrypt(number, context=NATIONAL_ID_CONTEXT)


def decrypt_id(token: str) -> str:
    return cipher().decrypt(token, context=NATIONAL_ID_CONTEXT)


def masked_id(token: str) -> str:
    return mask_national_id(decrypt_id(token))


def shown_id(row: dict[str, Any]) -> str:
    """The masked ID of an elder row: the stored mask (no decryption), else computed from
    ``national_id_enc`` for a row written before the mask was stored."""
    return str(row.get("national_id_masked") or "") or masked_id(row["national_id_enc"])


def _valid_id(value: int | None) -> bool:
    return value is not None and 1 <= value <= INT4_MAX


def access_of(actor: Principal, district_id: int, community_id: int | None = None) -> frozenset[str] | None:
    """The field groups ``actor`` may see of an elder in ``district_id`` (living in
    ``community_id``, when the caller knows it); None: not at all.

    A community worker sees everything of its own communities' elders and nothing of the rest of
    the district; a volunteer sees nothing here (its visits carry what it needs)."""
    if actor.can_district(district_id):
        return FULL_ACCESS
    if community_id is not None and _community_writer(actor, community_id):
        return FULL_ACCESS
    groups: set[str] = set()
    for g in actor.grants:
        if g.site_id is not None and actor.site_districts.get(g.site_id) == district_id:
            groups |= ROLE_ACCESS.get(g.role, frozenset())
    return frozenset(groups) if groups else None


def require_writer(actor: Principal) -> None:
    if not actor.has_role(ADMIN, OFFICIAL):
        raise DomainError("forbidden", {"needs_role": [ADMIN, OFFICIAL]})


def _community_writer(actor: Principal, community_id: int | None) -> bool:
    return community_id is not None and int(community_id) in actor.community_ids(COMMUNITY_WORKER)


def may_edit(actor: Principal, district_id: int, community_id: int | None) -> bool:
    """May change an elder's record (not its status, delivery grant, PIN or cards): an admin, an
    official of the district, or a community worker of the elder's community."""
    if actor.has_role(ADMIN, OFFICIAL) and actor.can_district(district_id):
        return True
    return _community_writer(actor, community_id)


async def writable_community(actor: Principal, community_id: int) -> dict[str, Any]:
    """The community (with its district and street) if the actor may register elders in it."""
    row = None
    if _valid_id(community_id):
        row = (
            await Community.select(Community.id, Community.name, Community.district, Community.street)
            .where(Community.id == community_id)
            .first()
        )
    if row is None or not (
        actor.can_district(int(row["district"])) or _community_writer(actor, community_id)
    ):
        raise DomainError("not_found", {"field": "community_id", "community_id": community_id})
    return row


def writable_district(actor: Principal, district_id: int) -> None:
    require_writer(actor)
    if not _valid_id(district_id) or not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})


def check_categories(items: Sequence[CategoryIn], today: dt.date) -> list[dict[str, Any]]:
    """Validated category rows (``valid_from`` defaulting to today); refuses unknown codes."""
    out: dict[str, dict[str, Any]] = {}
    for c in items:
        if c.code not in CATEGORIES:
            raise DomainError("unknown_category", {"field": "categories", "code": c.code})
        start = c.valid_from or today
        if c.valid_until is not None and c.valid_until < start:
            raise DomainError("category_dates_invalid", {"field": "categories", "code": c.code})
        out[c.code] = {"code": c.code, "valid_from": start, "valid_until": c.valid_until, "note": c.note}
    return [out[k] for k in sorted(out)]


def check_diet(tags: Iterable[str]) -> list[str]:
    tags = sorted(set(tags))
    for t in tags:
        if t not in DIET_TAGS:
            raise DomainError("unknown_diet_tag", {"field": "diet", "code": t})
    return tags


def check_allergens(codes: Iterable[str]) -> list[str]:
    """Allergen group codes, known ones only (``unknown_allergen`` naming the field otherwise),
    deduplicated in the vocabulary's order."""
    for c in codes:
        if c not in ALLERGENS:
            raise DomainError("unknown_allergen", {"field": "allergens", "code": c})
    return sorted_allergens(codes)


def parse_elder_id(text: str, birth_date: dt.date | None, gender: str | None, today: dt.date) -> NationalId:
    """Parse the ID; a birth date or gender typed beside it must agree with it."""
    if birth_date is not None and birth_date > today:
        raise DomainError("elder_birth_date_future", {"field": "birth_date"})
    try:
        parsed = parse_national_id(text, today=today)
    except DomainError as err:
        err.detail.setdefault("field", "national_id")
        raise
    if birth_date is not None and birth_date != parsed.birth_date:
        raise DomainError("elder_birth_date_mismatch", {"field": "birth_date"})
    if gender is not None and gender != parsed.gender:
        raise DomainError("elder_gender_mismatch", {"field": "gender"})
    return parsed


def category_valid(row: dict[str, Any], day: dt.date) -> bool:
    return bool(row["valid_from"] <= day and (row["valid_until"] is None or row["valid_until"] >= day))


def age_band(age: int) -> AgeBand | None:
    if age >= 100:
        return "100+"
    if age >= 90:
        return "90+"
    if age >= 80:
        return "80+"
    return None


def audit_state(row: dict[str, Any], categories: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An elder as the audit trail records it: the ID masked, no hashes, categories as text."""
    state = {k: row.get(k) for k in _AUDITED_FIELDS if k not in ("national_id", "categories")}
    state["national_id"] = masked_id(row["national_id_enc"])
    state["diet"] = list(row.get("diet") or [])
    state["allergens"] = list(row.get("allergens") or [])
    state["categories"] = [
        f"{c['code']}:{c['valid_from']}..{c['valid_until'] or ''}"
        for c in sorted(categories, key=lambda c: c["code"])
    ]
    return state


async def elder_row(elder_id: int) -> dict[str, Any] | None:
    if not _valid_id(elder_id):
        return None
    row: dict[str, Any] | None = (
        await Elder.select(*Elder.all_columns(), Elder.community.name.as_alias("community_name"))
        .where(Elder.id == elder_id)
        .first()
        .output(load_json=True)
    )
    return row


async def category_rows(elder_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not elder_ids:
        return []
    rows: list[dict[str, Any]] = (
        await ElderCategory.select(
            ElderCategory.elder,
            ElderCategory.code,
            ElderCategory.valid_from,
            ElderCategory.valid_until,
            ElderCategory.note,
        )
        .where(any_of(ElderCategory.elder, list(elder_ids)))
        .order_by(ElderCategory.code)
    )
    return rows


async def _readable(actor: Principal, elder_id: int) -> tuple[dict[str, Any], frozenset[str]]:
    row = await elder_row(elder_id)
    access = access_of(actor, int(row["district"]), row["community"]) if row is not None else None
    if row is None or access is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    return row, access


async def _writable(actor: Principal, elder_id: int, *, record_only: bool = False) -> dict[str, Any]:
    """The elder row if ``actor`` may write it. ``record_only``: the write changes the record's
    fields only (``update_elder``), which a community worker of the elder's community may do;
    status, delivery grants and PINs stay with the district's officials."""
    row, _ = await _readable(actor, elder_id)
    if record_only and may_edit(actor, int(row["district"]), row["community"]):
        return row
    require_writer(actor)
    if not actor.can_district(int(row["district"])):
        raise DomainError("forbidden", {"elder_id": elder_id})
    return row


def _version_guard(row: dict[str, Any], expected_version: int | None) -> None:
    if expected_version is not None and int(row["version"]) != expected_version:
        raise DomainError("conflict", {"elder_id": row["id"], "current_version": row["version"]})


async def _bump(elder_id: int, version: int, values: dict[Any, Any], now: dt.datetime) -> int:
    """Write ``values`` if the row is still at ``version`` (the optimistic referee)."""
    values = {**values, Elder.version: version + 1, Elder.updated_at: now}
    done = (
        await Elder.update(values)
        .where((Elder.id == elder_id) & (Elder.version == version))
        .returning(Elder.id)
    )
    if not done:
        raise DomainError("conflict", {"elder_id": elder_id})
    return version + 1


# --- writes -----------------------------------------------------------------------------------


async def register_elder(
    actor: Principal,
    data: ElderCreate,
    *,
    now: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> ElderView:
    """Register an elder: ID validated, encrypted and unique per district; categories, first
    status event and audit row in one transaction. A retry with the same ``idempotency_key``
    returns the elder the first call created."""
    now = now or utcnow()
    today = today_of(now)
    # Officials register in their districts, community workers in their communities only
    # (``writable_community`` checks which).
    if not actor.has_role(ADMIN, OFFICIAL, COMMUNITY_WORKER):
        raise DomainError("forbidden", {"needs_role": [ADMIN, OFFICIAL, COMMUNITY_WORKER]})
    key = check_key(idempotency_key)
    categories = check_categories(data.categories, today)
    diet = check_diet(data.diet)
    allergens = check_allergens(data.allergens)
    parsed = parse_elder_id(data.national_id, data.birth_date, data.gender, today)
    number_hash = id_hash(parsed.number)

    async def effect() -> tuple[int, Any]:
        community = await writable_community(actor, data.community_id)
        district_id = int(community["district"])
        if await Elder.exists().where(
            (Elder.district == district_id) & (Elder.national_id_hash == number_hash)
        ):
            raise DomainError("elder_duplicate_id", {"field": "national_id"})
        values = {
            "district": district_id,
            "community": int(community["id"]),
            "name": data.name.strip(),
            "gender": parsed.gender,
            "birth_date": parsed.birth_date,
            "national_id_enc": encrypt_id(parsed.number),
            "national_id_masked": mask_national_id(parsed.number),
            "national_id_hash": number_hash,
            "id_last4": parsed.number[-4:],
            "phone": data.phone.strip(),
            "address": data.address.strip(),
            "lat": data.lat,
            "lon": data.lon,
            "living_situation": data.living_situation,
            "diet": diet,
            "diet_note": data.diet_note.strip(),
            "allergies": data.allergies.strip(),
            "allergens": allergens,
            "texture_level": data.texture_level,
            "emergency_name": data.emergency_name.strip(),
            "emergency_phone": data.emergency_phone.strip(),
            "status": "active",
            "status_changed_at": now,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        rows = await Elder.insert(Elder(**values)).returning(Elder.id)  # type: ignore[arg-type]
        elder_id = int(rows[0]["id"])
        await _insert_categories(elder_id, categories, now)
        await ElderStatusEvent.insert(
            ElderStatusEvent(
                elder=elder_id, status="active", reason="registered", at=now, actor_id=actor.user_id
            )
        )
        await audit.record(
            actor,
            "elder.create",
            "elder",
            elder_id,
            district_id=district_id,
            after=audit_state(values, categories),
            now=now,
        )
        # Only the id is kept for a replay: the stored answer must not copy personal data.
        return 201, {"id": elder_id}

    try:
        outcome = await run_once("elder.create", key, msgspec.to_builtins(data), effect, now=now)
    except UniqueViolation:
        raise DomainError("elder_duplicate_id", {"field": "national_id"}) from None
    return await get_elder(actor, int(outcome.body["id"]), today=today)


async def _insert_categories(elder_id: int, categories: Sequence[dict[str, Any]], now: dt.datetime) -> None:
    if categories:
        await ElderCategory.insert(
            *[
                ElderCategory(
                    elder=elder_id,
                    code=c["code"],
                    valid_from=c["valid_from"],
                    valid_until=c["valid_until"],
                    note=c.get("note") or "",
                    created_at=now,
                )
                for c in categories
            ]
        )


def _same_categories(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> bool:
    def key(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((c["code"], c["valid_from"], c["valid_until"], c.get("note") or "") for c in rows)

    return key(a) == key(b)


async def replace_categories(
    elder_id: int, old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], now: dt.datetime
) -> bool:
    """Replace an elder's categories when they differ; True if anything changed."""
    if _same_categories(old, new):
        return False
    await ElderCategory.delete().where(ElderCategory.elder == elder_id)
    await _insert_categories(elder_id, new, now)
    return True


_PATCH_TEXT = ("phone", "address", "diet_note", "allergies", "emergency_name", "emergency_phone")


async def update_elder(
    actor: Principal,
    elder_id: int,
    patch: ElderPatch,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ElderView:
    """Change an elder's record if it is still at ``expected_version`` (else ``conflict``).

    The ID number may be corrected (birth date and gender follow it); moving to a
    community of another district needs write access there too. The audit row holds
    only the fields that changed, which is the record's history.
    """
    now = now or utcnow()
    today = today_of(now)
    expected = patch.version if expected_version is None else expected_version
    async with write_transaction():
        row = await _writable(actor, elder_id, record_only=True)
        _version_guard(row, expected)
        old_categories = await category_rows([elder_id])
        new = dict(row)
        if patch.name is not UNSET:
            new["name"] = patch.name.strip()
        for f in _PATCH_TEXT:
            value = getattr(patch, f)
            if value is not UNSET:
                new[f] = value.strip()
        for f in ("lat", "lon", "living_situation"):
            value = getattr(patch, f)
            if value is not UNSET:
                new[f] = value
        if patch.diet is not UNSET:
            new["diet"] = check_diet(patch.diet)
        if patch.allergens is not UNSET:
            new["allergens"] = check_allergens(patch.allergens)
        if patch.texture_level is not UNSET:
            new["texture_level"] = patch.texture_level
        categories = old_categories
        if patch.categories is not UNSET:
            categories = check_categories(patch.categories, today)
        if patch.community_id is not UNSET and patch.community_id != row["community"]:
            community = await writable_community(actor, patch.community_id)
            new["community"], new["district"] = int(community["id"]), int(community["district"])
        if patch.national_id is not UNSET:
            parsed = parse_elder_id(patch.national_id, None, None, today)
            if parsed.number != decrypt_id(row["national_id_enc"]):
                new.update(
                    national_id_enc=encrypt_id(parsed.number),
                    national_id_masked=mask_national_id(parsed.number),
                    national_id_hash=id_hash(parsed.number),
                    id_last4=parsed.number[-4:],
                    birth_date=parsed.birth_date,
                    gender=parsed.gender,
                )
        if new["national_id_hash"] != row["national_id_hash"] or new["district"] != row["district"]:
            clash = await Elder.exists().where(
                (Elder.district == new["district"])
                & (Elder.national_id_hash == new["national_id_hash"])
                & (Elder.id != elder_id)
            )
            if clash:
                raise DomainError("elder_duplicate_id", {"field": "national_id"})
        before, after = audit.changes(audit_state(row, old_categories), audit_state(new, categories))
        if before or after:
            values = {
                getattr(Elder, k): new[k]
                for k in (
                    "name",
                    "gender",
                    "birth_date",
                    "national_id_enc",
                    "national_id_masked",
                    "national_id_hash",
                    "id_last4",
                    "community",
                    "district",
                    "lat",
                    "lon",
                    "living_situation",
                    "diet",
                    "allergens",
                    "texture_level",
                    *_PATCH_TEXT,
                )
                if new[k] != row[k]
            }
            await _bump(elder_id, int(row["version"]), values, now)
            await replace_categories(elder_id, old_categories, categories, now)
            await audit.record(
                actor,
                "elder.update",
                "elder",
                elder_id,
                district_id=int(new["district"]),
                before=before,
                after=after,
                now=now,
            )
    return await get_elder(actor, elder_id, today=today)


async def set_status(
    actor: Principal,
    elder_id: int,
    status: str,
    reason: str = "",
    *,
    now: dt.datetime | None = None,
) -> ElderView:
    """Set active / suspended / moved / deceased, with a status event and an audit row."""
    now = now or utcnow()
    if status not in ELDER_STATUSES:
        raise DomainError("validation_failed", {"field": "status"})
    async with write_transaction():
        row = await _writable(actor, elder_id)
        if row["status"] != status:
            await _bump(
                elder_id, int(row["version"]), {Elder.status: status, Elder.status_changed_at: now}, now
            )
            await ElderStatusEvent.insert(
                ElderStatusEvent(
                    elder=elder_id, status=status, reason=reason[:300], at=now, actor_id=actor.user_id
                )
            )
            await audit.record(
                actor,
                "elder.status",
                "elder",
                elder_id,
                district_id=int(row["district"]),
                before={"status": row["status"]},
                after={"status": status},
                note=reason[:300],
                now=now,
            )
    return await get_elder(actor, elder_id, today=today_of(now))


async def grant_delivery(
    actor: Principal,
    elder_id: int,
    reason: str,
    until: dt.date | None,
    *,
    now: dt.datetime | None = None,
) -> ElderView:
    """Record a case worker's decision that the elder may have meals delivered (``until`` inclusive,
    None: until revoked). Categories and age 90+ make an elder eligible without a grant."""
    now = now or utcnow()
    today = today_of(now)
    reason = reason.strip()
    if not reason or len(reason) > 300:
        raise DomainError("validation_failed", {"field": "reason"})
    if until is not None and until < today:
        raise DomainError("delivery_grant_until_past", {"field": "until"})
    async with write_transaction():
        row = await _writable(actor, elder_id)
        await _bump(
            elder_id,
            int(row["version"]),
            {
                Elder.delivery_grant_reason: reason,
                Elder.delivery_grant_until: until,
                Elder.delivery_granted_by: actor.user_id,
            },
            now,
        )
        await audit.record(
            actor,
            "elder.delivery_grant",
            "elder",
            elder_id,
            district_id=int(row["district"]),
            before={"reason": row["delivery_grant_reason"], "until": row["delivery_grant_until"]},
            after={"reason": reason, "until": until},
            now=now,
        )
    return await get_elder(actor, elder_id, today=today)


_PIN = re.compile(r"^[0-9]{4,6}$")
_COMMON_PINS = frozenset({"1122", "112233", "111222", "520520", "5201314", "147258", "159753", "1314"})


def pin_is_weak(pin: str, birth_date: dt.date | None = None) -> bool:
    """Same digit, a run up or down, a repeated half, a well-known PIN or the birthday."""
    if len(set(pin)) == 1 or pin in _COMMON_PINS:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {9}):
        return True
    half = len(pin) // 2
    if len(pin) % 2 == 0 and pin[:half] == pin[half:]:
        return True
    if len(pin) == 6 and pin[:2] * 3 == pin:
        return True
    if birth_date is not None:
        b = birth_date
        if pin in {f"{b:%Y}", f"{b:%m%d}", f"{b:%y%m%d}", f"{b:%m%d%y}", f"{b:%d%m%y}", f"{b:%d%m}"}:
            return True
    return False


async def set_pin(actor: Principal, elder_id: int, pin: str, *, now: dt.datetime | None = None) -> None:
    """Set the elder's 4–6 digit PIN (argon2 hash); refuses trivial PINs with ``pin_too_weak``."""
    now = now or utcnow()
    if not _PIN.match(pin):
        raise DomainError("pin_invalid", {"field": "pin"})
    row = await _writable(actor, elder_id)
    if pin_is_weak(pin, row["birth_date"]):
        raise DomainError("pin_too_weak", {"field": "pin"})
    pin_hash = await hash_password_async(pin)  # slow on purpose: off the loop, outside the transaction
    async with write_transaction():
        row = await _writable(actor, elder_id)
        await _bump(
            elder_id,
            int(row["version"]),
            {
                Elder.pin_hash: pin_hash,
                Elder.pin_failures: 0,
                Elder.pin_locked_until: None,
                Elder.pin_lockouts: 0,
            },
            now,
        )
        await audit.record(
            actor,
            "elder.pin_set",
            "elder",
            elder_id,
            district_id=int(row["district"]),
            before={"has_pin": row["pin_hash"] is not None},
            after={"has_pin": True},
            now=now,
        )


# --- reads ------------------------------------------------------------------------------------


def delivery_reasons(
    row: dict[str, Any], categories: Sequence[dict[str, Any]], age: int, today: dt.date
) -> tuple[bool, list[str]]:
    """The registry's delivery rule: (eligible, why) from an elder row, its categories and age.

    Eligible by a category that qualifies (valid ``today``), by age, or by a grant still running.
    The reasons are stable codes (``category:<code>``, ``age:80+``, ``grant``)."""
    reasons = [
        f"category:{c['code']}"
        for c in categories
        if c["code"] in DELIVERY_ELIGIBLE_CATEGORIES and category_valid(c, today)
    ]
    if age >= DELIVERY_ELIGIBLE_MIN_AGE:
        reasons.append(f"age:{DELIVERY_ELIGIBLE_MIN_AGE}+")
    until = row["delivery_grant_until"]
    if row["delivery_grant_reason"] and (until is None or until >= today):
        reasons.append("grant")
    return bool(reasons), reasons


async def get_elder(actor: Principal, elder_id: int, *, today: dt.date | None = None) -> ElderView:
    """One elder as ``actor`` may see them (masked ID; see the access matrix above)."""
    today = today or today_of(utcnow())
    row, access = await _readable(actor, elder_id)
    age = age_on(row["birth_date"], today)
    district_id = int(row["district"])
    view = ElderView(
        id=int(row["id"]),
        district_id=district_id,
        community_id=int(row["community"]),
        community_name=row["community_name"] or "",
        name=row["name"],
        gender=row["gender"],
        masked_id=masked_id(row["national_id_enc"]),
        age=age,
        age_band=age_band(age),
        status=row["status"],
        access=sorted(access),
        can_edit=may_edit(actor, district_id, row["community"]),
        can_reveal_id=actor.can_district(district_id) or _community_writer(actor, row["community"]),
    )
    if CATEGORY_GROUP in access:
        cats = await category_rows([elder_id])
        view.categories = [
            CategoryView(
                code=c["code"],
                label_zh=CATEGORY_LABELS[c["code"]].zh if c["code"] in CATEGORY_LABELS else c["code"],
                label_en=CATEGORY_LABELS[c["code"]].en if c["code"] in CATEGORY_LABELS else c["code"],
                valid_from=c["valid_from"],
                valid_until=c["valid_until"],
                valid=category_valid(c, today),
                note=c["note"] or "",
            )
            for c in cats
        ]
        view.delivery_eligible, view.delivery_reasons = delivery_reasons(row, cats, age, today)
        view.delivery_grant_reason = row["delivery_grant_reason"]
        view.delivery_grant_until = row["delivery_grant_until"]
    if CONTACT in access:
        for f in ("phone", "address", "lat", "lon", "living_situation", "emergency_name", "emergency_phone"):
            setattr(view, f, row[f])
    if DIET in access:
        view.diet = list(row["diet"] or [])
        view.allergens = list(row.get("allergens") or [])
        view.texture_level = row.get("texture_level")
        view.diet_note = row["diet_note"]
        view.allergies = row["allergies"]
    if RECORD in access:
        events = (
            await ElderStatusEvent.select()
            .where(ElderStatusEvent.elder == elder_id)
            .order_by(ElderStatusEvent.id, ascending=False)
        )
        view.status_history = [
            StatusEventView(status=e["status"], reason=e["reason"], at=e["at"], actor_id=e["actor_id"])
            for e in events
        ]
        view.birth_date = row["birth_date"]
        view.has_pin = row["pin_hash"] is not None
        view.version = int(row["version"])
        view.created_at = row["created_at"]
        view.updated_at = row["updated_at"]
    return view


async def reveal_national_id(actor: Principal, elder_id: int, *, now: dt.datetime | None = None) -> str:
    """The full ID number, for an admin, an official of the elder's district or a community worker
    of the elder's community; audited every time."""
    now = now or utcnow()
    async with write_transaction():
        row, _ = await _readable(actor, elder_id)
        if not (actor.can_district(int(row["district"])) or _community_writer(actor, row["community"])):
            raise DomainError("forbidden", {"elder_id": elder_id})
        await audit.record(
            actor, "elder.id_viewed", "elder", elder_id, district_id=int(row["district"]), now=now
        )
    return decrypt_id(row["national_id_enc"])


def _like(text: str) -> str:
    # LIKE wildcards typed by a person are taken literally by dropping them (names never hold them).
    return "%" + text.replace("%", "").replace("_", "") + "%"


async def search_elders(
    actor: Principal,
    q: str | None = None,
    community_id: int | None = None,
    category: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
    *,
    today: dt.date | None = None,
) -> ElderList:
    """Elders the actor may read, oldest registration first. ``q`` matches a name substring, a
    phone, the last 4 characters of the ID, a full ID number (by its hash) or a live card's number."""
    today = today or today_of(utcnow())
    limit = max(1, min(limit, MAX_LIMIT))
    visible = actor.visible_district_ids()
    # Community workers read their communities' elders, not their districts' (a community grant
    # makes its district visible for configuration only: see Principal.visible_district_ids).
    own_communities = sorted(actor.community_ids(COMMUNITY_WORKER))
    if visible is not None:
        visible = frozenset(d for d in visible if access_of(actor, d) is not None)
        if not visible and not own_communities:
            return ElderList(items=[])

    def districts_with(group: str) -> list[int] | None:
        if visible is None:
            return None
        return sorted(d for d in visible if group in (access_of(actor, d) or ()))

    def in_scope(districts: list[int]) -> Any:
        # Rows of these districts, or of the actor's own communities (full access there).
        where: Any = Elder.district.is_in(districts or [-1])
        return where | Elder.community.is_in(own_communities) if own_communities else where

    query = (
        Elder.select(
            Elder.id,
            Elder.name,
            Elder.national_id_enc,
            Elder.community,
            Elder.district,
            Elder.status,
            Elder.birth_date,
            Elder.phone,
            Elder.community.name.as_alias("community_name"),
        )
        .order_by(Elder.id)
        .limit(limit + 1)
    )
    if visible is not None:
        query = query.where(in_scope(sorted(visible)))
    if cursor is not None:
        query = query.where(Elder.id > min(cursor, INT4_MAX))
    if community_id is not None:
        query = query.where(Elder.community == min(community_id, INT4_MAX))
    if status:
        query = query.where(Elder.status == status)
    if category:
        cat_districts = districts_with(CATEGORY_GROUP)
        if cat_districts is not None:
            query = query.where(in_scope(cat_districts))
        query = query.where(
            Elder.id.is_in(
                ElderCategory.select(ElderCategory.elder).where(
                    (ElderCategory.code == category)
                    & (ElderCategory.valid_from <= today)
                    & (ElderCategory.valid_until.is_null() | (ElderCategory.valid_until >= today))
                )
            )
        )
    text = (q or "").strip()[:60]
    if text:
        conds: list[Any] = []
        if text.replace("%", "").replace("_", ""):
            conds.append(Elder.name.like(_like(text)))
        number = normalise_national_id(text)
        if re.fullmatch(r"[0-9X]{4}", number):
            conds.append(Elder.id_last4 == number)
        elif re.fullmatch(r"[0-9]{17}[0-9X]", number):
            conds.append(Elder.national_id_hash == id_hash(number))
        digits = re.sub(r"[\s\-()+]", "", text)
        if digits.isascii() and digits.isdigit() and len(digits) >= 7:
            phone = normalise_phone(text)
            cond: Any = Elder.phone.like(_like(digits))
            if phone and phone != digits:
                cond = cond | (Elder.phone == phone)
            contact_districts = districts_with(CONTACT)
            if contact_districts is not None:
                cond = cond & in_scope(contact_districts)
            conds.append(cond)
        try:
            card = parse_card_number(text)
        except DomainError:
            card = None
        if card is not None:
            conds.append(
                Elder.id.is_in(
                    Card.select(Card.elder).where((Card.number == card) & Card.revoked_at.is_null())
                )
            )
        if not conds:
            return ElderList(items=[])
        query = query.where(functools.reduce(operator.or_, conds))
    rows = await query
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1]["id"])
    cats = await category_rows([int(r["id"]) for r in rows])
    valid_codes: dict[int, list[str]] = {}
    for c in cats:
        if category_valid(c, today):
            valid_codes.setdefault(int(c["elder"]), []).append(c["code"])
    items = []
    for r in rows:
        access = access_of(actor, int(r["district"]), int(r["community"])) or frozenset()
        items.append(
            ElderSummary(
                id=int(r["id"]),
                name=r["name"],
                masked_id=masked_id(r["national_id_enc"]),
                community_id=int(r["community"]),
                community_name=r["community_name"] or "",
                district_id=int(r["district"]),
                status=r["status"],
                age=age_on(r["birth_date"], today),
                categories=valid_codes.get(int(r["id"]), []) if CATEGORY_GROUP in access else [],
                phone=r["phone"] if CONTACT in access else None,
            )
        )
    return ElderList(items=items, next_cursor=next_cursor)


_COUNTER_STREET = Elder.community.street.as_alias("street_id")


async def _counter_rows(elder_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = None
    if _valid_id(elder_id):
        row = (
            await Elder.select(
                Elder.id,
                Elder.name,
                Elder.national_id_enc,
                Elder.national_id_masked,
                Elder.status,
                Elder.district,
                Elder.diet,
                Elder.allergens,
                Elder.texture_level,
                Elder.birth_date,
                _COUNTER_STREET,
            )
            .where(Elder.id == elder_id)
            .first()
            .output(load_json=True)
        )
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    return row, await category_rows([elder_id])


def _facts(row: dict[str, Any], cats: list[dict[str, Any]]) -> ElderFacts:
    return ElderFacts(
        member=True,
        birth_date=row["birth_date"],
        categories=[
            CategoryGrant(code=c["code"], valid_from=c["valid_from"], valid_until=c["valid_until"])
            for c in cats
        ][:32],
        home_street_id=int(row["street_id"]) if row["street_id"] else None,
        home_district_id=int(row["district"]),
    )


def _brief(row: dict[str, Any], cats: list[dict[str, Any]], today: dt.date) -> ElderBrief:
    return ElderBrief(
        id=int(row["id"]),
        display_name=row["name"],
        masked_id=shown_id(row),
        categories=[c["code"] for c in cats if category_valid(c, today)],
        status=row["status"],
        district_id=int(row["district"]),
        diet=list(row["diet"] or []),
        allergens=list(row.get("allergens") or []),
        texture_level=row.get("texture_level"),
    )


async def elder_facts(elder_id: int, *, today: dt.date | None = None) -> ElderFacts:
    """What the subsidy rules need about a registered elder (the counter calls this after its
    own scope check). Every category is passed with its validity: the rules judge the meal date.
    ``member`` is True for any registered elder; the counter refuses a non-active status
    (``elder_brief(...).status``) before quoting."""
    return _facts(*await _counter_rows(elder_id))


async def elder_brief(elder_id: int, *, today: dt.date | None = None) -> ElderBrief:
    """Name, masked ID, categories valid ``today``, status, district and diet: the counter's view."""
    row, cats = await _counter_rows(elder_id)
    return _brief(row, cats, today or today_of(utcnow()))


async def counter_view(elder_id: int, *, today: dt.date) -> tuple[ElderBrief, ElderFacts]:
    """Both views the counter needs, from one read of the elder and one of its categories."""
    row, cats = await _counter_rows(elder_id)
    return _brief(row, cats, today), _facts(row, cats)


def counter_view_of(
    row: dict[str, Any], cats: list[dict[str, Any]], *, today: dt.date
) -> tuple[ElderBrief, ElderFacts]:
    """:func:`counter_view` from rows the caller read itself (the counter's one read): the elder
    row with ``_counter_rows``' columns and its categories (code, valid_from, valid_until)."""
    return _brief(row, cats, today), _facts(row, cats)


async def elder_history(actor: Principal, elder_id: int, *, limit: int = 50) -> list[HistoryEntry]:
    """The audited changes of an elder, newest first (readers with full access only)."""
    _, access = await _readable(actor, elder_id)
    if RECORD not in access:
        raise DomainError("forbidden", {"elder_id": elder_id})
    rows = (
        await AuditEntry.select(
            AuditEntry.at, AuditEntry.actor_name, AuditEntry.action, AuditEntry.before, AuditEntry.after
        )
        .where(
            (AuditEntry.target_type == "elder")
            & (AuditEntry.target_id == str(elder_id))
            # The record's own changes: visits, pauses and the like show in their own sections.
            & AuditEntry.action.like("elder.%")
        )
        .order_by(AuditEntry.id, ascending=False)
        .limit(max(1, min(limit, 200)))
        .output(load_json=True)
    )
    return [
        HistoryEntry(
            at=r["at"],
            actor_name=r["actor_name"],
            action=r["action"],
            before=r["before"] if isinstance(r["before"], dict) else None,
            after=r["after"] if isinstance(r["after"], dict) else None,
        )
        for r in rows
    ]


class CommunityChoice(msgspec.Struct):
    id: int
    name: str
    district_id: int


async def community_choices(actor: Principal, *, writable: bool = False) -> list[CommunityChoice]:
    """Communities for the pages' pickers: those the actor may read elders of (or write to)."""
    if writable:
        ids: frozenset[int] | None = None if actor.is_admin else actor.district_ids(OFFICIAL)
    else:
        seen = actor.visible_district_ids()
        ids = None if seen is None else frozenset(d for d in seen if access_of(actor, d) is not None)
    own = sorted(actor.community_ids(COMMUNITY_WORKER))
    query = (
        Community.select(Community.id, Community.name, Community.district).order_by(Community.id).limit(2000)
    )
    if ids is not None:
        if not ids and not own:
            return []
        cond: Any = Community.district.is_in(sorted(ids) or [-1])
        query = query.where(cond | Community.id.is_in(own) if own else cond)
    return [CommunityChoice(int(r["id"]), r["name"], int(r["district"])) for r in await query]


async def district_choices(actor: Principal) -> list[tuple[int, str]]:
    """Districts the actor may register or import elders in, as (id, name)."""
    query = District.select(District.id, District.name).order_by(District.id)
    if not actor.is_admin:
        ids = actor.district_ids(OFFICIAL)
        if not ids:
            return []
        query = query.where(District.id.is_in(sorted(ids)))
    return [(int(r["id"]), r["name"]) for r in await query]
