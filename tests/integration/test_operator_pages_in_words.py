"""Operator and admin pages in words (issue #16): the settlement's funder is a labelled choice,
the cost template is in yuan like the form, the elder profile shows card, balance and history,
and user scopes name their sites."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from openpyxl import load_workbook

from canteen.core.clock import utcnow
from canteen.payments.ledger import top_up_cash
from canteen.registry.card_services import issue_card
from tests.factories import World
from tests.integration.accounting.test_api import MONTH, _setup
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import add_meal, admin
from tests.integration.test_admin_pages import page_login, post_form


def test_settlement_funder_is_a_labelled_choice(client: Any, world: World, run: Any) -> None:
    _setup(world, run)
    page_login(client, "operator_a")
    r = client.get("/accounting/settlements")
    assert r.status_code == 200
    select = re.search(r'<select id="source" name="source"[^>]*>(.*?)</select>', r.text, re.S)
    assert select, "the funding source is a select"
    options = dict(re.findall(r'<option value="([a-z_]+)">([^<]+)</option>', select.group(1)))
    assert options.get("city") == "市级", options
    assert 'name="source" value=' not in r.text  # no free-text box
    bad = post_form(
        client,
        "/accounting/settlements",
        {"operator_id": str(world.operator_x), "month": MONTH, "source": "市级"},
    )
    assert bad.status_code in (400, 422)
    d = post_form(
        client,
        "/accounting/settlements",
        {"operator_id": str(world.operator_x), "month": MONTH, "source": "city"},
    )
    assert d.status_code == 303
    detail = client.get(d.headers["location"]).text
    assert "· 市级</h1>" in detail and "站点种类" not in detail
    assert "市级" in client.get("/accounting/settlements").text


def test_cost_template_and_form_both_in_yuan(client: Any, world: World) -> None:
    page_login(client, "operator_a")
    page = client.get("/accounting/costs", params={"site_id": world.site_a, "month": MONTH}).text
    assert 'href="/accounting/costs/template.xlsx"' in page
    tpl = client.get("/accounting/costs/template.xlsx")
    assert tpl.status_code == 200
    wb = load_workbook(io.BytesIO(tpl.content))
    ws = wb.active
    assert ws is not None
    header = [c.value for c in ws[1]]
    assert "food_yuan" in header and not any(str(h).endswith("_fen") for h in header)
    row = {h: 0 for h in header}
    row.update(site_id=world.site_a, month=MONTH, food_yuan=1234.5, labour_yuan="800.25")
    ws.append([row[h] for h in header])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(
        "/accounting/costs/upload",
        files={"file": ("costs.xlsx", buf.getvalue(), "application/octet-stream")},
        data={"_csrf_token": client.cookies.get("csrftoken")},
    )
    assert r.status_code == 200, r.text
    saved = client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}").json()
    assert saved["food_fen"] == 123_450 and saved["labour_fen"] == 80_025
    # The form shows back exactly what the sheet said, in the same unit.
    form = client.get("/accounting/costs", params={"site_id": world.site_a, "month": MONTH}).text
    assert 'value="1234.50"' in form and 'value="800.25"' in form


async def _elder_with_history(w: World) -> dict[str, Any]:
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    now = utcnow()
    card = await issue_card(admin(w), elder, now=now)
    await top_up_cash(
        admin(w),
        elder_id=elder,
        site_id=w.site_a,
        amount_fen=5_000,
        now=now,
        idempotency_key="profile-topup-1",
    )
    await add_meal(w, site=w.site_a, elder=elder, day=dt.date(2026, 10, 5))
    return {"elder": elder, "card": card}


def test_elder_profile_shows_card_balance_and_meals(client: Any, world: World, run: Any) -> None:
    data = run(lambda: _elder_with_history(world))
    page_login(client, "admin")
    r = client.get(f"/elders/{data['elder']}")
    assert r.status_code == 200
    # Masked on the profile (the full number is on the card page): the printed shape, last three.
    number = re.search(r'id="card-number">\s*(\*\*\*-\*\*[A-Z0-9]{2}-[A-Z0-9])', r.text)
    assert number, r.text[:3000]
    assert f'href="/elders/{data["elder"]}/card"' in r.text
    assert re.search(r'id="balance">¥50\.00<', r.text)
    history = r.text.split('id="meal-history"', 1)[1].split("</table>", 1)[0]
    assert "午餐" in history and "2026年10月5日" in history
    assert "在册" in r.text and "registered" not in r.text.lower().split("<main", 1)[1]
    client.cookies.set("canteen_lang", "en")
    en = client.get(f"/elders/{data['elder']}").text
    assert "Registered" in en and "Lunch" in en


def test_user_scopes_name_their_sites(client: Any, world: World) -> None:
    page_login(client, "admin")
    r = client.get("/admin/users")
    assert r.status_code == 200
    assert not re.search(r"站点 \d+", r.text)
    assert "收银员 · " in r.text
