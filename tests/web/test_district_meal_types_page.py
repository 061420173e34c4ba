"""The district's meal types on the policies page, in headless Chromium at 1024×768: the official
ticks the types its points serve, saves, and the menu editor of a point offers exactly those (the
standard meal always); axe finds nothing serious."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _set_up() -> dict[str, Any]:
    from tests.factories import make_world

    w = await make_world()
    return {"district": w.district_x, "site": w.site_a}


def test_an_official_chooses_the_meal_types_and_the_menu_offers_them(
    page: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_set_up)
    sign_in(page, "official_x")
    page.goto("/policies")
    form = page.locator(f"#district-{d['district']}-types")
    expect(form).to_contain_text("本区提供的餐型")
    # Every type to begin with; the standard meal cannot be unticked.
    expect(form.locator("input[value='standard']")).to_be_disabled()
    for code in ("therapeutic", "soft", "diabetic", "low_salt", "pureed"):
        expect(form.locator(f"input[value='{code}']")).to_be_checked()
    for code in ("diabetic", "low_salt", "pureed"):
        form.locator(f"input[value='{code}']").uncheck()
    check_axe(page, "the policies page with the meal types")
    form.get_by_role("button", name="保存餐型").click()
    page.wait_for_url(re.compile(r"/policies"))
    form = page.locator(f"#district-{d['district']}-types")
    expect(form.locator("input[value='soft']")).to_be_checked()
    expect(form.locator("input[value='pureed']")).not_to_be_checked()

    day = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    page.goto(f"/menus/sites/{d['site']}/{day}/lunch")
    options = page.locator("select[name='set0_type'] option")
    expect(options).to_have_count(3)
    assert options.all_inner_texts() == ["普通餐", "治疗餐", "软食"]
    check_axe(page, "the menu editor with the district's types")
