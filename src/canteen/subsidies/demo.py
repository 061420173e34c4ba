"""A realistic subsidy policy for the demo district.

Modelled on what county and city documents typically publish: 特困 free,
低保 and 失能/重残 at a fixed 3-yuan co-pay, advanced-age reductions (8 yuan
at 90+, 5 yuan at 80-89), 2 yuan for any other registered elder of 60+; city
60 % / district 40 %; one subsidised meal per slot per day; a 5-yuan delivery
fee, free for 特困/失能/重残 and 3 yuan off at 80+.

Above it, the city's base (:func:`city_base_policy`, published by
:func:`publish_city_base`): 2 yuan at 80–89 and 3 yuan at 90+, paid by the city
alone wherever in the city the elder eats. The district policy then tops up on
top of it (rules.effective_policy): an 85-year-old gets 2 yuan from the base and
5 yuan off what is left (7 yuan, co-pay 8 of a 15-yuan lunch), a 低保 elder still
pays exactly 3 yuan (a fixed co-pay top-up sets the final co-pay), 特困 still nothing.
"""

from __future__ import annotations

import datetime as dt
from datetime import date

from canteen.core.audit import SystemActor
from canteen.core.categories import Category
from canteen.subsidies.schemas import (
    DeliveryReduction,
    DeliveryRule,
    FundingShare,
    Policy,
    Portability,
    Tier,
)


def demo_policy(*, district_id: int = 1, effective_from: date = date(2025, 1, 1), version: int = 1) -> Policy:
    """The demo district's policy: valid as returned (``validate_policy`` passes)."""
    tiers = [
        # Listed from most to least generous so that, on equal subsidies (a
        # 0-fen meal, say), the reason names the tier a case worker expects.
        Tier(code="tekun", name_zh="特困供养", name_en="Extreme poverty (tekun)",
             categories=[Category.TEKUN.value], kind="free"),
        Tier(code="dibao", name_zh="低保", name_en="Minimum living allowance (dibao)",
             categories=[Category.DIBAO.value], kind="fixed_copay", value=300),
        Tier(code="disabled", name_zh="失能/重残", name_en="Disabled or severely disabled",
             categories=[Category.DISABLED.value, Category.SEVERE_DISABILITY.value],
             kind="fixed_copay", value=300),
        Tier(code="age90", name_zh="高龄90+", name_en="Age 90+", min_age=90, kind="amount_off", value=800),
        Tier(code="age80", name_zh="高龄80–89", name_en="Age 80-89", min_age=80, max_age=89,
             kind="amount_off", value=500),
        Tier(code="senior60", name_zh="60岁以上会员", name_en="Member aged 60+", min_age=60,
             kind="amount_off", value=200),
    ]  # fmt: skip
    return Policy(
        name="老年助餐补贴政策（演示区）",
        version=version,
        district_id=district_id,
        effective_from=effective_from,
        combination="best",
        per_slot_daily_limit=1,
        funding=[FundingShare(source="city", percent=60), FundingShare(source="district", percent=40)],
        tiers=tiers,
        delivery=DeliveryRule(
            fee_fen=500,
            reductions=[
                DeliveryReduction(tier_code="tekun", kind="free"),
                DeliveryReduction(tier_code="disabled", kind="free"),
                DeliveryReduction(tier_code="age90", kind="amount_off", value=300),
                DeliveryReduction(tier_code="age80", kind="amount_off", value=300),
            ],
        ),
        # There is no street share in the demo district, so eating in another
        # street changes nothing; in another district only the city's share
        # follows the person (the district funds its own residents).
        portability=Portability(outside_home_street=None, outside_home_district=["city"]),
    )


def city_base_policy(
    *, city_id: int = 1, effective_from: date = date(2025, 1, 1), version: int = 1
) -> Policy:
    """杭州市's base in the demo: advanced-age subsidies paid 100 % by the city (valid as returned)."""
    return Policy(
        name="杭州市老年助餐基础补贴（演示）",
        version=version,
        city_id=city_id,
        effective_from=effective_from,
        combination="best",
        per_slot_daily_limit=1,
        funding=[FundingShare(source="city", percent=100)],
        tiers=[
            Tier(
                code="city_age90",
                name_zh="市级高龄90+",
                name_en="City: age 90+",
                min_age=90,
                kind="amount_off",
                value=300,
            ),
            Tier(
                code="city_age80",
                name_zh="市级高龄80–89",
                name_en="City: age 80-89",
                min_age=80,
                max_age=89,
                kind="amount_off",
                value=200,
            ),
        ],
        # The city pays its base wherever in the city the elder eats.
        portability=Portability(outside_home_street=None, outside_home_district=None),
    )


async def publish_city_base(
    city_id: int, *, now: dt.datetime | None = None, effective_from: date = date(2025, 1, 1)
) -> int | None:
    """Publish :func:`city_base_policy` for ``city_id`` unless the city already has a base
    policy (idempotent, like the district's demo policy); the stored id, or None when one was
    there already."""
    # services imports nothing from here at module level, but keep the store's import local so
    # that the pure policy builders above load without the database layer.
    from canteen.subsidies import services
    from canteen.subsidies.tables import SubsidyPolicy

    if await SubsidyPolicy.exists().where(SubsidyPolicy.city == city_id):
        return None
    actor = SystemActor("demo-loader")
    draft = await services.create_city_policy(
        actor, city_id, city_base_policy(city_id=city_id, effective_from=effective_from), now=now
    )
    await services.publish_policy(actor, draft.id, now=now)
    return draft.id
