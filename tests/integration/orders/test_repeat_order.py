""" "Same as last time" on the elder's home page: offered only when it can be ordered. Never for a
site that is no longer open, never for a set that is no longer on the menu (or sold out)."""

from __future__ import annotations

import re
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.menus.tables import MealSet
from canteen.orders.services import elder_sign_in, place_order
from canteen.regions.tables import Site
from tests.integration.orders.setup import PIN, Delivery, delivery_world


def _setup(world: Any, run: Any) -> tuple[Delivery, int]:
    """A delivery world and one elder whose last order is today's lunch, set 套餐A."""

    async def go() -> tuple[Delivery, int]:
        d = await delivery_world(world, n_elders=1)
        elder = d.elders[0]
        who = await elder_sign_in(d.numbers[elder], PIN, now=utcnow())
        await place_order(
            who,
            elder_id=elder,
            site_id=d.site,
            day=d.today,
            slot="lunch",
            meal_set_id=d.sets_today["套餐A"],
            payment="balance",
            idempotency_key=f"repeat-first-{elder}",
        )
        return d, elder

    return run(go)


def _sign_in(client: Any, d: Delivery, elder: int) -> None:
    client.get("/elder/sign-in")
    r = client.post(
        "/elder/sign-in",
        data={"card_number": d.numbers[elder], "pin": PIN, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (301, 302, 303), r.text


def _offer(client: Any) -> str | None:
    html = client.get("/elder").text
    m = re.search(r'class="btn secondary repeat-order">[^<]*: ([^<]+)</button>', html)
    return m.group(1).strip() if m else None


def _repeat(client: Any, elder: int) -> str:
    r = client.post(
        f"/elder/{elder}/repeat",
        data={"_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (301, 302, 303), r.text
    return str(r.headers["location"])


def test_repeat_is_offered_while_the_site_is_open_and_never_once_it_closes(
    client: Any, world: Any, run: Any
) -> None:
    d, elder = _setup(world, run)
    _sign_in(client, d, elder)
    assert _offer(client) == "套餐A"
    target = _repeat(client, elder)
    # today's lunch is the one already ordered: the offer is the next one, tomorrow's (issue #16)
    assert target == f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch/{d.sets_tomorrow['套餐A']}"
    assert client.get(target).status_code == 200

    run(lambda: Site.update({Site.status: "closed"}).where(Site.id == d.site))
    home = client.get("/elder")
    assert home.status_code == 200
    assert _offer(client) is None  # no button for a closed site
    assert _repeat(client, elder) == "/elder"  # and a stale form does not reach the confirm page


def test_repeat_follows_the_set_and_stops_when_it_is_no_longer_on_the_menu(
    client: Any, world: Any, run: Any
) -> None:
    d, elder = _setup(world, run)
    _sign_in(client, d, elder)

    # Sold out today: the same set (by name) on tomorrow's menu is offered.
    run(
        lambda: MealSet.update({MealSet.portions_available: MealSet.portions_sold}).where(
            MealSet.id == d.sets_today["套餐A"]
        )
    )
    assert _offer(client) == "套餐A"
    assert (
        _repeat(client, elder)
        == f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch/{d.sets_tomorrow['套餐A']}"
    )

    # Tomorrow's menu no longer has it: nothing to repeat, no button.
    async def drop_tomorrow() -> None:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        await set_menu(admin, d.site, d.tomorrow, "lunch", [MealSetIn(name="软食套餐", list_price_fen=1200)])

    run(drop_tomorrow)
    assert _offer(client) is None
    assert _repeat(client, elder) == "/elder"
