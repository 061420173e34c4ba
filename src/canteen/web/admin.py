"""Admin pages: sites (admin, officials, operators within their scope), users, device tokens, audit.

Forms arrive URL-encoded as lenient string Structs; each field is converted against the
API's bounded Struct type so the page and the API accept exactly the same values, and a
bad field is shown next to itself in words. Scope is decided by the same services the API
calls; the guards only keep out roles that have no business here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from canteen.accounts import services as accounts
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import ADMIN, OFFICIAL, OPERATOR, ROLES, Grant
from canteen.core import audit_query
from canteen.core.errors import DomainError
from canteen.regions import services as regions
from canteen.regions.schemas import (
    POINT_TYPES,
    SITE_KINDS,
    SITE_STATUSES,
    SLOT_NAMES,
    SiteCreate,
    SiteUpdate,
    SiteView,
)
from canteen.registry import services as registry
from canteen.web.pages import page

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QStr = Annotated[str, QueryParameter(max_length=100)]

KIND_LABELS = {"central_kitchen": "Central kitchen", "meal_point": "Meal point"}
POINT_TYPE_LABELS = {
    "canteen": "Canteen (cooks on site)",
    "satellite": "Satellite (supplied by a kitchen)",
    "partner_restaurant": "Partner restaurant",
}
STATUS_LABELS = {"planned": "Planned", "open": "Open", "paused": "Paused", "closed": "Closed"}
SLOT_LABELS = {"breakfast": "Breakfast", "lunch": "Lunch", "dinner": "Dinner"}
# What a person is told when a field's value does not fit (English msgids, translated in the page).
FIELD_HINTS = {
    "district_id": "Choose a district.",
    "name": "Enter a name of 1 to 200 characters.",
    "kind": "Choose the kind of site.",
    "point_type": "Choose the type of meal point.",
    "street_id": "Enter the number of a street in this district, or leave it empty.",
    "community_id": "Enter the number of a community in this district, or leave it empty.",
    "operator_id": "Choose an operator of this city, or none.",
    "kitchen_id": "Choose the central kitchen that supplies this satellite.",
    "address": "Enter an address of at most 300 characters.",
    "lat": "Enter a latitude between -90 and 90.",
    "lon": "Enter a longitude between -180 and 180.",
    "seats": "Enter a whole number between 0 and 100000.",
    "meals_per_slot": "Enter a whole number between 0 and 100000.",
    "void_window_minutes": "Enter a whole number of minutes between 0 and 1440.",
    "phone": "Enter a phone number with digits, spaces, + and - only.",
    "note": "Enter at most 2000 characters.",
    "slots": "Use times like 11:30; each start must be before its end.",
    "status": "Choose a status.",
    "service_radius_m": "Type the walking distance in metres, from 100 to 5000.",
}
_SITE_FIELDS = {f.name: f for f in msgspec.structs.fields(SiteCreate)}
_OPTIONAL_IDS = {"street_id", "community_id", "operator_id", "kitchen_id", "point_type", "service_radius_m"}


class SiteForm(msgspec.Struct):
    """The site form as posted: every value a string, judged field by field."""

    district_id: str = ""
    name: str = ""
    kind: str = ""
    point_type: str = ""
    street_id: str = ""
    community_id: str = ""
    operator_id: str = ""
    kitchen_id: str = ""
    address: str = ""
    lat: str = ""
    lon: str = ""
    seats: str = ""
    meals_per_slot: str = ""
    void_window_minutes: str = ""
    phone: str = ""
    note: str = ""
    residential_utilities: str = ""
    service_radius_m: str = ""
    slot_breakfast_on: str = ""
    slot_breakfast_start: str = ""
    slot_breakfast_end: str = ""
    slot_breakfast_cutoff: str = ""
    slot_lunch_on: str = ""
    slot_lunch_start: str = ""
    slot_lunch_end: str = ""
    slot_lunch_cutoff: str = ""
    slot_dinner_on: str = ""
    slot_dinner_start: str = ""
    slot_dinner_end: str = ""
    slot_dinner_cutoff: str = ""


def _parse_site_form(form: SiteForm, *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values and per-field error hints (English msgids) from the posted strings."""
    raw = msgspec.structs.asdict(form)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, info in _SITE_FIELDS.items():
        if name in ("slots", "status") or (name == "district_id" and not create):
            continue
        text = raw.get(name, "").strip()
        if name == "residential_utilities":
            values[name] = text in ("on", "1", "true")
            continue
        if text == "":
            if name in _OPTIONAL_IDS:
                values[name] = None
                continue
            if info.default is not msgspec.NODEFAULT and info.type is not str:
                values[name] = info.default
                continue
        try:
            values[name] = msgspec.convert(text, info.type, strict=False)
        except msgspec.ValidationError:
            errors[name] = FIELD_HINTS.get(name, "Please check this value.")
    slots = []
    for slot in SLOT_NAMES:
        if not raw.get(f"slot_{slot}_on"):
            continue
        slots.append(
            {"slot": slot, **{k: raw.get(f"slot_{slot}_{k}", "").strip() for k in ("start", "end", "cutoff")}}
        )
    try:
        values["slots"] = msgspec.convert(slots, _SITE_FIELDS["slots"].type)
    except msgspec.ValidationError:
        errors["slots"] = FIELD_HINTS["slots"]
    return values, errors


def _form_from_view(site: SiteView | None) -> dict[str, Any]:
    """What the form shows: the site's values as strings (or a new site's defaults)."""
    if site is None:
        return {
            "kind": "meal_point",
            "point_type": "canteen",
            "void_window_minutes": "15",
            "seats": "0",
            "meals_per_slot": "0",
            "lat": "",
            "lon": "",
            "slots": {},
        }
    out = {k: ("" if v is None else v) for k, v in msgspec.structs.asdict(site).items()}
    out["slots"] = {s.slot: msgspec.structs.asdict(s) for s in site.slots}
    return out


def _form_from_post(form: SiteForm) -> dict[str, Any]:
    raw = msgspec.structs.asdict(form)
    out: dict[str, Any] = {k: v for k, v in raw.items() if not k.startswith("slot_")}
    out["residential_utilities"] = bool(raw["residential_utilities"])
    out["slots"] = {
        s: {k: raw[f"slot_{s}_{k}"] for k in ("start", "end", "cutoff")}
        for s in SLOT_NAMES
        if raw[f"slot_{s}_on"]
    }
    return out


def _error_field(err: DomainError) -> str | None:
    field = err.detail.get("field")
    if field:
        return str(field)
    for key in ("district_id", "site_id"):
        if key in err.detail:
            return key if key != "site_id" else None
    return None


async def _site_choices(request: Req) -> dict[str, Any]:
    actor = principal_of(request)
    districts = (await regions.list_districts(actor, limit=200)).items
    operators = (await regions.list_operators(actor, limit=200)).items
    kitchens = (await regions.list_sites(actor, kind="central_kitchen", limit=200)).items
    return {"districts": districts, "operators": operators, "kitchens": kitchens}


def _labels() -> dict[str, Any]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "POINT_TYPE_LABELS": POINT_TYPE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "SLOT_LABELS": SLOT_LABELS,
        "SITE_KINDS": SITE_KINDS,
        "POINT_TYPES": POINT_TYPES,
        "SITE_STATUSES": SITE_STATUSES,
        "SLOT_NAMES": SLOT_NAMES,
    }


def _can_manage(actor: Any, site: SiteView) -> bool:
    """Whether the form offers kind, type, kitchen and operator (the service decides again)."""
    return bool(actor.can_district(site.district_id))


class SitePages(Controller):
    path = "/admin/sites"
    guards = [roles(ADMIN, OFFICIAL, OPERATOR)]
    include_in_schema = False

    @get("/")
    async def list_sites(
        self,
        request: Req,
        district_id: QStr = "",
        kind: QStr = "",
        status: QStr = "",
        cursor: QStr = "",
    ) -> Template:
        actor = principal_of(request)
        district = int(district_id) if district_id.isdigit() and 0 < int(district_id) <= INT4_MAX else None
        after = int(cursor) if cursor.isdigit() and int(cursor) <= INT4_MAX else None
        result = await regions.list_sites(
            actor,
            district_id=district,
            kind=kind if kind in SITE_KINDS else None,
            status=status if status in SITE_STATUSES else None,
            limit=50,
            cursor=after,
        )
        districts = (await regions.list_districts(actor, limit=200)).items
        return page(
            request,
            "admin/sites.html",
            sites=result.items,
            next_cursor=result.next_cursor,
            districts=districts,
            district_names={d.id: d.name for d in districts},
            filters={"district_id": district, "kind": kind, "status": status},
            can_create=actor.has_role(ADMIN, OFFICIAL),
            **_labels(),
        )

    @get("/new", guards=[roles(ADMIN, OFFICIAL)])
    async def new_site(self, request: Req) -> Template:
        return page(
            request,
            "admin/site_form.html",
            site=None,
            form=_form_from_view(None),
            errors={},
            form_error=None,
            saved=False,
            can_manage=True,
            **await _site_choices(request),
            **_labels(),
        )

    @post("/new", guards=[roles(ADMIN, OFFICIAL)])
    async def create_site(self, request: Req, data: URLEncodedBody[SiteForm]) -> Response[Any]:
        values, errors = _parse_site_form(data, create=True)
        form_error = None
        if not errors:
            try:
                site = await regions.create_site(principal_of(request), msgspec.convert(values, SiteCreate))
                return Redirect(path=f"/admin/sites/{site.id}?saved=1", status_code=303)
            except DomainError as err:
                if err.status >= 500 or err.code == "forbidden":
                    raise
                form_error, field = err.message(lang_of(request)), _error_field(err)
                if field:
                    errors[field] = form_error
        return page(
            request,
            "admin/site_form.html",
            status_code=422,
            site=None,
            form=_form_from_post(data),
            errors=errors,
            form_error=form_error,
            saved=False,
            can_manage=True,
            **await _site_choices(request),
            **_labels(),
        )

    @get("/{site_id:int}")
    async def edit_site(self, request: Req, site_id: PathId, saved: QStr = "") -> Template:
        actor = principal_of(request)
        site = await regions.get_site(actor, site_id)
        return page(
            request,
            "admin/site_form.html",
            site=site,
            form=_form_from_view(site),
            errors={},
            form_error=None,
            saved=bool(saved),
            can_manage=_can_manage(actor, site),
            **await _site_choices(request),
            **_labels(),
        )

    @post("/{site_id:int}")
    async def update_site(
        self, request: Req, site_id: PathId, data: URLEncodedBody[SiteForm]
    ) -> Response[Any]:
        actor = principal_of(request)
        site = await regions.get_site(actor, site_id)
        values, errors = _parse_site_form(data, create=False)
        form_error = None
        if not errors:
            try:
                await regions.update_site(actor, site_id, msgspec.convert(values, SiteUpdate))
                return Redirect(path=f"/admin/sites/{site_id}?saved=1", status_code=303)
            except DomainError as err:
                if err.status >= 500 or (err.status == 404 and "field" not in err.detail):
                    raise
                form_error, field = err.message(lang_of(request)), _error_field(err)
                if field:
                    errors[field] = form_error
        form = _form_from_post(data)
        form["district_id"] = site.district_id
        return page(
            request,
            "admin/site_form.html",
            status_code=422,
            site=site,
            form=form,
            errors=errors,
            form_error=form_error,
            saved=False,
            can_manage=_can_manage(actor, site),
            **await _site_choices(request),
            **_labels(),
        )

    @post("/{site_id:int}/status")
    async def set_status(
        self, request: Req, site_id: PathId, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        status = str(data.get("status", ""))
        if status not in SITE_STATUSES:
            raise DomainError("validation_failed", {"field": "status"})
        await regions.set_site_status(
            principal_of(request), site_id, status, note=str(data.get("note", ""))[:500]
        )
        return Redirect(path=f"/admin/sites/{site_id}?saved=1", status_code=303)


# --- users ----------------------------------------------------------------------------------


class UserForm(msgspec.Struct):
    username: str = ""
    display_name: str = ""
    password: str = ""
    role: str = ""
    district_id: str = ""
    site_id: str = ""
    city_id: str = ""
    community_id: str = ""


def _opt_id(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= INT4_MAX:
        raise DomainError("not_found", {"field": "scope"})
    return int(text)


_USER_ERROR_FIELDS = {
    "username_taken": "username",
    "password_too_weak": "password",
    "unknown_role": "role",
    "grant_scope_invalid": "role",
    "not_found": "scope",
}


async def _users_page(
    request: Req,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    row_errors: dict[int, str] | None = None,
    done: str = "",
) -> Template:
    actor = principal_of(request)
    districts = (await regions.list_districts(actor, limit=200)).items
    sites = (await regions.list_sites(actor, limit=200)).items
    cities = await regions.list_cities(actor)
    communities = await registry.community_choices(actor)
    return page(
        request,
        "admin/users.html",
        communities=communities,
        community_names={c.id: c.name for c in communities},
        cities=cities,
        city_names={c.id: c.name for c in cities},
        status_code=status_code,
        users=await accounts.list_users(),
        districts=districts,
        sites=sites,
        # Scopes by name, not by id ("卖鱼桥幸福食堂", not "站点 2").
        district_names={d.id: d.name for d in districts},
        site_names={s.id: s.name for s in sites},
        roles_list=list(ROLES),
        form=form or {},
        errors=errors or {},
        row_errors=row_errors or {},
        done=done,
    )


class UserPages(Controller):
    path = "/admin/users"
    guards = [roles(ADMIN)]
    include_in_schema = False

    @get("/")
    async def list_users(self, request: Req, done: QStr = "") -> Template:
        return await _users_page(request, done=done)

    @post("/")
    async def create_user(self, request: Req, data: URLEncodedBody[UserForm]) -> Response[Any]:
        errors: dict[str, str] = {}
        username = data.username.strip()
        if not username or len(username) > 64 or not all(c.isalnum() or c in "_.-@" for c in username):
            errors["username"] = "Use 1 to 64 letters, digits or . _ - @."
        if len(data.display_name) > 100:
            errors["display_name"] = "Enter at most 100 characters."
        if not data.password or len(data.password) > 200:
            # An error message, not a secret.
            errors["password"] = "Enter a password of 10 to 200 characters with letters and digits."  # noqa: S105
        if not errors:
            try:
                grant = Grant(
                    data.role,
                    _opt_id(data.district_id),
                    _opt_id(data.site_id),
                    _opt_id(data.city_id),
                    _opt_id(data.community_id),
                )
                await accounts.create_user(
                    principal_of(request),
                    username=username,
                    password=data.password,
                    display_name=data.display_name.strip(),
                    grants=[grant],
                )
                return Redirect(path="/admin/users?done=created", status_code=303)
            except DomainError as err:
                if err.status >= 500:
                    raise
                errors[_USER_ERROR_FIELDS.get(err.code, "form")] = err.message(lang_of(request))
        form = {
            "username": username[:64],
            "display_name": data.display_name[:100],
            "role": data.role[:16],
            "district_id": data.district_id[:12],
            "site_id": data.site_id[:12],
            "city_id": data.city_id[:12],
            "community_id": data.community_id[:12],
        }
        return await _users_page(request, status_code=422, form=form, errors=errors)

    @post("/{user_id:int}/password")
    async def reset_password(
        self, request: Req, user_id: PathId, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        password = str(data.get("password", ""))
        try:
            if not password or len(password) > 200:
                raise DomainError("password_too_weak")
            await accounts.set_password(principal_of(request), user_id, password)
        except DomainError as err:
            if err.status >= 500 or err.status == 404:
                raise
            return await _users_page(
                request, status_code=422, row_errors={user_id: err.message(lang_of(request))}
            )
        return Redirect(path="/admin/users?done=password", status_code=303)

    @post("/{user_id:int}/active")
    async def set_active(
        self, request: Req, user_id: PathId, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        active = str(data.get("active", "")) == "1"
        await accounts.set_active(principal_of(request), user_id, active)
        return Redirect(path="/admin/users?done=" + ("enabled" if active else "disabled"), status_code=303)


# --- device tokens --------------------------------------------------------------------------


class TokenPages(Controller):
    path = "/admin/tokens"
    guards = [roles(ADMIN)]
    include_in_schema = False

    async def _render(
        self,
        request: Req,
        *,
        status_code: int = 200,
        secret: str | None = None,
        errors: dict[str, str] | None = None,
        done: str = "",
    ) -> Template:
        return page(
            request,
            "admin/tokens.html",
            status_code=status_code,
            tokens=await accounts.list_api_tokens(),
            users=await accounts.list_users(),
            secret=secret,
            errors=errors or {},
            done=done,
        )

    @get("/")
    async def list_tokens(self, request: Req, done: QStr = "") -> Template:
        return await self._render(request, done=done)

    @post("/")
    async def create_token(self, request: Req, data: URLEncodedBody[dict[str, str]]) -> Template:
        name = str(data.get("name", "")).strip()
        errors: dict[str, str] = {}
        if not name or len(name) > 100:
            errors["name"] = "Enter a name of 1 to 100 characters, such as the counter it is for."
        try:
            user_id = _opt_id(str(data.get("user_id", "")))
        except DomainError:
            user_id = None
        if user_id is None:
            errors["user_id"] = "Choose the user the device acts for."
        if not errors:
            assert user_id is not None
            try:
                # The secret is shown on this response only: it is never stored in clear.
                secret, _ = await accounts.create_api_token(principal_of(request), user_id=user_id, name=name)
                return await self._render(request, status_code=201, secret=secret)
            except DomainError as err:
                if err.status >= 500:
                    raise
                errors["user_id"] = err.message(lang_of(request))
        return await self._render(request, status_code=422, errors=errors)

    @post("/{token_id:int}/revoke")
    async def revoke(self, request: Req, token_id: PathId) -> Response[Any]:
        await accounts.revoke_api_token(principal_of(request), token_id)
        return Redirect(path="/admin/tokens?done=revoked", status_code=303)


# --- audit ----------------------------------------------------------------------------------


def _local_day(text: str, tz: Any) -> dt.datetime:
    """Midnight of a YYYY-MM-DD day in the service zone, as UTC."""
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=tz).astimezone(dt.UTC)


@get("/admin/audit", guards=[roles(ADMIN)], include_in_schema=False)
async def audit_page(
    request: Req,
    action: QStr = "",
    target_type: QStr = "",
    target_id: QStr = "",
    actor: QStr = "",
    since: QStr = "",
    until: QStr = "",
    before: QStr = "",
) -> Template:
    tz = request.app.state.settings.tz
    errors: dict[str, str] = {}
    start = end = None
    try:
        start = _local_day(since, tz) if since else None
    except ValueError:
        errors["since"] = "Use a date like 2026-11-23."
    try:
        end = _local_day(until, tz) + dt.timedelta(days=1) if until else None
    except ValueError:
        errors["until"] = "Use a date like 2026-11-23."
    before_id = int(before) if before.isdigit() and int(before) <= INT4_MAX else None
    result = audit_query.AuditPage([])
    if not errors:
        result = await audit_query.search_audit(
            action=action.strip() or None,
            target_type=target_type.strip() or None,
            target_id=target_id.strip() or None,
            actor=actor.strip() or None,
            since=start,
            until=end,
            limit=50,
            before_id=before_id,
        )
    filters = {
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "actor": actor,
        "since": since,
        "until": until,
    }
    return page(
        request,
        "admin/audit.html",
        status_code=422 if errors else 200,
        rows=result.items,
        next_cursor=result.next_cursor,
        filters=filters,
        errors=errors,
        tz=tz,
        dumps=lambda v: "" if v is None else msgspec.json.encode(v).decode(),
    )


ADMIN_PAGES: list[Any] = [SitePages, UserPages, TokenPages, audit_page]
