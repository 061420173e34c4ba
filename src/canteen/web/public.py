"""The public transparency page of a district: monthly totals per meal point, no login, no person."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from canteen import i18n
from canteen.accounts.context import lang_of
from canteen.core.clock import utcnow
from canteen.core.money import yuan
from canteen.reports import services as reports
from canteen.settings import get_settings
from canteen.web.pages import page


@get("/public/districts/{code:str}", include_in_schema=False)
async def public_district(
    request: Request[Any, Any, Any], code: FromPath[str], month: FromQuery[str] = ""
) -> Template:
    today = utcnow().astimezone(get_settings().tz).date()
    data = await reports.public_district(code[:12], month[:7] or None, today)
    charts = {
        "meals": {
            "type": "bar",
            "labels": [p.name for p in data.points],
            "series": [
                {"label": i18n.gettext(lang_of(request), "Meals"), "data": [p.meals for p in data.points]}
            ],
        }
    }
    return page(request, "public/district.html", data=data, yuan=yuan, charts=charts)


PAGES = [public_district]
