"""Claim checks in headless Chromium (issue #15): an official starts the month's checks from the
claim-check page, watches the job's progress page (the bar, then the result link) and comes back
to the flags; then decides every open flag of one kind at once with one reason. axe-core finds
no serious or critical violation; 1024×768 screenshots land in var/screenshots for a person."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MONTH = "2026-10"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


async def _set_up() -> dict[str, Any]:
    from canteen.regions.tables import Site
    from tests.factories import make_world
    from tests.integration.reports.helpers import add_meal

    w = await make_world()
    lunch = {"slot": "lunch", "start": "10:00", "end": "13:00", "cutoff": "09:00"}
    await Site.update({Site.slots: [lunch]}).where(Site.id.is_in([w.site_a, w.site_b]))
    for k in range(5):
        day = dt.date(2026, 10, 5) + dt.timedelta(days=k)
        await add_meal(w, site=w.site_a, elder=None, day=day, at="15:00", subsidised=False)
        await add_meal(w, site=w.site_b, elder=None, day=day, at="11:30", subsidised=False)
    return {"district": w.district_x}


def test_an_official_runs_the_claim_checks_as_a_job_and_decides_in_bulk(
    page: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_set_up)["district"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, "official_x")
    page.goto(f"/official/districts/{d}/claims?month={MONTH}")
    expect(page.locator("#open-count")).to_contain_text("0")
    page.locator("#run-checks button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))
    expect(page.locator("#job-progress")).to_be_attached()
    expect(page.locator("h1")).to_contain_text("核查")
    result = page.locator("#job-result")
    # The page polls its status with htmx; reloading does the same where htmx is not loaded.
    for _ in range(240):
        if result.count():
            break
        page.wait_for_timeout(500)
        if not result.count():
            page.reload()
    expect(result).to_be_visible()
    expect(page.locator(".job-summary")).to_contain_text("5")
    assert page.locator("#job-progress").get_attribute("value") == "100"
    page.screenshot(path=str(SHOTS / "claims-job-done.png"))
    check_axe(page, "the claim-check job")
    result.click()
    page.wait_for_url(re.compile(rf"/official/districts/{d}/claims\?month={MONTH}$"))
    expect(page.locator("#open-count")).to_contain_text("5")
    expect(page.locator("input[name=flag_ids]")).to_have_count(5)
    page.screenshot(path=str(SHOTS / "claims-flags.png"), full_page=True)
    check_axe(page, "the claim flags with bulk review")

    # Every open flag of one kind, one decision, one reason.
    page.select_option("#all-of-kind", "outside_hours")
    page.fill("#review-reason", "下午补录的堂食，已核实签到表")
    page.locator("#review button[type=submit]").click()
    page.wait_for_url(re.compile(r"/claims\?month="))
    expect(page.locator("#open-count")).to_contain_text("0")
    expect(page.locator("input[name=flag_ids]")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "claims-decided.png"))
    assert page.js_errors == [], page.js_errors
