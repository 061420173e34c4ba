"""The city official's view: every district of the city side by side for a month.

Each row is the district's own month overview summed (the district dashboard shows the same
figures), so a city and its districts never disagree. Grades are counted per district with the
words of the district dashboard; money in yuan on the page, in fen through the API.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from canteen import i18n
from canteen.accounting.exports import source_label
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CITY_OFFICIAL
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.core.periods import shift
from canteen.regions.services import list_cities
from canteen.reports import services as reports
from canteen.web.dashboard import GRADE_TEXT, _month
from canteen.web.pages import page

GUARDS = [roles(CITY_OFFICIAL)]
GRADES = ("A", "B", "C", "D", "N")


@get("/official/city", guards=GUARDS, include_in_schema=False)
async def my_city(request: Request[Any, Any, Any]) -> Redirect:
    """The first city this user oversees (a city official has one, an admin may pick any)."""
    actor = principal_of(request)
    cities = [c for c in await list_cities(actor) if actor.can_city(c.id)]
    if not cities:
        raise DomainError("not_found", {"city_id": None})
    return Redirect(path=f"/official/cities/{cities[0].id}")


@get("/official/cities/{city_id:int}", guards=GUARDS, include_in_schema=False)
async def city_page(
    request: Request[Any, Any, Any], city_id: FromPath[int], month: FromQuery[str] = ""
) -> Template:
    month = _month(month[:7])
    view = await reports.city_overview(principal_of(request), city_id, month)
    lang = lang_of(request)
    sources = sorted(view.by_source)
    rows = [
        {
            "name": d.name,
            "points": d.points,
            "grades": [d.graded.get(g, 0) for g in GRADES],
            "meals": d.meals,
            "subsidised": d.subsidised,
            "subsidy": yuan(d.subsidy_fen),
            "by_source": [yuan(d.by_source.get(s, 0)) for s in sources],
        }
        for d in view.districts
    ]
    chart = {
        "type": "bar",
        "labels": [d.name for d in view.districts],
        "series": [
            {"label": i18n.gettext(lang, "Meals"), "data": [d.meals for d in view.districts]},
            {
                "label": i18n.gettext(lang, "Subsidised meals"),
                "data": [d.subsidised for d in view.districts],
            },
        ],
    }
    return page(
        request,
        "dashboard/city.html",
        view=view,
        month=month,
        prev=shift(month, -1),
        next=shift(month, 1),
        rows=rows,
        sources=[source_label(s, lang) for s in sources],
        totals={
            "points": sum(d.points for d in view.districts),
            "grades": [sum(d.graded.get(g, 0) for d in view.districts) for g in GRADES],
            "subsidy": yuan(view.subsidy_fen),
            "by_source": [yuan(view.by_source[s]) for s in sources],
        },
        grade_names=GRADES,
        grades=GRADE_TEXT,
        district_chart=chart,
        yuan=yuan,
    )


PAGES = [my_city, city_page]
