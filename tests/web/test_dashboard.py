"""The district dashboard in headless Chromium: an official signs in, opens the month (charts drawn
by Chart.js, numbers one click away), the coverage map (Leaflet, offline: no tiles), runs the claim
checks and clears a flag with a reason; the public page needs no login. axe-core finds no serious
or critical violation on any of them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.factories import PASSWORD
from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MONTH = "2026-10"


async def _set_up() -> dict[str, Any]:
    from canteen.registry.tables import Elder
    from tests.factories import make_world
    from tests.integration.cards.elders import add_elder
    from tests.integration.reports.helpers import add_meal

    w = await make_world()
    near = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    far = await add_elder(district=w.district_x, community=w.community_x, birth_date=dt.date(1938, 3, 1))
    await Elder.update({Elder.lat: 30.319, Elder.lon: 120.152}).where(Elder.id == near)
    await Elder.update({Elder.lat: 30.36, Elder.lon: 120.152}).where(Elder.id == far)
    day = dt.date(2026, 10, 5)
    for k in range(3):
        await add_meal(w, site=w.site_a, elder=near, day=day + dt.timedelta(days=k))
        await add_meal(w, site=w.site_b, elder=None, day=day + dt.timedelta(days=k), subsidised=False)
    await add_meal(w, site=w.site_a, elder=None, day=day, at="15:00", subsidised=False)  # outside hours
    return {"district": w.district_x}


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))


def check_axe(page: Any, label: str) -> None:
    found = axe_violations(page)
    print(f"\naxe on {label}: {len(found)} violation(s)\n{describe(found)}")
    bad = serious(found)
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"


def test_dashboard_coverage_claims_and_public(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    d = data["district"]
    sign_in(page, "official_x")

    page.goto("/official/dashboard")
    page.wait_for_url(re.compile(rf"/official/districts/{d}/dashboard$"))
    page.goto(f"/official/districts/{d}/dashboard?month={MONTH}")
    expect(page.locator("h1")).to_contain_text(MONTH)
    # Chart.js drew the canvases (it sets their pixel size), and the numbers are one click away.
    page.wait_for_function("() => !!window.Chart && Chart.getChart('chart-days') !== undefined")
    details = page.locator("details", has=page.locator("summary")).first
    details.locator("summary").click()
    expect(details.locator("table")).to_be_visible()
    expect(details.locator("tbody tr")).to_have_count(3)
    check_axe(page, "the month dashboard")

    page.goto(f"/official/districts/{d}/coverage")
    page.wait_for_selector("#coverage-map .leaflet-interactive")
    expect(page.locator("#covered-share")).to_have_text("50.0%")
    # The next point is worked out as a job: the button, the progress page, the link back.
    page.locator("#suggest-next-point").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))
    expect(page.locator("#job-progress")).to_be_visible()
    for _ in range(120):  # htmx refreshes the status; reloading covers a page without it
        if page.locator("#job-result").count():
            break
        page.wait_for_timeout(500)
        if not page.evaluate("() => !!window.htmx"):
            page.reload()
    page.locator("#job-result").click()
    page.wait_for_url(re.compile(rf"/official/districts/{d}/coverage\?suggestion=[0-9a-f]{{16}}#h-next$"))
    page.wait_for_selector("#coverage-map .leaflet-interactive")
    expect(page.locator("#suggestion")).to_contain_text("1")
    check_axe(page, "the coverage page")

    page.goto(f"/official/districts/{d}/claims?month={MONTH}")
    page.get_by_role("button", name=re.compile("运行|Run")).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))  # the checks run as a job
    for _ in range(240):  # the progress page polls (htmx); a reload shows the same
        if page.locator("#job-result").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    page.locator("#job-result").click()
    page.wait_for_url(re.compile(r"/claims\?month="))
    expect(page.locator("#open-count")).to_contain_text("1")
    check_axe(page, "the claim checks")
    page.locator("a[href^='/official/claim-flags/']").first.click()
    expect(page.locator("tbody tr")).to_have_count(1)
    check_axe(page, "a claim flag")
    page.fill("#reason", "下午补录的堂食，已核实")
    page.locator("form[action$='/decision'] button[type=submit].primary").click()
    page.wait_for_url(re.compile(r"/claims\?month="))
    expect(page.locator("#open-count")).to_contain_text("0")

    page.context.clear_cookies()
    page.goto(f"/public/districts/330105?month={MONTH}")
    expect(page.locator("table tbody tr")).to_have_count(2)
    check_axe(page, "the public page")
    assert page.js_errors == [], page.js_errors
