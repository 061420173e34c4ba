"""Menu pages: a week grid per cooking site, a form per day and slot, copy last week.

Prices are typed in yuan (``12.50``) and stored in fen; a bad value is shown next to its
field in words. The same services as the API decide scope and rules.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import ADMIN, KITCHEN, OFFICIAL, OPERATOR
from canteen.core.categories import SLOT_LABELS, allergen_labels, diet_label, texture_level_label
from canteen.core.clock import local_date, utcnow
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.menus import services
from canteen.menus.schemas import MealSetIn
from canteen.regions.lookup import meal_types_of
from canteen.settings import get_settings
from canteen.subsidies.schemas import DEFAULT_MEAL_TYPE, MEAL_TYPE_LABELS, MEAL_TYPES
from canteen.web.pages import page

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
PathDate = Annotated[dt.date, PathParameter()]
QStr = Annotated[str, QueryParameter(max_length=20)]
SLOTS = ("breakfast", "lunch", "dinner")
SET_ROWS = 4
DEFAULT_SET_NAMES = ("套餐A", "套餐B", "套餐C", "套餐D")


def _monday(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text) if text else local_date(utcnow(), get_settings().tz)
    except ValueError:
        day = local_date(utcnow(), get_settings().tz)
    return day - dt.timedelta(days=day.weekday())


def parse_yuan(text: str) -> int | None:
    """``"12.5"`` → 1250 fen; None when it is not an amount from 0 to 1,000 yuan with at most 2 decimals."""
    try:
        value = Decimal(text.strip().replace("¥", "").replace("元", ""))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value < 0 or value > 1000 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


async def _site_menus(request: Req, site_id: int, monday: dt.date) -> dict[str, Any]:
    actor = principal_of(request)
    menus = await services.list_menus(actor, site_id, monday, monday + dt.timedelta(days=6))
    site = await services.site_brief(actor, site_id)
    grid = {(m.service_date, m.slot): m for m in menus.items}
    return {"site": site, "grid": grid, "days": [monday + dt.timedelta(days=i) for i in range(7)]}


class MenuPages(Controller):
    path = "/menus/sites/{site_id:int}"
    guards = [roles(ADMIN, OFFICIAL, OPERATOR, KITCHEN)]
    include_in_schema = False

    @get("/")
    async def week(self, request: Req, site_id: PathId, week: QStr = "", copied: QStr = "") -> Template:
        monday = _monday(week)
        lang = lang_of(request)
        return page(
            request,
            "menus/week.html",
            monday=monday,
            prev_monday=monday - dt.timedelta(days=7),
            next_monday=monday + dt.timedelta(days=7),
            slots=SLOTS,
            slot_label=lambda s: SLOT_LABELS[s].en if lang == "en" else SLOT_LABELS[s].zh,
            diet_label=lambda t: diet_label(t, lang),
            yuan=yuan,
            copied=copied,
            **await _site_menus(request, site_id, monday),
        )

    @post("/copy-week")
    async def copy_last_week(self, request: Req, site_id: PathId) -> Response[Any]:
        form = await request.form()
        monday = _monday(str(form.get("week", "")))
        result = await services.copy_week(
            principal_of(request), site_id, monday - dt.timedelta(days=7), monday
        )
        return Redirect(
            path=f"/menus/sites/{site_id}?week={monday.isoformat()}&copied={result.copied}", status_code=303
        )

    @get("/{day:date}/{slot:str}")
    async def edit(self, request: Req, site_id: PathId, day: PathDate, slot: FromPath[str]) -> Template:
        if slot not in SLOTS:
            raise DomainError("not_found", {"slot": slot})
        menu = await services.menu_for(site_id, day, slot)
        rows = []
        for i in range(SET_ROWS):
            s = menu.sets[i] if menu and i < len(menu.sets) else None
            rows.append(
                {
                    "name": s.name if s else (DEFAULT_SET_NAMES[i] if i == 0 else ""),
                    "price": yuan(s.list_price_fen) if s else "",
                    "dishes": s.dish_ids if s else [],
                    "portions": ""
                    if s is None or s.portions_available is None
                    else str(s.portions_available),
                    "meal_type": s.meal_type if s else DEFAULT_MEAL_TYPE,
                    "allergens": s.allergens if s else [],
                    "texture_level": s.texture_level if s else None,
                    "saved": s is not None,
                }
            )
        return await self._form(request, site_id, day, slot, rows, {}, None)

    async def _form(
        self,
        request: Req,
        site_id: int,
        day: dt.date,
        slot: str,
        rows: list[dict[str, Any]],
        errors: dict[str, str],
        form_error: str | None,
        status_code: int = 200,
    ) -> Template:
        site = await services.site_brief(principal_of(request), site_id)
        dishes = await services.list_dishes(principal_of(request), site["district"])
        lang = lang_of(request)
        return page(
            request,
            "menus/edit.html",
            status_code=status_code,
            site=site,
            day=day,
            slot=slot,
            rows=rows,
            dishes=dishes.items,
            errors=errors,
            form_error=form_error,
            slot_name=SLOT_LABELS[slot].en if lang == "en" else SLOT_LABELS[slot].zh,
            allergen_words=lambda codes: allergen_labels(codes or [], lang),
            iddsi_words=lambda level: texture_level_label(level, lang),
            monday=day - dt.timedelta(days=day.weekday()),
            # The district's own list of meal types (every type unless its official chose).
            meal_types=[
                (t, MEAL_TYPE_LABELS[t][1 if lang == "en" else 0])
                for t in await meal_types_of(site["district"])
            ],
        )

    @post("/{day:date}/{slot:str}")
    async def save(self, request: Req, site_id: PathId, day: PathDate, slot: FromPath[str]) -> Response[Any]:
        if slot not in SLOTS:
            raise DomainError("not_found", {"slot": slot})
        form = await request.form()
        rows: list[dict[str, Any]] = []
        errors: dict[str, str] = {}
        sets: list[MealSetIn] = []
        for i in range(SET_ROWS):
            name = str(form.get(f"set{i}_name", "")).strip()[:50]
            price = str(form.get(f"set{i}_price", "")).strip()[:20]
            portions = str(form.get(f"set{i}_portions", "")).strip()[:10]
            dish_ids = [
                int(d) for d in form.getall(f"set{i}_dishes", []) if str(d).isdigit() and int(d) <= INT4_MAX
            ]
            meal_type = str(form.get(f"set{i}_type", DEFAULT_MEAL_TYPE))
            meal_type = meal_type if meal_type in MEAL_TYPES else DEFAULT_MEAL_TYPE
            rows.append(
                {
                    "name": name,
                    "price": price,
                    "dishes": dish_ids,
                    "portions": portions,
                    "meal_type": meal_type,
                }
            )
            if not name and not price:
                continue
            if not name:
                errors[f"set{i}_name"] = "Enter a name for this set."
            fen = parse_yuan(price)
            if fen is None:
                errors[f"set{i}_price"] = "Enter a price in yuan, e.g. 12.50."
            count: int | None = None
            if portions:
                if not portions.isdigit() or int(portions) > 100_000:
                    errors[f"set{i}_portions"] = (
                        "Enter a whole number of portions, or leave it empty for no limit."
                    )
                else:
                    count = int(portions)
            if name and fen is not None and f"set{i}_portions" not in errors:
                sets.append(
                    MealSetIn(
                        name=name,
                        list_price_fen=fen,
                        dish_ids=dish_ids[:20],
                        portions_available=count,
                        meal_type=meal_type,  # type: ignore[arg-type]  # checked against MEAL_TYPES
                    )
                )
        if not sets and not errors:
            errors["set0_name"] = "Enter at least one set."
        form_error = None
        if not errors:
            try:
                await services.set_menu(principal_of(request), site_id, day, slot, sets)
                monday = day - dt.timedelta(days=day.weekday())
                return Redirect(path=f"/menus/sites/{site_id}?week={monday.isoformat()}", status_code=303)
            except (DomainError, msgspec.ValidationError) as err:
                if isinstance(err, DomainError) and (
                    err.status >= 500 or err.code in ("forbidden", "not_found")
                ):
                    raise
                form_error = err.message(lang_of(request)) if isinstance(err, DomainError) else str(err)
        return await self._form(request, site_id, day, slot, rows, errors, form_error, status_code=422)


PAGES = [MenuPages]
