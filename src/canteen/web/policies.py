"""The policy editor: officials write a district's subsidy policy as a form and see, live,
what sample elders would pay for a 15-yuan lunch under the draft.

The form has one row per tier (and per delivery reduction) with two blank rows to
add more; amounts are typed in yuan, shares and percent-off in whole percent. Each
problem is shown next to its field or row in words: number formats are checked
here, everything else by the same ``validate_policy`` the API uses. The preview is
an htmx partial (``hx-post`` on every change); without JavaScript the Preview
button renders the whole page with the table filled in.

A stored draft is not edited in place: "edit" opens the form filled from a
version and saving stores the next version as a new draft, so every stored
version stays what it was when someone looked at it.

One editor for both owners: a district's policy under ``/districts/{id}/policies``
and a city's base under ``/cities/{id}/policies`` go through the same handlers
(an owner parameter) and the same templates. A district's editor and page show
the city base in force above the form and preview the combined result (base
part + top-up part per payer); a city's preview is the base alone.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromQuery, PathParameter
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, CITY_OFFICIAL, OFFICIAL, Principal
from canteen.core.categories import CATEGORY_LABELS, SLOT_LABELS, Category, Slot
from canteen.core.clock import local_date, utcnow
from canteen.core.errors import ERRORS, DomainError
from canteen.core.money import format_fen
from canteen.i18n import gettext
from canteen.regions.lookup import meal_types_of
from canteen.regions.schemas import DistrictUpdate
from canteen.regions.services import update_district
from canteen.subsidies import rules, services
from canteen.subsidies.demo import city_base_policy, demo_policy
from canteen.subsidies.schemas import (
    DEFAULT_MEAL_TYPE,
    FUNDING_SOURCE_LABELS,
    MEAL_TYPE_LABELS,
    MEAL_TYPES,
    FundingShare,
    Policy,
)
from canteen.web.errors import reason_words
from canteen.web.pages import page

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
WRITERS = [roles(ADMIN, OFFICIAL)]
CITY_WRITERS = [roles(ADMIN, CITY_OFFICIAL)]
ANY_WRITERS = [roles(ADMIN, OFFICIAL, CITY_OFFICIAL)]
DISTRICT, CITY = services.DISTRICT, services.CITY
SOURCES = list(FUNDING_SOURCE_LABELS)
TIER_KINDS = {
    "amount_off": "Yuan off",
    "percent_off": "Percent off",
    "fixed_copay": "Elder pays a fixed amount",
    "free": "Free",
}
DELIVERY_KINDS = {"amount_off": "Yuan off", "percent_off": "Percent off", "free": "Free"}
# How a payer takes part in a split (the select beside each payer; English msgids).
SHARE_HOWS = {
    "": "Does not pay",
    "percent": "Percent",
    "fixed": "Fixed yuan per meal",
    "rest": "The rest",
}
CAP_CROSSINGS = {
    "remainder": "Gets what is left under the cap",
    "full_price": "Pays the full price",
}
SLOT_CODES = [s.value for s in Slot]
BLANK_ROWS = 2
MAX_TIERS = 32
_YUAN = re.compile(r"^\d{1,6}(\.\d{1,2})?$")
_INT = re.compile(r"^\d{1,7}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# Plain-words hints (English msgids; translated in the template).
HINT_YUAN = "Enter an amount in yuan, such as 3 or 2.50."
HINT_INT = "Enter a whole number."
HINT_DATE = "Enter a date as YYYY-MM-DD."
HINT_PERCENT = "Enter a whole percent from 0 to 100."
# validate_policy's reasons for a bad tier, as msgids.
TIER_REASONS = {
    "min_age is above max_age": "The lowest age is above the highest age.",
    "percent_off needs a value from 1 to 100": "Percent off needs a value from 1 to 100.",
    "amount_off needs a value above 0 fen": "Yuan off needs an amount above 0.",
    "free takes no value": "A free tier takes no amount; leave it empty.",
    "a meal type is listed twice": "A meal type is listed twice.",
    "a slot is listed twice": "A meal service is listed twice.",
}
# validate_split's reasons, as msgids.
FUNDING_REASONS = {
    "one of percent, fixed_fen or rest": (
        "Give each payer a percent, a fixed amount or the rest, one of them."
    ),
    "one rest share": "Only one payer can take the rest.",
    "fixed amounts need a rest": "With fixed amounts, mark one payer as taking the rest.",
}


def _yuan_text(fen: int | None) -> str:
    if fen is None:
        return ""
    return f"{Decimal(fen) / 100:.2f}".removesuffix(".00")


def _model_from_policy(doc: Policy) -> dict[str, Any]:
    """The form's values (all strings) from a stored or template document."""

    def value_text(kind: str, value: int) -> str:
        if kind == "percent_off":
            return str(value)
        if kind == "free":
            return ""
        return _yuan_text(value)

    return {
        "name": doc.name,
        "effective_from": doc.effective_from.isoformat(),
        "effective_until": doc.effective_until.isoformat() if doc.effective_until else "",
        "combination": doc.combination,
        "stack_cap": _yuan_text(doc.stack_cap_fen),
        "per_slot_daily_limit": str(doc.per_slot_daily_limit),
        "per_day_limit": "" if doc.per_day_limit is None else str(doc.per_day_limit),
        "monthly_cap": _yuan_text(doc.monthly_cap_fen),
        "cap_crossing": doc.cap_crossing,
        "monthly_cap_meals": "" if doc.monthly_cap_meals is None else str(doc.monthly_cap_meals),
        "preview_meal_type": DEFAULT_MEAL_TYPE,
        **_split_model(doc.funding),
        "tiers": [
            {
                "code": t.code,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "cats": list(t.categories),
                "min_age": "" if t.min_age is None else str(t.min_age),
                "max_age": "" if t.max_age is None else str(t.max_age),
                "kind": t.kind,
                "value": value_text(t.kind, t.value),
                "slots": list(t.slots),
                "mtypes": list(t.meal_types),
                "by_type": {v.meal_type: value_text(v.kind, v.value) for v in t.by_meal_type},
                "own": t.funding is not None,
                **_split_model(t.funding or []),
            }
            for t in doc.tiers
        ],
        "delivery_fee": _yuan_text(doc.delivery.fee_fen) if doc.delivery else "",
        "reductions": [
            {"tier": r.tier_code, "kind": r.kind, "value": value_text(r.kind, r.value)}
            for r in (doc.delivery.reductions if doc.delivery else [])
        ],
        "port_street_all": doc.portability.outside_home_street is None,
        "port_street": list(doc.portability.outside_home_street or []),
        "port_district_all": doc.portability.outside_home_district is None,
        "port_district": list(doc.portability.outside_home_district or []),
    }


def _split_model(shares: list[FundingShare]) -> dict[str, dict[str, str]]:
    """A split's form values: per payer how it pays and the amount (percent or yuan)."""
    how: dict[str, str] = dict.fromkeys(SOURCES, "")
    value: dict[str, str] = dict.fromkeys(SOURCES, "")
    for sh in shares:
        if sh.rest:
            how[sh.source] = "rest"
        elif sh.fixed_fen is not None:
            how[sh.source], value[sh.source] = "fixed", _yuan_text(sh.fixed_fen)
        else:
            how[sh.source], value[sh.source] = "percent", str(sh.percent)
    return {"funding_how": how, "funding": value}


def _split_from_form(one: Any, prefix: str) -> dict[str, dict[str, str]]:
    """A split as posted: ``{prefix}-{source}-how`` and ``{prefix}-{source}``; a value with no
    ``how`` posted (an older form) is a percent."""
    how = {}
    value = {}
    for src in SOURCES:
        value[src] = one(f"{prefix}-{src}")
        chosen = one(f"{prefix}-{src}-how")
        how[src] = chosen if chosen in SHARE_HOWS else ""
        if not chosen and value[src]:
            how[src] = "percent"
    return {"funding_how": how, "funding": value}


def _model_from_form(form: Any) -> dict[str, Any]:
    """The form's values as posted (multi-dict from ``request.form()``)."""

    def one(key: str) -> str:
        value = form.get(key, "")
        return str(value).strip()[:200]

    tiers = []
    for i in range(MAX_TIERS + BLANK_ROWS):
        if f"tier-{i}-code" not in form:
            break
        tiers.append(
            {
                "code": one(f"tier-{i}-code"),
                "name_zh": one(f"tier-{i}-name_zh"),
                "name_en": one(f"tier-{i}-name_en"),
                "cats": [str(c) for c in form.getall(f"tier-{i}-cat", [])][:16],
                "min_age": one(f"tier-{i}-min_age"),
                "max_age": one(f"tier-{i}-max_age"),
                "kind": one(f"tier-{i}-kind"),
                "value": one(f"tier-{i}-value"),
                "slots": [str(c) for c in form.getall(f"tier-{i}-slot", []) if c in SLOT_CODES],
                "mtypes": [str(c) for c in form.getall(f"tier-{i}-mtype", []) if c in MEAL_TYPES],
                "by_type": {t: one(f"tier-{i}-type-{t}") for t in MEAL_TYPES if one(f"tier-{i}-type-{t}")},
                "own": bool(form.get(f"tier-{i}-own")),
                **_split_from_form(one, f"tier-{i}-funding"),
            }
        )
    reductions = []
    for j in range(MAX_TIERS + BLANK_ROWS):
        if f"red-{j}-tier" not in form:
            break
        reductions.append(
            {"tier": one(f"red-{j}-tier"), "kind": one(f"red-{j}-kind"), "value": one(f"red-{j}-value")}
        )
    return {
        "name": one("name"),
        "effective_from": one("effective_from"),
        "effective_until": one("effective_until"),
        "combination": one("combination") or "best",
        "stack_cap": one("stack_cap"),
        "per_slot_daily_limit": one("per_slot_daily_limit"),
        "per_day_limit": one("per_day_limit"),
        "monthly_cap": one("monthly_cap"),
        "cap_crossing": one("cap_crossing") or "remainder",
        "monthly_cap_meals": one("monthly_cap_meals"),
        "preview_meal_type": one("preview_meal_type")
        if one("preview_meal_type") in MEAL_TYPES
        else DEFAULT_MEAL_TYPE,
        **_split_from_form(one, "funding"),
        "tiers": tiers,
        "delivery_fee": one("delivery_fee"),
        "reductions": reductions,
        "port_street_all": bool(form.get("port_street_all")),
        "port_street": [str(s) for s in form.getall("port_street", []) if s in SOURCES],
        "port_district_all": bool(form.get("port_district_all")),
        "port_district": [str(s) for s in form.getall("port_district", []) if s in SOURCES],
    }


def _policy_from_model(
    m: dict[str, Any], district_id: int | None, city_id: int | None = None
) -> tuple[Policy | None, dict[str, str]]:
    """Build the document from the form's strings; field key → hint for each problem."""
    errors: dict[str, str] = {}

    def yuan(key: str, text: str, *, optional: bool = True) -> int | None:
        if text == "" and optional:
            return None
        if not _YUAN.match(text):
            errors.setdefault(key, HINT_YUAN)
            return None
        return int(Decimal(text) * 100)

    def integer(key: str, text: str, hint: str = HINT_INT) -> int | None:
        if text == "":
            return None
        if not _INT.match(text):
            errors.setdefault(key, hint)
            return None
        return int(text)

    def day(key: str, text: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(text) if text else None
        except ValueError:
            errors[key] = HINT_DATE
            return None

    doc: dict[str, Any] = {
        "name": m["name"],
        "version": 1,
        "district_id": district_id,
        "city_id": city_id,
        "combination": m["combination"],
        "stack_cap_fen": yuan("stack_cap", m["stack_cap"]),
        "per_slot_daily_limit": integer("per_slot_daily_limit", m["per_slot_daily_limit"]) or 1,
        "per_day_limit": integer("per_day_limit", m["per_day_limit"]),
        "monthly_cap_fen": yuan("monthly_cap", m["monthly_cap"]),
        "cap_crossing": m["cap_crossing"],
        "monthly_cap_meals": integer("monthly_cap_meals", m["monthly_cap_meals"]),
    }

    def split(key: str, model: dict[str, Any]) -> list[dict[str, Any]]:
        shares: list[dict[str, Any]] = []
        for source in SOURCES:
            how, text = model["funding_how"][source], model["funding"][source]
            if how == "percent":
                pct = integer(key, text, HINT_PERCENT)
                if pct is not None:
                    shares.append({"source": source, "percent": pct})
            elif how == "fixed":
                fen = yuan(key, text, optional=False)
                if fen is not None:
                    shares.append({"source": source, "fixed_fen": fen})
            elif how == "rest":
                shares.append({"source": source, "rest": True})
        return shares

    if not m["name"]:
        errors["name"] = "Enter a name for the policy."
    start = day("effective_from", m["effective_from"])
    if start is None:
        errors.setdefault("effective_from", HINT_DATE)
    doc["effective_from"] = start
    doc["effective_until"] = day("effective_until", m["effective_until"])

    # A payer given 0 percent takes no part (as before fixed amounts).
    funding = [sh for sh in split("funding", m) if sh.get("percent") != 0]
    if not funding:
        errors.setdefault("funding", "Give at least one payer a share.")
    doc["funding"] = funding

    tiers = []
    for i, t in enumerate(m["tiers"]):
        if not t["code"] and not t["name_zh"]:
            continue  # a blank row
        key = f"tiers.{i}"
        if not _CODE.match(t["code"]):
            errors.setdefault(key, "The code uses lowercase letters, digits and _ and starts with a letter.")
        if not t["name_zh"] or not t["name_en"]:
            errors.setdefault(key, "Give the tier a Chinese and an English name.")
        kind = t["kind"]
        if kind == "percent_off":
            value = integer(key, t["value"], HINT_PERCENT)
        elif kind == "free":
            value = 0
        else:
            value = yuan(key, t["value"], optional=False)
        by_type = []
        for mtype, text in t["by_type"].items():
            typed = (
                integer(key, text, HINT_PERCENT) if kind == "percent_off" else yuan(key, text, optional=False)
            )
            by_type.append({"meal_type": mtype, "kind": kind, "value": 0 if kind == "free" else typed or 0})
        own = [sh for sh in split(key, t) if sh.get("percent") != 0] if t["own"] else None
        if own == []:
            errors.setdefault(key, "Give at least one payer a share.")
        tiers.append(
            {
                "code": t["code"],
                "name_zh": t["name_zh"],
                "name_en": t["name_en"],
                "categories": t["cats"],
                "min_age": integer(key, t["min_age"]),
                "max_age": integer(key, t["max_age"]),
                "kind": kind,
                "value": value or 0,
                "slots": t["slots"],
                "meal_types": t["mtypes"],
                "by_meal_type": by_type,
                "funding": own,
                "_row": i,
            }
        )
    doc["tiers"] = tiers

    if m["delivery_fee"]:
        reductions = []
        for j, r in enumerate(m["reductions"]):
            if not r["tier"]:
                continue
            key = f"reductions.{j}"
            if r["kind"] == "percent_off":
                value = integer(key, r["value"], HINT_PERCENT)
            elif r["kind"] == "free":
                value = 0
            else:
                value = yuan(key, r["value"], optional=False)
            reductions.append({"tier_code": r["tier"], "kind": r["kind"], "value": value or 0, "_row": j})
        doc["delivery"] = {"fee_fen": yuan("delivery_fee", m["delivery_fee"]) or 0, "reductions": reductions}
    doc["portability"] = {
        "outside_home_street": None if m["port_street_all"] else m["port_street"],
        "outside_home_district": None if m["port_district_all"] else m["port_district"],
    }
    if errors:
        return None, errors
    rows = {t["code"]: t.pop("_row") for t in tiers}
    red_rows = {}
    for r in doc.get("delivery", {}).get("reductions", []):
        red_rows[r["tier_code"]] = r.pop("_row")
    try:
        policy = msgspec.convert(doc, Policy)
    except msgspec.ValidationError as exc:
        path = re.search(r"\$\.(\w+)(?:\[(\d+)\])?", str(exc))
        field, index = (path.group(1), path.group(2)) if path else ("form", None)
        key = {"tiers": f"tiers.{index}", "funding": "funding", "delivery": "delivery"}.get(field, field)
        errors[key] = _LIBRARY + str(exc)  # worded in the caller's language by _messages
        return None, errors
    try:
        rules.validate_policy(policy)
    except DomainError as err:
        key = _error_key(err, rows, red_rows)
        errors[key] = err.code
        reason = {**TIER_REASONS, **FUNDING_REASONS}.get(str(err.detail.get("reason", "")))
        if reason:
            errors[key + "#reason"] = reason
        return None, errors
    return policy, errors


def _error_key(err: DomainError, rows: dict[str, int], red_rows: dict[str, int]) -> str:
    code = err.code
    tier = str(err.detail.get("tier_code", ""))
    if code.startswith("policy_funding"):
        return f"tiers.{rows[tier]}" if tier in rows else "funding"
    if code == "policy_dates_invalid":
        return "effective_until"
    if code == "policy_invalid_combination":
        return "stack_cap"
    if code == "policy_invalid_portability":
        return "portability"
    if code in ("policy_unknown_tier", "policy_invalid_delivery"):
        return f"reductions.{red_rows.get(tier, 0)}"
    if code == "policy_duplicate_tier":
        # rows maps a code to its last row: the duplicate the person just typed.
        return f"tiers.{rows.get(tier, 0)}"
    if tier in rows:
        return f"tiers.{rows[tier]}"
    return "form"


_LIBRARY = "library:"


def _messages(errors: dict[str, str], lang: str) -> dict[str, str]:
    """Words for each field: an error code becomes its message (plus the reason, for a
    tier), a hint msgid its translation, a decoder's refusal what is wrong in words."""
    out = {}
    for key, value in errors.items():
        if "#" in key:
            continue
        if value.startswith(_LIBRARY):
            out[key] = reason_words(value.removeprefix(_LIBRARY), lang)
            continue
        text = DomainError(value).message(lang) if value in ERRORS else gettext(lang, value)
        reason = errors.get(key + "#reason")
        if reason:
            text += " " + gettext(lang, reason)
        out[key] = text
    return out


def _padded(model: dict[str, Any]) -> dict[str, Any]:
    model["tiers"] = [t for t in model["tiers"] if t["code"] or t["name_zh"]][:MAX_TIERS]
    model["reductions"] = [r for r in model["reductions"] if r["tier"]][:MAX_TIERS]
    blank_tier = {"code": "", "name_zh": "", "name_en": "", "cats": [], "min_age": "", "max_age": "",
                  "kind": "amount_off", "value": "", "slots": [], "mtypes": [], "by_type": {},
                  "own": False, **_split_model([])}  # fmt: skip
    model["tiers"] += [dict(blank_tier) for _ in range(BLANK_ROWS)]
    model["reductions"] += [{"tier": "", "kind": "free", "value": ""} for _ in range(BLANK_ROWS)]
    return model


def _labels(lang: str) -> dict[str, Any]:
    en = lang.startswith("en")
    return {
        "SOURCES": [(s, FUNDING_SOURCE_LABELS[s][1 if en else 0]) for s in SOURCES],
        "CATEGORIES": [(c.value, CATEGORY_LABELS[c].en if en else CATEGORY_LABELS[c].zh) for c in Category],
        "TIER_KINDS": TIER_KINDS,
        "DELIVERY_KINDS": DELIVERY_KINDS,
        "SHARE_HOWS": SHARE_HOWS,
        "CAP_CROSSINGS": CAP_CROSSINGS,
        "SLOTS": [(c, SLOT_LABELS[c].en if en else SLOT_LABELS[c].zh) for c in SLOT_CODES],
        "MEAL_TYPES": [(t, MEAL_TYPE_LABELS[t][1 if en else 0]) for t in MEAL_TYPES],
        "SOURCE_NAMES": {s: FUNDING_SOURCE_LABELS[s][1 if en else 0] for s in SOURCES},
        "money": lambda fen: format_fen(fen, lang),
        "en": en,
    }


def _owner_path(owner: services.Owner) -> str:
    return f"/{'cities' if owner[0] == CITY else 'districts'}/{owner[1]}"


def _may_write(actor: Principal, owner: services.Owner) -> bool:
    if owner[0] == CITY:
        return actor.has_role(ADMIN, CITY_OFFICIAL) and actor.can_city(owner[1])
    return actor.has_role(ADMIN, OFFICIAL)


def _draft_ids(owner: services.Owner) -> tuple[int | None, int | None]:
    """(district_id, city_id) of a document the owner writes."""
    return (None, owner[1]) if owner[0] == CITY else (owner[1], None)


async def _base_for(owner: services.Owner, day: dt.date | None) -> Policy | None:
    """The city base in force on ``day`` above a district's policy (None for a city's own)."""
    if owner[0] == CITY or day is None:
        return None
    return await services.city_base_for(owner[1], day)


def _editor(
    request: Req,
    owner: services.Owner,
    model: dict[str, Any],
    errors: dict[str, str],
    rows: list[services.PreviewRow] | None,
    status_code: int = 200,
    base: Policy | None = None,
) -> Template:
    lang = lang_of(request)
    return page(
        request,
        "policies/edit.html",
        status_code=status_code,
        district_id=owner[1] if owner[0] == DISTRICT else None,
        owner_path=_owner_path(owner),
        is_city=owner[0] == CITY,
        base=base,
        m=_padded(model),
        errors=errors,
        preview=rows,
        **_labels(lang),
    )


# -------------------------------------------------------------------- handlers


@get("/policies", guards=[login_required], include_in_schema=False)
async def policy_index(request: Req) -> Template:
    actor = principal_of(request)
    cities = []
    for city_id, name in await services.city_choices(actor):
        items = (await services.list_city_policies(actor, city_id)).items
        cities.append(
            {"id": city_id, "name": name, "policies": items, "can_write": _may_write(actor, (CITY, city_id))}
        )
    districts = []
    lang = lang_of(request)
    for district_id, name in await services.district_choices(actor):
        items = (await services.list_policies(actor, district_id)).items
        served = await meal_types_of(district_id)
        districts.append(
            {
                "id": district_id,
                "name": name,
                "policies": items,
                "edits_types": actor.has_role(ADMIN, OFFICIAL) and actor.can_district(district_id),
                "meal_types": [
                    (t, MEAL_TYPE_LABELS[t][1 if lang == "en" else 0], t in served) for t in MEAL_TYPES
                ],
            }
        )
    return page(
        request,
        "policies/index.html",
        cities=cities,
        districts=districts,
        can_write=actor.has_role(ADMIN, OFFICIAL),
        standard=DEFAULT_MEAL_TYPE,
    )


@post("/districts/{district_id:int}/meal-types", guards=WRITERS, include_in_schema=False)
async def district_meal_types(request: Req, district_id: PathId) -> Response[Any]:
    """The official chooses which meal types the district's points serve (standard always)."""
    form = await request.form()
    chosen = [t for t in MEAL_TYPES if t in form.getall("meal_type", []) or t == DEFAULT_MEAL_TYPE]
    await update_district(
        principal_of(request),
        district_id,
        DistrictUpdate(meal_types=chosen),  # type: ignore[arg-type]
    )
    return Redirect(path=f"/policies#district-{district_id}-types")


async def _new(request: Req, owner: services.Owner, source: int | None) -> Template:
    actor = principal_of(request)
    if owner[0] == CITY and not _may_write(actor, owner):
        raise DomainError("not_found", {"city_id": owner[1]})
    district_id, city_id = _draft_ids(owner)
    if source is not None:
        found = await services.get_policy(actor, source)
        if (found.city_id, found.district_id) != (city_id, district_id):
            raise DomainError("not_found", {"policy_id": source})
        doc = found.document
    else:
        latest = await services.latest_policy(actor, owner[1], city=owner[0] == CITY)
        today = local_date(utcnow(), request.app.state.settings.tz)
        if latest:
            doc = latest.document
        elif owner[0] == CITY:
            doc = city_base_policy(city_id=owner[1], effective_from=today)
        else:
            doc = demo_policy(district_id=owner[1], effective_from=today)
    doc = msgspec.structs.replace(doc, district_id=district_id, city_id=city_id)
    model = _model_from_policy(doc)
    base = await _base_for(owner, doc.effective_from)
    preview = services.preview_quotes(doc, base=base)
    return _editor(request, owner, model, {}, preview, base=base)


@get("/districts/{district_id:int}/policies/new", guards=WRITERS, include_in_schema=False)
async def policy_new(request: Req, district_id: PathId, source: FromQuery[int | None] = None) -> Template:
    return await _new(request, (DISTRICT, district_id), source)


@get("/cities/{city_id:int}/policies/new", guards=CITY_WRITERS, include_in_schema=False)
async def city_policy_new(request: Req, city_id: PathId, source: FromQuery[int | None] = None) -> Template:
    return await _new(request, (CITY, city_id), source)


async def _posted(
    request: Req, owner: services.Owner
) -> tuple[dict[str, Any], Policy | None, dict[str, str]]:
    form = await request.form()
    model = _model_from_form(form)
    district_id, city_id = _draft_ids(owner)
    policy, errors = _policy_from_model(model, district_id, city_id)
    return model, policy, _messages(errors, lang_of(request))


def _model_day(model: dict[str, Any]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(model["effective_from"])
    except ValueError:
        return None


async def _preview(request: Req, owner: services.Owner) -> Template:
    if owner[0] == CITY and not _may_write(principal_of(request), owner):
        raise DomainError("not_found", {"city_id": owner[1]})
    model, policy, errors = await _posted(request, owner)
    meal_type = model["preview_meal_type"]
    base = await _base_for(owner, _model_day(model))
    rows = services.preview_quotes(policy, meal_type=meal_type, base=base) if policy is not None else None
    if request.headers.get("hx-request"):
        lang = lang_of(request)
        return page(request, "policies/_preview.html", preview=rows, errors=errors, **_labels(lang))
    return _editor(request, owner, model, errors, rows, base=base)


@post("/districts/{district_id:int}/policies/preview", guards=WRITERS, include_in_schema=False)
async def policy_preview(request: Req, district_id: PathId) -> Template:
    return await _preview(request, (DISTRICT, district_id))


@post("/cities/{city_id:int}/policies/preview", guards=CITY_WRITERS, include_in_schema=False)
async def city_policy_preview(request: Req, city_id: PathId) -> Template:
    return await _preview(request, (CITY, city_id))


async def _create(request: Req, owner: services.Owner) -> Response[Any]:
    model, policy, errors = await _posted(request, owner)
    if policy is None:
        base = await _base_for(owner, _model_day(model))
        return _editor(request, owner, model, errors, None, status_code=422, base=base)
    actor = principal_of(request)
    if owner[0] == CITY:
        view = await services.create_city_policy(actor, owner[1], policy)
    else:
        view = await services.create_policy(actor, owner[1], policy)
    return Redirect(path=f"/policies/{view.id}")


@post("/districts/{district_id:int}/policies/new", guards=WRITERS, include_in_schema=False)
async def policy_create(request: Req, district_id: PathId) -> Response[Any]:
    return await _create(request, (DISTRICT, district_id))


@post("/cities/{city_id:int}/policies/new", guards=CITY_WRITERS, include_in_schema=False)
async def city_policy_create(request: Req, city_id: PathId) -> Response[Any]:
    return await _create(request, (CITY, city_id))


async def _show(request: Req, policy_id: int, error: str | None = None, status_code: int = 200) -> Template:
    actor = principal_of(request)
    view = await services.get_policy(actor, policy_id)
    lang = lang_of(request)
    owner: services.Owner = (
        (CITY, view.city_id) if view.city_id is not None else (DISTRICT, int(view.district_id or 0))
    )
    base = await _base_for(owner, view.effective_from)
    return page(
        request,
        "policies/show.html",
        status_code=status_code,
        p=view,
        base=base,
        owner_path=_owner_path(owner),
        is_city=owner[0] == CITY,
        preview=services.preview_quotes(view.document, base=base),
        error=error,
        can_write=_may_write(actor, owner),
        **_labels(lang),
    )


@get("/policies/{policy_id:int}", guards=[login_required], include_in_schema=False)
async def policy_show(request: Req, policy_id: PathId) -> Template:
    return await _show(request, policy_id)


async def _transition(request: Req, policy_id: int, action: str) -> Response[Any]:
    actor = principal_of(request)
    try:
        if action == "publish":
            await services.publish_policy(actor, policy_id)
        else:
            await services.retire_policy(actor, policy_id)
    except DomainError as err:
        if err.status >= 500 or err.code == "not_found":
            raise
        return await _show(request, policy_id, error=err.message(lang_of(request)), status_code=err.status)
    return Redirect(path=f"/policies/{policy_id}")


@post("/policies/{policy_id:int}/publish", guards=ANY_WRITERS, include_in_schema=False)
async def policy_publish(request: Req, policy_id: PathId) -> Response[Any]:
    return await _transition(request, policy_id, "publish")


@post("/policies/{policy_id:int}/retire", guards=ANY_WRITERS, include_in_schema=False)
async def policy_retire(request: Req, policy_id: PathId) -> Response[Any]:
    return await _transition(request, policy_id, "retire")


PAGES = [
    policy_index,
    policy_new,
    city_policy_new,
    policy_preview,
    city_policy_preview,
    policy_create,
    city_policy_create,
    policy_show,
    policy_publish,
    policy_retire,
    district_meal_types,
]
