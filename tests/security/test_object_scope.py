"""Object-level checks beyond the route matrix (issue 14, items 3 and 4).

* ``POST /api/v1/quotes`` for every principal of the matrix, the elder and the family member:
  an elder of another scope — by id, by QR token, by typed card number, even a revoked card — is
  answered exactly like an unknown one (``not_found``); the price split is the same for every
  role that may quote, and the applied tier and the reason (which name the elder's categories:
  低保 …) only reach the roles the registry lets see categories (officials, operators and
  cashiers of the elder's district): never kitchen or courier staff.
* The elder's order form takes the site from the elder's own assignment: a posted ``site_id``
  of another district's point (or another point of the district) is refused with
  ``order_site_not_assigned`` (409) and nothing is written; staff, the standing-order job and
  the elder principal are held to the same rule in ``orders.services.check_order_site``.

The route matrix itself (tests/security/test_authz_matrix.py) also sends these bodies with
district Y objects and with mixed-scope bodies (``MIXED``).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from canteen.accounts.passwords import hash_password
from canteen.accounts.services import load_principal
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.orders.actors import ElderPrincipal
from canteen.orders.schemas import StandingOrderIn
from canteen.orders.services import (
    create_family_account,
    create_standing_order,
    link_family,
    place_order,
    quote_order,
)
from canteen.orders.tables import Order
from canteen.registry.card_services import card_keys, issue_card
from canteen.registry.cards import format_card_number, issue_token, new_card_number
from canteen.registry.services import grant_delivery
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.services import create_policy, publish_policy
from canteen.web.elder import ELDER_COOKIE
from tests.factories import World
from tests.integration.cards.elders import add_elder
from tests.integration.delivery.data import add_menu
from tests.security.authz_table import ELDER_PRINCIPALS, STAFF
from tests.security.test_authz_matrix import DENIED, _tokens

PIN = "2580"
FAMILY_PHONE = "13700002222"
FAMILY_PASSWORD = "family-secret-2580"
UNKNOWN_ELDER = 2_000_000_000

# The site each staff principal quotes at (one it may quote at) ...
QUOTE_SITE = {
    "admin": "site_a",
    "official_x": "site_a",
    "official_y": "site_c",
    "operator_a": "site_a",
    "cashier_a": "site_a",
    "cashier_b": "site_b",
    "cashier_c": "site_c",
    "kitchen_k": "kitchen_x",
    "courier_a": "site_a",
    "city_official_h": "site_a",
    "community_a": "site_a",
    "community_b": "site_a",
    "volunteer_a": "site_a",
}
# ... and the districts whose elders it may read → whether it may see their categories
# (canteen.registry.services.ROLE_ACCESS / access_of).
READS: dict[str, dict[str, bool]] = {
    "admin": {"x": True, "y": True},
    "official_x": {"x": True},
    "official_y": {"y": True},
    "operator_a": {"x": True},
    "cashier_a": {"x": True},
    "cashier_b": {"x": True},
    "cashier_c": {"y": True},
    "kitchen_k": {"x": False},
    "courier_a": {"x": False},
    "city_official_h": {},  # reads reports, never an elder
    # Community roles never quote: the counter is not theirs (their elders: the registry).
    "community_a": {},
    "community_b": {},
    "volunteer_a": {},
}
CATEGORY_FIELDS = ("tier_code", "tier_codes", "tier_name_zh", "tier_name_en", "reason_zh", "reason_en")
SPLIT_FIELDS = (
    "list_price_fen",
    "subsidy_fen",
    "copay_fen",
    "funding",
    "delivery_fee_fen",
    "delivery_subsidy_fen",
    "delivery_copay_fen",
    "delivery_funding",
    "total_due_fen",
    "policy_version",
)


@dataclass
class Dibao:
    """A 低保 elder with a live card (token and number) and a revoked one."""

    elder: int
    token: str
    number: str
    revoked_number: str


@dataclass
class QuoteWorld:
    sites: dict[str, int]
    elders: dict[str, Dibao] = field(default_factory=dict)


async def _policies(w: World) -> Any:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    for district in (w.district_x, w.district_y):
        policy = await create_policy(
            admin, district, demo_policy(district_id=district, effective_from=dt.date(2025, 1, 1))
        )
        await publish_policy(admin, policy.id)
    return admin


async def _dibao(admin: Any, district: int, community: int) -> Dibao:
    elder = await add_elder(district=district, community=community, categories=("dibao",))
    old = await issue_card(admin, elder, reason="new")
    live = await issue_card(admin, elder, reason="lost")  # revokes the first card
    return Dibao(elder, live.token, live.number, old.number)


async def _quote_world(w: World) -> QuoteWorld:
    admin = await _policies(w)
    q = QuoteWorld(
        sites={"site_a": w.site_a, "site_b": w.site_b, "site_c": w.site_c, "kitchen_x": w.kitchen_x}
    )
    q.elders["x"] = await _dibao(admin, w.district_x, w.community_x)
    q.elders["y"] = await _dibao(admin, w.district_y, w.community_y)
    # The elder and the family member of the matrix: the district X elder signs in on /elder.
    await _elder_signin_ready(admin, q.elders["x"].elder)
    return q


async def _elder_signin_ready(admin: Any, elder: int) -> None:
    from canteen.registry.tables import Elder

    await Elder.update({Elder.pin_hash: hash_password(PIN)}).where(Elder.id == elder)
    family = await create_family_account(admin, phone=FAMILY_PHONE, password=FAMILY_PASSWORD, name="长者儿子")
    await link_family(admin, family, elder, consent_note="长者本人同意（对象权限测试）")


def _elder_sessions(client: Any, card_number: str) -> dict[str, str]:
    forms = {
        "elder_e1": ("/elder/sign-in", {"card_number": card_number, "pin": PIN}),
        "family_e1": ("/elder/family-sign-in", {"phone": FAMILY_PHONE, "password": FAMILY_PASSWORD}),
    }
    tokens = {}
    for who in ELDER_PRINCIPALS:
        path, data = forms[who]
        client.get(path)
        r = client.post(
            path, data={**data, "_csrf_token": client.cookies.get("csrftoken")}, follow_redirects=False
        )
        assert r.status_code in (302, 303), (who, r.status_code, r.text[:300])
        tokens[who] = client.cookies.get(ELDER_COOKIE)
        client.cookies.delete(ELDER_COOKIE)
    return tokens


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


def _quote(client: Any, headers: dict[str, str], site: int, **who: Any) -> Any:
    body = {"site_id": site, "slot": "lunch", "date": _today().isoformat(), "list_price_fen": 1500, **who}
    return client.post("/api/v1/quotes", json=body, headers={**headers, "Accept": "application/json"})


def test_quotes_by_role(client: Any, world: World, run: Any, login: Any) -> None:
    q = run(lambda: _quote_world(world))
    headers = _tokens(client, login, run, world)
    problems: list[str] = []
    unknown_number = format_card_number(new_card_number(random.Random(14)))
    unknown_token = issue_token(card_keys(), UNKNOWN_ELDER, 1)
    # (district, site) → the price split the first principal got there: the same for everyone.
    splits: dict[tuple[str, int], dict[str, Any]] = {}

    for who in STAFF:
        if not READS[who]:
            # A city official reads reports, never a point's counter: the site itself is not there.
            r = _quote(client, headers[who], q.sites["site_a"], elder_id=UNKNOWN_ELDER)
            assert r.status_code == 404 and r.json()["detail"] == {"site_id": q.sites["site_a"]}, r.text
            continue
        h, site = headers[who], q.sites[QUOTE_SITE[who]]
        # What an unknown elder looks like to this principal: the reference for out-of-scope ones.
        by_id = _quote(client, h, site, elder_id=UNKNOWN_ELDER)
        assert by_id.status_code == 404 and by_id.json()["code"] == "not_found", (who, by_id.text)
        assert by_id.json()["detail"] == {"elder_id": UNKNOWN_ELDER}, by_id.text
        unknown_cards = [_quote(client, h, site, card=c) for c in (unknown_number, unknown_token)]
        card_body = unknown_cards[0].json()
        for r in unknown_cards:
            assert r.status_code == 404 and r.json() == card_body, (who, r.text)
        assert card_body["code"] == "not_found" and card_body["detail"] == {"field": "card"}, card_body

        for district, d in q.elders.items():
            asks = {
                "id": {"elder_id": d.elder},
                "token": {"card": d.token},
                "number": {"card": d.number},
            }
            revoked = _quote(client, h, site, card=d.revoked_number)
            if district not in READS[who]:
                for how, ask in asks.items():
                    r = _quote(client, h, site, **ask)
                    want = {**by_id.json(), "detail": {"elder_id": d.elder}} if how == "id" else card_body
                    if r.status_code != 404 or r.json() != want:
                        problems.append(f"{who} quoting district {district}'s elder by {how}: {r.text[:200]}")
                if revoked.status_code != 404 or revoked.json() != card_body:
                    problems.append(f"{who} with district {district}'s revoked card: {revoked.text[:200]}")
                continue
            if revoked.status_code != 409 or revoked.json()["code"] != "card_revoked":
                problems.append(f"{who} with a readable revoked card: {revoked.text[:200]}")
            sees = READS[who][district]
            for how, ask in asks.items():
                r = _quote(client, h, site, **ask)
                if r.status_code != 200:
                    problems.append(f"{who} quoting district {district}'s elder by {how}: {r.text[:200]}")
                    continue
                body = r.json()
                split = {k: body[k] for k in SPLIT_FIELDS}
                assert body["subsidy_fen"] > 0, body  # the 低保 tier applies
                if split != splits.setdefault((district, site), split):
                    problems.append(f"{who}: the split differs from the others' at that site: {split}")
                named = "低保" in body["reason_zh"] or "dibao" in body["reason_en"].lower()
                if sees and (body["tier_code"] != "dibao" or not named):
                    problems.append(f"{who} (may see categories) got no tier: {body}")
                if not sees and (
                    named
                    or body["tier_code"] is not None
                    or body["tier_codes"]
                    or body["tier_name_zh"] is not None
                    or body["tier_name_en"] is not None
                ):
                    problems.append(f"{who} (may not see categories) got them by {how}: {body}")

    # Nobody else gets a quote at all: no login, a revoked token, the elder and the family member.
    body = {"elder_id": q.elders["x"].elder}
    for who in ("anonymous", "revoked"):
        r = _quote(client, headers[who], q.sites["site_a"], **body)
        if r.status_code not in DENIED or "tier_code" in r.text:
            problems.append(f"{who}: {r.status_code} {r.text[:200]}")
    sessions = _elder_sessions(client, q.elders["x"].number)
    for who in ELDER_PRINCIPALS:
        client.cookies.set(ELDER_COOKIE, sessions[who])
        try:
            for ask in (body, {"card": q.elders["x"].token}, {"elder_id": q.elders["y"].elder}):
                r = _quote(client, {}, q.sites["site_a"], **ask)
                if r.status_code not in DENIED or "tier_code" in r.text:
                    problems.append(f"{who}: {r.status_code} {r.text[:200]}")
        finally:
            client.cookies.delete(ELDER_COOKIE)
    assert not problems, "\n".join(problems)


# --- the elder's order form -----------------------------------------------------------------


@dataclass
class OrderWorld:
    elder: int
    number: str
    tomorrow: dt.date
    sets: dict[str, int]  # site name → tomorrow's lunch set at that site


async def _order_world(w: World) -> OrderWorld:
    admin = await _policies(w)
    d = await _dibao(admin, w.district_x, w.community_x)
    await grant_delivery(admin, d.elder, "行动不便，社区评估同意送餐", None)
    await _elder_signin_ready(admin, d.elder)
    tomorrow = _today() + dt.timedelta(days=1)
    sets = {}
    for name, site in (("site_a", w.site_a), ("site_c", w.site_c)):
        sets[name] = (await add_menu(site, tomorrow, "lunch"))[0]
    return OrderWorld(d.elder, d.number, tomorrow, sets)


async def _orders_of(elder: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Order.select(Order.id, Order.site, Order.district).where(
        Order.elder == elder
    )
    return rows


def test_elder_order_form_takes_the_site_from_the_elder(client: Any, world: World, run: Any) -> None:
    o = run(lambda: _order_world(world))
    sessions = _elder_sessions(client, o.number)
    csrf = client.cookies.get("csrftoken")
    base = f"/elder/{o.elder}/order/{o.tomorrow.isoformat()}/lunch"

    def post(who: str, set_id: int, site_id: int | None) -> Any:
        client.cookies.set(ELDER_COOKIE, sessions[who])
        try:
            data = {"_csrf_token": csrf, "payment": "cash", "key": uuid.uuid4().hex}
            if site_id is not None:
                data["site_id"] = str(site_id)
            return client.post(f"{base}/{set_id}", data=data, follow_redirects=False)
        finally:
            client.cookies.delete(ELDER_COOKIE)

    # The confirm page offers the elder's own point (site A, the community's open meal point).
    client.cookies.set(ELDER_COOKIE, sessions["elder_e1"])
    page = client.get(f"{base}/{o.sets['site_a']}")
    client.cookies.delete(ELDER_COOKIE)
    assert page.status_code == 200 and f'name="site_id" value="{world.site_a}"' in page.text, page.text[:500]

    refused = [
        # Another district's point, with its own menu's set (the subsidy of district Y) ...
        ("elder_e1", o.sets["site_c"], world.site_c),
        ("family_e1", o.sets["site_c"], world.site_c),
        # ... with the elder's own set, and another point of the elder's own district.
        ("elder_e1", o.sets["site_a"], world.site_c),
        ("family_e1", o.sets["site_a"], world.site_b),
    ]
    for who, set_id, site_id in refused:
        r = post(who, set_id, site_id)
        assert r.status_code == 409, (who, site_id, r.status_code, r.text[:300])
        assert "这个助餐点不为这位长者送餐" in r.text, r.text[:500]
    assert run(lambda: _orders_of(o.elder)) == []

    # The elder's own point (as the confirm page posts it) is placed there.
    r = post("elder_e1", o.sets["site_a"], world.site_a)
    assert r.status_code in (302, 303) and "/placed" in r.headers["location"], r.text[:300]
    orders = run(lambda: _orders_of(o.elder))
    assert [(x["site"], x["district"]) for x in orders] == [(world.site_a, world.district_x)], orders


async def _service_refusals(w: World, o: OrderWorld) -> dict[str, str]:
    """What each kind of actor gets asking for district Y's site C for a district X elder."""
    official_x = await load_principal(w.users["official_x"])
    official_y = await load_principal(w.users["official_y"])
    assert official_x is not None and official_y is not None
    actors: dict[str, Any] = {
        "elder": ElderPrincipal("elder", o.elder, (o.elder,)),
        "family": ElderPrincipal("family", 1, (o.elder,)),
        "system": SystemActor("standing_orders"),
        "official_x": official_x,
        "official_y": official_y,
    }
    out: dict[str, str] = {}
    for name, actor in actors.items():
        calls = {
            "place_order": lambda a=actor: place_order(
                a,
                elder_id=o.elder,
                site_id=w.site_c,
                day=o.tomorrow,
                slot="lunch",
                meal_set_id=o.sets["site_c"],
                payment="cash",
            ),
            "quote_order": lambda a=actor: quote_order(
                a,
                elder_id=o.elder,
                site_id=w.site_c,
                day=o.tomorrow,
                slot="lunch",
                meal_set_id=o.sets["site_c"],
            ),
            "create_standing_order": lambda a=actor: create_standing_order(
                a, StandingOrderIn(elder_id=o.elder, site_id=w.site_c)
            ),
        }
        for call, fn in calls.items():
            try:
                await fn()
                out[f"{name}.{call}"] = "ok"
            except DomainError as err:
                out[f"{name}.{call}"] = err.code
    return out


def test_order_services_hold_the_elder_to_their_district(world: World, run: Any) -> None:
    o = run(lambda: _order_world(world))
    got = run(lambda: _service_refusals(world, o))
    want = {}
    for call in ("place_order", "quote_order", "create_standing_order"):
        for name in ("elder", "family", "system"):
            want[f"{name}.{call}"] = "order_site_not_assigned"
        # Staff: site C is outside official_x's scope; the elder is outside official_y's.
        want[f"official_x.{call}"] = "not_found"
        want[f"official_y.{call}"] = "not_found"
    # quote_order and the standing order are not reached by the system actor's job, but hold anyway.
    assert got == want
    assert run(lambda: _orders_of(o.elder)) == []


@pytest.mark.parametrize("who", ["official_x", "admin"])
def test_staff_may_order_from_their_scope(world: World, run: Any, who: str) -> None:
    """Staff place orders at the elder's district's points; an admin's scope is every site."""
    o = run(lambda: _order_world(world))

    async def go() -> tuple[int, int]:
        actor = await load_principal(world.users[who])
        assert actor is not None
        site, set_id = (
            (world.site_a, o.sets["site_a"]) if who == "official_x" else (world.site_c, o.sets["site_c"])
        )
        status, order = await place_order(
            actor,
            elder_id=o.elder,
            site_id=site,
            day=o.tomorrow,
            slot="lunch",
            meal_set_id=set_id,
            payment="cash",
        )
        return status, order.site_id

    status, site = run(go)
    assert status == 201 and site == (world.site_a if who == "official_x" else world.site_c)
