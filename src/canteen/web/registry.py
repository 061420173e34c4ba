"""Registry pages: search elders, a profile, register and edit, and the import wizard.

Forms arrive as strings and are judged field by field against the API's bounded Struct
types, so the page and the API accept exactly the same values; a refusal is shown next
to its field in words. Scope is decided by the same services the API calls.

The import wizard keeps the uploaded file between its steps in the key-value store (one
hour, bound to the user who uploaded it): upload → choose columns → dry run → import.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, COMMUNITY_WORKER, OFFICIAL
from canteen.core.categories import (
    ALLERGEN_LABELS,
    CATEGORY_LABELS,
    DIET_LABELS,
    TEXTURE_LEVELS,
    allergen_label,
    mode_label,
    slot_label,
    texture_level_label,
)
from canteen.core.errors import DomainError, register
from canteen.core.money import yuan
from canteen.i18n import gettext
from canteen.meals import usage
from canteen.orders import services as order_services
from canteen.orders.schemas import FamilyAccountIn
from canteen.payments import ledger
from canteen.registry import card_services, import_service, pin_lockout
from canteen.registry import services as svc
from canteen.registry.cards import mask_card_number
from canteen.registry.importing import FIELD_LABELS, MAX_IMPORT_BYTES
from canteen.registry.schemas import (
    ELDER_STATUSES,
    LIVING_SITUATIONS,
    CategoryIn,
    ColumnMapping,
    ElderCreate,
    ElderPatch,
    ElderView,
)
from canteen.web import notify as notify_pages  # care:notifications
from canteen.web.pages import page

register("import_upload_expired", 410)

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QStr = Annotated[str, QueryParameter(max_length=100)]
Token = Annotated[str, PathParameter(pattern=r"^[A-Za-z0-9_\-]{16,64}$")]
RunId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{16}$", max_length=16)]

# An elder's status in words ("Active" alone is a site's 启用; an elder is 在册).
STATUS_LABELS = {
    "active": "Registered",
    "suspended": "Suspended",
    "moved": "Moved away",
    "deceased": "Deceased",
}
LIVING_LABELS = {
    "alone": "Lives alone",
    "with_spouse": "With spouse",
    "with_children": "With children",
    "other": "Other",
}
GENDER_LABELS = {"male": "Male", "female": "Female"}
FIELD_HINTS = {
    "name": "Enter the name (1 to 50 characters).",
    "national_id": "Enter the 18-character ID number.",
    "community_id": "Choose a community.",
    "birth_date": "Enter a date like 1944-03-15, or leave it empty.",
    "gender": "Choose male or female, or leave it empty.",
    "phone": "Enter a phone number with digits, spaces, + and - only.",
    "address": "Enter at most 300 characters.",
    "lat": "Enter a latitude between -90 and 90, or leave it empty.",
    "lon": "Enter a longitude between -180 and 180, or leave it empty.",
    "living_situation": "Choose how the elder lives.",
    "categories": "Check the categories; end dates look like 2027-12-31.",
    "diet": "Check the diet needs.",
    "diet_note": "Enter at most 200 characters.",
    "allergies": "Enter at most 300 characters.",
    "allergens": "Check the allergens.",
    "texture_level": "Choose a texture level.",
    "emergency_name": "Enter at most 50 characters.",
    "emergency_phone": "Enter a phone number with digits, spaces, + and - only.",
}
_TEXT_FIELDS = ("name", "national_id", "phone", "address", "diet_note", "allergies", "emergency_name",
                "emergency_phone")  # fmt: skip
_CREATE_TYPES = {f.name: f.type for f in msgspec.structs.fields(ElderCreate)}


def _labels() -> dict[str, Any]:
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "LIVING_LABELS": LIVING_LABELS,
        "GENDER_LABELS": GENDER_LABELS,
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "DIET_LABELS": DIET_LABELS,
        "ALLERGEN_LABELS": ALLERGEN_LABELS,
        "TEXTURE_LEVELS": TEXTURE_LEVELS,
        "ELDER_STATUSES": ELDER_STATUSES,
        "LIVING_SITUATIONS": LIVING_SITUATIONS,
        "FIELD_LABELS": FIELD_LABELS,
    }


def _label(labels: Any, code: str, lang: str) -> str:
    found = labels.get(code)
    if found is None:
        return code
    return str(found.en if lang.startswith("en") else found.zh)


# Order statuses as staff read them (the elder's pages word them for the elder).
ORDER_STATUS_LABELS = {
    "placed": "Placed",
    "confirmed": "Confirmed",
    "cooking": "Cooking",
    "out_for_delivery": "On the way",
    "delivered": "Delivered",
    "not_delivered": "Not delivered",
    "cancelled": "Cancelled",
}


def _allergy_words(lang: str) -> dict[str, Any]:
    """The allergy section's words: allergen codes and IDDSI levels in the reader's language."""
    return {
        "allergen": lambda c: allergen_label(c, lang),
        "texture": lambda lv: texture_level_label(lv, lang),
    }


async def _profile_extras(actor: Any, elder_id: int, lang: str) -> dict[str, Any]:
    """The member card, the balance and the latest meals and orders of the profile. Each part
    the reader may not see (a narrower role) is left out rather than failing the page."""

    async def maybe(fn: Any) -> Any:
        try:
            return await fn()
        except DomainError as err:
            if err.code in ("forbidden", "not_found"):
                return None
            raise

    cards = await maybe(lambda: card_services.elder_cards(actor, elder_id))
    family = await maybe(lambda: order_services.family_links(actor, elder_id))
    balance = await maybe(lambda: ledger.elder_balance(actor, elder_id, limit=1))
    orders = await maybe(lambda: order_services.list_orders(actor, elder_id, limit=10))
    care: dict[str, Any] = {}
    # Issue #17's parts each add their own section data here (one line each), read by the
    # partials included at the end of registry/profile.html.
    care["allergy_words"] = _allergy_words(lang)  # care:allergy (registry/_care_allergy.html)
    from canteen.web import pauses as pause_pages  # the pauses part's own hook, kept to its marker

    care["pauses"] = await pause_pages.profile_section(actor, elder_id, lang)
    care["notifications"] = await notify_pages.profile_section(actor, elder_id, lang)
    from canteen.web.care import profile_visits  # care:visits (the visits part's own hook)

    care["care_visits"] = await profile_visits(actor, elder_id, lang)
    from canteen.web.care_civil import profile_part  # care:civil (the civil part's own hook)

    care.update(await profile_part(actor, elder_id, lang))
    return {
        **care,
        "card": cards.live if cards is not None else None,
        # Cards are the officials' (a community worker sees the balance, not the card line).
        "cards_readable": cards is not None,
        "masked_card": mask_card_number,
        "family": family,
        "balance_fen": balance.balance_fen if balance is not None else None,
        "meals": await usage.elder_meals(elder_id, limit=20),
        "orders": orders or [],
        "slot_label": lambda c: slot_label(c, lang),
        "mode_label": lambda c: mode_label(c, lang),
        "order_status": lambda c: ORDER_STATUS_LABELS.get(c, c),
        "yuan": yuan,
    }


_FAMILY_TYPES = {f.name: f.type for f in msgspec.structs.fields(FamilyAccountIn)}
FAMILY_HINTS = {
    "name": "Enter the family member's name (1 to 50 characters).",
    "phone": "Enter an 11-digit mobile number.",
    "password": "At least 10 characters, with letters and digits.",
    "consent": "Tick the box once the elder has agreed.",
    "consent_note": "Say how the elder agreed (at least 2 characters).",
}


def _field_word(name: str, lang: str) -> str:
    """A recorded field's name in words (the catalog's ``field.<name>``), else as recorded."""
    label = gettext(lang, f"field.{name}")
    return name if label == f"field.{name}" else label


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 0 < int(text) <= INT4_MAX else None


async def _form(request: Req) -> dict[str, Any]:
    """The posted form with checkbox groups as lists."""
    form = await request.form()
    out: dict[str, Any] = {k: str(form.get(k, "")) for k in form}
    out["diet"] = [str(v) for v in form.getall("diet")] if "diet" in form else []
    out["categories"] = [str(v) for v in form.getall("categories")] if "categories" in form else []
    out["allergens"] = [str(v) for v in form.getall("allergens")] if "allergens" in form else []
    return out


def _parse_elder_form(raw: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values and per-field hints (English msgids) from the posted strings."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def take(name: str, text: Any, typ: Any) -> None:
        try:
            values[name] = msgspec.convert(text, typ, strict=False)
        except msgspec.ValidationError:
            errors[name] = FIELD_HINTS.get(name, "Please check this value.")

    for name in _TEXT_FIELDS:
        text = str(raw.get(name, "")).strip()
        if name == "national_id" and not create and not text:
            continue  # left empty on the edit page: keep the stored number
        take(name, text, _CREATE_TYPES[name])
    take("community_id", str(raw.get("community_id", "")).strip() or "0", _CREATE_TYPES["community_id"])
    take(
        "living_situation",
        str(raw.get("living_situation", "other")) or "other",
        _CREATE_TYPES["living_situation"],
    )
    for name in ("lat", "lon", "birth_date", "gender"):
        if name in ("birth_date", "gender") and not create:
            continue
        text = str(raw.get(name, "")).strip()
        if text:
            take(name, text, _CREATE_TYPES[name])
        else:
            values[name] = None
    take("diet", raw.get("diet", []), _CREATE_TYPES["diet"])
    take("allergens", raw.get("allergens", []), _CREATE_TYPES["allergens"])
    level = str(raw.get("texture_level", "")).strip()
    if level:
        take("texture_level", level, _CREATE_TYPES["texture_level"])
    else:
        values["texture_level"] = None
    categories = []
    for code in raw.get("categories", []):
        until = str(raw.get(f"until_{code}", "")).strip()
        categories.append({"code": code, "valid_until": until or None})
    take("categories", categories, list[CategoryIn])
    return values, errors


def _form_from_view(view: ElderView | None) -> dict[str, Any]:
    if view is None:
        return {"living_situation": "other", "diet": [], "allergens": [], "categories": [], "until": {}}
    out: dict[str, Any] = {k: ("" if v is None else v) for k, v in msgspec.structs.asdict(view).items()}
    out["national_id"] = ""
    out["categories"] = [c.code for c in view.categories or []]
    out["until"] = {c.code: c.valid_until.isoformat() if c.valid_until else "" for c in view.categories or []}
    out["diet"] = list(view.diet or [])
    out["allergens"] = list(view.allergens or [])
    out["texture_level"] = "" if view.texture_level is None else str(view.texture_level)
    return out


def _form_from_post(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    out["until"] = {c: raw.get(f"until_{c}", "") for c in raw.get("categories", [])}
    return out


def _domain_field(err: DomainError) -> str | None:
    field = err.detail.get("field")
    return str(field) if field else None


class ElderPages(Controller):
    path = "/elders"
    guards = [login_required]
    include_in_schema = False

    @get("/")
    async def search(
        self,
        request: Req,
        q: QStr = "",
        community_id: QStr = "",
        status: QStr = "",
        category: QStr = "",
        cursor: QStr = "",
    ) -> Template:
        actor = principal_of(request)
        result = await svc.search_elders(
            actor,
            q or None,
            community_id=_int(community_id),
            category=category if category in CATEGORY_LABELS else None,
            status=status if status in ELDER_STATUSES else None,
            limit=50,
            cursor=_int(cursor),
        )
        return page(
            request,
            "registry/search.html",
            result=result,
            communities=await svc.community_choices(actor),
            filters={"q": q, "community_id": _int(community_id), "status": status, "category": category},
            can_write=actor.has_role(ADMIN, OFFICIAL, COMMUNITY_WORKER),
            can_import=actor.has_role(ADMIN, OFFICIAL),
            category_label=lambda c: _label(CATEGORY_LABELS, c, lang_of(request)),
            **_labels(),
        )

    @get("/new", guards=[roles(ADMIN, OFFICIAL, COMMUNITY_WORKER)])
    async def new(self, request: Req) -> Template:
        return await self._render_form(request, None, _form_from_view(None), {}, None)

    @post("/new", guards=[roles(ADMIN, OFFICIAL, COMMUNITY_WORKER)])
    async def create(self, request: Req) -> Response[Any]:
        raw = await _form(request)
        values, errors = _parse_elder_form(raw, create=True)
        form_error = None
        if not errors:
            try:
                view = await svc.register_elder(principal_of(request), msgspec.convert(values, ElderCreate))
                return Redirect(path=f"/elders/{view.id}?saved=1", status_code=303)
            except DomainError as err:
                if err.status >= 500 or err.code == "forbidden":
                    raise
                form_error = err.message(lang_of(request))
                field = _domain_field(err)
                if field:
                    errors[field] = form_error
        return await self._render_form(
            request, None, _form_from_post(raw), errors, form_error, status_code=422
        )

    async def _render_form(
        self,
        request: Req,
        elder: ElderView | None,
        form: dict[str, Any],
        errors: dict[str, str],
        form_error: str | None,
        status_code: int = 200,
    ) -> Template:
        actor = principal_of(request)
        history = await svc.elder_history(actor, elder.id) if elder is not None else []
        return page(
            request,
            "registry/form.html",
            status_code=status_code,
            elder=elder,
            form=form,
            errors=errors,
            form_error=form_error,
            history=history,
            history_key=lambda k: _field_word(str(k), lang_of(request)),
            communities=await svc.community_choices(actor, writable=True),
            category_label=lambda c: _label(CATEGORY_LABELS, c, lang_of(request)),
            diet_label=lambda c: _label(DIET_LABELS, c, lang_of(request)),
            allergen_label=lambda c: allergen_label(c, lang_of(request)),
            texture_level_label=lambda lv: texture_level_label(lv, lang_of(request)),
            **_labels(),
        )

    @get("/{elder_id:int}")
    async def profile(self, request: Req, elder_id: PathId, saved: QStr = "") -> Template:
        return await self._render_profile(request, elder_id, saved=saved)

    async def _render_profile(
        self,
        request: Req,
        elder_id: int,
        *,
        saved: str = "",
        full_id: str | None = None,
        action_errors: dict[str, str] | None = None,
        family_form: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        actor = principal_of(request)
        elder = await svc.get_elder(actor, elder_id)
        lang = lang_of(request)
        return page(
            request,
            "registry/profile.html",
            status_code=status_code,
            elder=elder,
            # Status, delivery grants and PINs stay with the district's officials (a community
            # worker edits the record only: docs/decisions.md).
            can_manage=elder.can_edit and actor.has_role(ADMIN, OFFICIAL),
            **await _profile_extras(actor, elder_id, lang),
            saved=saved,
            full_id=full_id,
            action_errors=action_errors or {},
            family_form=family_form or {},
            category_label=lambda c: _label(CATEGORY_LABELS, c, lang),
            diet_label=lambda c: _label(DIET_LABELS, c, lang),
            **_labels(),
        )

    @post("/{elder_id:int}/national-id")
    async def reveal(self, request: Req, elder_id: PathId) -> Template:
        number = await svc.reveal_national_id(principal_of(request), elder_id)
        return await self._render_profile(request, elder_id, full_id=number)

    async def _action(self, request: Req, elder_id: int, name: str, call: Any) -> Response[Any]:
        try:
            await call
        except DomainError as err:
            if err.status >= 500 or err.code in ("forbidden", "not_found"):
                raise
            return await self._render_profile(
                request, elder_id, action_errors={name: err.message(lang_of(request))}, status_code=err.status
            )
        return Redirect(path=f"/elders/{elder_id}?saved={name}", status_code=303)

    @post("/{elder_id:int}/status", guards=[roles(ADMIN, OFFICIAL)])
    async def status(self, request: Req, elder_id: PathId) -> Response[Any]:
        raw = await _form(request)
        status = str(raw.get("status", ""))
        if status not in ELDER_STATUSES:
            status = "active"
        reason = str(raw.get("reason", ""))[:300]
        return await self._action(
            request, elder_id, "status", svc.set_status(principal_of(request), elder_id, status, reason)
        )

    @post("/{elder_id:int}/delivery-grant", guards=[roles(ADMIN, OFFICIAL)])
    async def delivery_grant(self, request: Req, elder_id: PathId) -> Response[Any]:
        raw = await _form(request)
        until_text = str(raw.get("until", "")).strip()
        try:
            until = dt.date.fromisoformat(until_text) if until_text else None
        except ValueError:
            return await self._render_profile(
                request,
                elder_id,
                action_errors={"grant": FIELD_HINTS["birth_date"]},
                status_code=422,
            )
        reason = str(raw.get("reason", ""))[:300]
        return await self._action(
            request, elder_id, "grant", svc.grant_delivery(principal_of(request), elder_id, reason, until)
        )

    @post("/{elder_id:int}/pin", guards=[roles(ADMIN, OFFICIAL)])
    async def pin(self, request: Req, elder_id: PathId) -> Response[Any]:
        raw = await _form(request)
        pin = str(raw.get("pin", "")).strip()[:12]
        return await self._action(request, elder_id, "pin", svc.set_pin(principal_of(request), elder_id, pin))

    @post("/{elder_id:int}/pin-unlock", guards=[roles(ADMIN, OFFICIAL)])
    async def pin_unlock(self, request: Req, elder_id: PathId) -> Response[Any]:
        """Lift the elder's PIN lockout (audited; canteen.registry.pin_lockout)."""
        return await self._action(
            request, elder_id, "pin_unlock", pin_lockout.unlock(principal_of(request), elder_id)
        )

    @post("/{elder_id:int}/family", guards=[roles(ADMIN, OFFICIAL)])
    async def family(self, request: Req, elder_id: PathId) -> Response[Any]:
        """Open a family account for the elder (or link the phone's existing one), with the
        elder's consent recorded: a ticked box and how they agreed; who and when are the
        signed-in staff member and now (``orders.services.open_family_account``, audited)."""
        raw = await _form(request)
        lang = lang_of(request)
        errors: dict[str, str] = {}
        values: dict[str, str] = {}
        for name in ("name", "phone"):
            text = str(raw.get(name, "")).strip()
            try:
                values[name] = msgspec.convert(text, _FAMILY_TYPES[name])
            except msgspec.ValidationError:
                errors[f"family_{name}"] = gettext(lang, FAMILY_HINTS[name])
        if raw.get("consent") != "yes":
            errors["family_consent"] = gettext(lang, FAMILY_HINTS["consent"])
        note = str(raw.get("consent_note", "")).strip()[:300]
        if len(note) < 2:
            errors["family_consent_note"] = gettext(lang, FAMILY_HINTS["consent_note"])
        if errors:
            return await self._render_profile(
                request, elder_id, action_errors=errors, family_form=raw, status_code=422
            )
        try:
            await order_services.open_family_account(
                principal_of(request),
                elder_id,
                phone=values["phone"],
                password=str(raw.get("password", ""))[:200],
                name=values["name"],
                consent_note=note,
            )
        except DomainError as err:
            if err.status >= 500 or err.code in ("forbidden", "not_found"):
                raise
            field = "family_password" if err.code == "password_too_weak" else "family_phone"
            return await self._render_profile(
                request,
                elder_id,
                action_errors={field: err.message(lang_of(request))},
                family_form=raw,
                status_code=err.status,
            )
        return Redirect(path=f"/elders/{elder_id}?saved=family#family-h", status_code=303)

    @post("/{elder_id:int}/family/{family_id:int}/password", guards=[roles(ADMIN, OFFICIAL)])
    async def family_password(self, request: Req, elder_id: PathId, family_id: PathId) -> Response[Any]:
        """A new password for a linked family account (audited)."""
        raw = await _form(request)
        password = str(raw.get("password", ""))[:200]
        try:
            await order_services.reset_family_password(principal_of(request), family_id, password)
        except DomainError as err:
            if err.status >= 500 or err.code in ("forbidden", "not_found"):
                raise
            return await self._render_profile(
                request,
                elder_id,
                action_errors={f"family_reset_{family_id}": err.message(lang_of(request))},
                status_code=err.status,
            )
        return Redirect(path=f"/elders/{elder_id}?saved=family_password#family-h", status_code=303)

    @get("/{elder_id:int}/edit", guards=[roles(ADMIN, OFFICIAL, COMMUNITY_WORKER)])
    async def edit(self, request: Req, elder_id: PathId) -> Template:
        elder = await svc.get_elder(principal_of(request), elder_id)
        if not elder.can_edit:
            raise DomainError("forbidden", {"elder_id": elder_id})
        return await self._render_form(request, elder, _form_from_view(elder), {}, None)

    @post("/{elder_id:int}/edit", guards=[roles(ADMIN, OFFICIAL, COMMUNITY_WORKER)])
    async def update(self, request: Req, elder_id: PathId) -> Response[Any]:
        actor = principal_of(request)
        raw = await _form(request)
        values, errors = _parse_elder_form(raw, create=False)
        version = _int(str(raw.get("version", ""))) or 0
        form_error = None
        if not errors and version:
            try:
                patch = msgspec.convert({**values, "version": version}, ElderPatch)
                await svc.update_elder(actor, elder_id, patch, expected_version=version)
                return Redirect(path=f"/elders/{elder_id}?saved=1", status_code=303)
            except DomainError as err:
                if err.status >= 500 or err.code in ("forbidden", "not_found"):
                    raise
                form_error = err.message(lang_of(request))
                field = _domain_field(err)
                if field:
                    errors[field] = form_error
        elder = await svc.get_elder(actor, elder_id)
        form = _form_from_post(raw)
        form["version"] = version or elder.version
        return await self._render_form(request, elder, form, errors, form_error, status_code=422)


# --- import wizard ---------------------------------------------------------------------------


@dataclass
class UploadForm:
    file: UploadFile
    district_id: str = ""


async def _load_upload(request: Req, token: str) -> import_service.PendingUpload:
    return await import_service.load_upload(principal_of(request), token)


def _mapping_from_form(raw: dict[str, Any], width: int) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for field in FIELD_LABELS:
        text = str(raw.get(f"map_{field}", "")).strip()
        if text.isdigit() and int(text) < width:
            mapping[field] = int(text)
    return mapping


class ImportPages(Controller):
    """The wizard: upload (kept, sealed, in the database) → columns → check (a job; its page links
    to the preview) → import (a job; its page links to the result)."""

    path = "/elders/import"
    guards = [roles(ADMIN, OFFICIAL)]
    include_in_schema = False

    async def _upload_page(self, request: Req, error: str | None = None, status_code: int = 200) -> Template:
        actor = principal_of(request)
        return page(
            request,
            "registry/import_upload.html",
            status_code=status_code,
            districts=await svc.district_choices(actor),
            error=error,
            max_mb=MAX_IMPORT_BYTES // (1024 * 1024),
        )

    @get("/")
    async def start(self, request: Req) -> Template:
        return await self._upload_page(request)

    @post("/")
    async def upload(
        self, request: Req, data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]
    ) -> Response[Any]:
        actor = principal_of(request)
        district_id = _int(data.district_id)
        content = await data.file.read()
        lang = lang_of(request)
        try:
            if district_id is None:
                raise DomainError("not_found", {"field": "district_id"})
            await import_service.read_columns(actor, district_id, data.file.filename or "", content)
        except DomainError as err:
            if err.status >= 500:
                raise
            return await self._upload_page(request, err.message(lang), status_code=err.status)
        assert district_id is not None
        upload = import_service.PendingUpload(
            actor.user_id, district_id, (data.file.filename or "")[:200], content
        )
        token = await import_service.stash_upload(upload)
        return Redirect(path=f"/elders/import/{token}/columns", status_code=303)

    @get("/{token:str}/columns")
    async def columns(self, request: Req, token: Token) -> Template:
        upload = await _load_upload(request, token)
        headers, mapping = await import_service.read_columns(
            principal_of(request), upload.district_id, upload.filename, upload.data
        )
        return page(
            request,
            "registry/import_columns.html",
            token=token,
            headers=headers,
            mapping=mapping,
            upload=upload,
            **_labels(),
        )

    @post("/{token:str}/check")
    async def check(self, request: Req, token: Token) -> Response[Any]:
        upload = await _load_upload(request, token)
        raw = await _form(request)
        actor = principal_of(request)
        headers, _ = await import_service.read_columns(
            actor, upload.district_id, upload.filename, upload.data
        )
        mapping = _mapping_from_form(raw, len(headers))
        run = await import_service.submit_check(actor, upload, mapping, token=token)
        return Redirect(path=f"/jobs/{run.id}", status_code=303)

    @get("/{token:str}/checked/{run_id:str}")
    async def checked(self, request: Req, token: Token, run_id: RunId) -> Template:
        upload = await _load_upload(request, token)
        preview = await import_service.checked_preview(principal_of(request), run_id)
        return page(
            request,
            "registry/import_check.html",
            token=token,
            preview=preview,
            upload=upload,
            mapping_json=msgspec.json.encode(preview.mapping).decode(),
            problem_rows=sorted({p.row for p in preview.problems}),
            **_labels(),
        )

    @post("/{token:str}/commit")
    async def commit(self, request: Req, token: Token) -> Response[Any]:
        upload = await _load_upload(request, token)
        raw = await _form(request)
        try:
            mapping = msgspec.json.decode(str(raw.get("mapping", "{}")).encode(), type=ColumnMapping)
        except msgspec.DecodeError:
            raise DomainError("import_mapping_invalid") from None
        run = await import_service.submit_import(principal_of(request), upload, mapping)
        return Redirect(path=f"/jobs/{run.id}", status_code=303)

    @get("/done/{run_id:str}")
    async def done(self, request: Req, run_id: RunId) -> Template:
        result, filename = await import_service.finished_import(principal_of(request), run_id)
        return page(request, "registry/import_result.html", result=result, filename=filename)


PAGES: list[Any] = [ImportPages, ElderPages]
