"""Objects for the authorization matrix that the feature services build over several steps
(meals, delivery orders, rounds and stops, alerts, claim flags, settlements, standing orders,
family accounts): inserted straight into their tables, one in district X / site A ("mine") and
one in district Y / site C ("theirs"), plus a second elder of district X (E2) with an order and a
standing order of its own for the elder/family checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from canteen.accounting.tables import Settlement
from canteen.accounts.passwords import hash_password
from canteen.accounts.roles import Principal
from canteen.care.tables import RefundTask, VisitRule
from canteen.core.clock import utcnow
from canteen.core.tables import JobRun
from canteen.delivery.tables import Alert, DeliveryRound, RoundStop
from canteen.menus.services import menu_for
from canteen.orders.services import create_family_account, link_family
from canteen.orders.tables import StandingOrder
from canteen.quality.tables import ClaimFlag, Complaint
from canteen.regions.tables import Operator
from canteen.registry.tables import Card, Elder, ServicePause
from tests.factories import World
from tests.integration.delivery.data import add_meal, add_menu, add_order

PIN = "2580"
FAMILY_PHONE = "13700001111"
FAMILY_PASSWORD = "family-secret-2580"


@dataclass
class ElderWorld:
    """E1 (signs in with card number + PIN; a family member is linked to E1) and E2, both district X."""

    e1: int
    e2: int
    card_number: str
    order_e1: int
    order_e1_cancel: int
    order_e2: int
    order_y: int
    standing_e1: int
    standing_e2: int


async def _id(query: object) -> int:
    rows = await query  # type: ignore[misc]
    return int(rows[0]["id"])


async def _scope(
    admin: Principal,
    *,
    district: int,
    site: int,
    elder: int,
    courier: int,
    operator: int,
    day: dt.date,
    tag: str,
) -> dict[str, int]:
    now = utcnow()
    month = day.strftime("%Y-%m")
    # The delivery takes the day's subsidised lunch; the counter meal after it is sold at full price.
    order = await add_order(elder=elder, district=district, site=site, day=day, payment="cash")
    meal = await add_meal(district=district, site=site, elder=elder, day=day)
    round_id = await _id(
        DeliveryRound.insert(
            DeliveryRound(
                site=site, courier=courier, service_date=day, slot="lunch", created_at=now, updated_at=now
            )
        ).returning(DeliveryRound.id)
    )
    stop = await _id(
        RoundStop.insert(
            RoundStop(delivery_round=round_id, order=order, elder=elder, sequence=1, updated_at=now)
        ).returning(RoundStop.id)
    )
    place = await Elder.select(Elder.community).where(Elder.id == elder).first()
    assert place is not None
    alert = await _id(
        Alert.insert(
            Alert(
                district=district,
                community=place["community"],
                elder=elder,
                kind="urgent_welfare",
                service_date=day,
                slot="lunch",
                detail={},
                raised_at=now,
                status="open",
            )
        ).returning(Alert.id)
    )
    flag = await _id(
        ClaimFlag.insert(
            ClaimFlag(
                district=district,
                month=month,
                kind="duplicate_meal",
                site=site,
                operator=operator,
                elder=elder,
                meal_ids=[meal],
                detail="authz matrix",
                fingerprint=f"authz:{tag}",
                created_at=now,
            )
        ).returning(ClaimFlag.id)
    )
    settlement = await _id(
        Settlement.insert(
            Settlement(
                operator=operator, district=district, month=month, source="civil_affairs", computed_at=now
            )
        ).returning(Settlement.id)
    )
    standing = await _standing(elder, site, now)
    complaint = await _id(
        Complaint.insert(
            Complaint(
                site=site,
                district=district,
                elder=elder,
                category="food",
                text="授权矩阵投诉",
                filed_by_kind="elder",
                filed_by_id=elder,
                filed_at=now,
                updated_at=now,
            )
        ).returning(Complaint.id)
    )
    family = await create_family_account(admin, phone=f"1360000{district:04d}", password="x" * 12, name=tag)
    pause = await _id(
        ServicePause.insert(
            ServicePause(
                elder=elder,
                district=district,
                delivery=True,
                first_day=day + dt.timedelta(days=30),
                last_day=day + dt.timedelta(days=32),
                reason="hospital",
                by_kind="staff",
                created_at=now,
            )
        ).returning(ServicePause.id)
    )
    rule = await _id(
        VisitRule.insert(
            VisitRule(
                district=district,
                name="独居80岁以上",
                alone=True,
                min_age=80,
                every_days=7,
                created_at=now,
                updated_at=now,
            )
        ).returning(VisitRule.id)
    )
    task = await _id(
        RefundTask.insert(
            RefundTask(
                district=district,
                elder=elder,
                balance_fen=1200,
                reason="moved",
                event_date=day,
                opened_at=now,
            )
        ).returning(RefundTask.id)
    )
    # A job run of the district (a claim check an official started): its page and its file.
    run_id = f"{district:08x}{site:08x}"[:16]
    await JobRun.insert(
        JobRun(
            id=run_id,
            kind="test.count",
            status="done",
            district=district,
            created_at=now,
            output=b"x",
            output_name="x.txt",
            output_type="text/plain",
            result={"download": True},
        )
    )
    return {
        "run_id": run_id,  # type: ignore[dict-item]  # the one id that is text
        "pause_id": pause,
        "rule_id": rule,
        "task_id": task,
        "meal_id": meal,
        "order_id": order,
        "round_id": round_id,
        "stop_id": stop,
        "alert_id": alert,
        "flag_id": flag,
        "settlement_id": settlement,
        "standing_id": standing,
        "family_id": family,
        "complaint_id": complaint,
    }


async def _standing(elder: int, site: int, now: dt.datetime) -> int:
    return await _id(
        StandingOrder.insert(
            StandingOrder(elder=elder, site=site, slot="lunch", created_at=now, updated_at=now)
        ).returning(StandingOrder.id)
    )


async def feature_objects(
    admin: Principal, w: World, *, elder_x: int, elder_y: int, day: dt.date
) -> tuple[dict[str, int], dict[str, int]]:
    """(mine, theirs) ids of every feature object the path parameters name."""
    operator_y = await _id(
        Operator.insert(Operator(district=w.district_y, name="西湖区餐饮公司")).returning(Operator.id)
    )
    mine = await _scope(
        admin,
        district=w.district_x,
        site=w.site_a,
        elder=elder_x,
        courier=w.users["courier_a"],
        operator=w.operator_x,
        day=day,
        tag="x",
    )
    theirs = await _scope(
        admin,
        district=w.district_y,
        site=w.site_c,
        elder=elder_y,
        courier=w.users["cashier_c"],
        operator=operator_y,
        day=day,
        tag="y",
    )
    return mine, theirs


async def elder_world(
    admin: Principal, w: World, *, e1: int, e2: int, order_y: int, day: dt.date
) -> ElderWorld:
    """E1 gets a PIN and a linked family account; E1 and E2 each get an order and a standing order."""
    now = utcnow()
    await Elder.update({Elder.pin_hash: hash_password(PIN)}).where(Elder.id == e1)
    card = await Card.select(Card.number).where((Card.elder == e1) & Card.revoked_at.is_null()).first()
    assert card is not None
    family = await create_family_account(admin, phone=FAMILY_PHONE, password=FAMILY_PASSWORD, name="长者女儿")
    await link_family(admin, family, e1, consent_note="长者本人同意（授权矩阵测试）")
    kw = {"district": w.district_x, "site": w.site_a, "day": day, "payment": "cash", "status": "placed"}
    # Real orders need menus; E1's second order is a dinner (one delivered meal per slot and day).
    for slot in ("lunch", "dinner"):
        if await menu_for(w.site_a, day, slot) is None:
            await add_menu(w.site_a, day, slot)
    return ElderWorld(
        e1=e1,
        e2=e2,
        card_number=str(card["number"]),
        order_e1=await add_order(elder=e1, **kw),  # type: ignore[arg-type]
        order_e1_cancel=await add_order(elder=e1, slot="dinner", **kw),  # type: ignore[arg-type]
        order_e2=await add_order(elder=e2, **kw),  # type: ignore[arg-type]
        order_y=order_y,
        standing_e1=await _standing(e1, w.site_a, now),
        standing_e2=await _standing(e2, w.site_a, now),
    )
