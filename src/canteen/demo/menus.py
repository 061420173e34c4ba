"""Demo dishes and menus: the central kitchen and each canteen or partner restaurant get
menus for the coming two weeks. Idempotent: dishes are found by name, existing menus kept."""

from __future__ import annotations

import datetime as dt

from canteen.core.audit import SystemActor
from canteen.core.categories import allergens_from_words
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.demo.district import DemoDistrict
from canteen.menus import services
from canteen.menus.schemas import MealSetIn
from canteen.menus.tables import DailyMenu, Dish
from canteen.regions.tables import Site

# name, diet tags, allergens
DISHES: list[tuple[str, list[str], list[str]]] = [
    ("红烧肉", [], []),
    ("清蒸鲈鱼", ["low_salt", "low_sugar", "soft", "no_pork"], ["鱼"]),
    ("番茄炒蛋", ["soft", "no_pork", "vegetarian"], ["蛋"]),
    ("香菇青菜", ["low_salt", "low_sugar", "soft", "no_pork", "vegetarian"], []),
    ("冬瓜排骨汤", ["low_salt", "low_sugar", "soft"], []),
    ("小米粥", ["low_salt", "soft", "no_pork", "vegetarian"], []),
    ("肉包", [], ["麸质"]),
    ("杂粮饭", ["low_salt", "low_sugar", "no_pork", "vegetarian"], []),
    ("软烂面条", ["low_salt", "soft", "no_pork", "vegetarian"], ["麸质"]),
    ("白灼虾", ["low_salt", "low_sugar", "no_pork"], ["虾"]),
    ("麻婆豆腐", ["soft", "no_pork", "vegetarian"], ["大豆"]),
    ("清炒西兰花", ["low_salt", "low_sugar", "no_pork", "vegetarian"], []),
    ("肉末蒸蛋", ["low_salt", "soft"], ["蛋"]),
    ("南瓜小米饭", ["low_salt", "soft", "no_pork", "vegetarian"], []),
    ("茶叶蛋", ["low_sugar", "no_pork", "vegetarian"], ["蛋"]),
    ("豆浆", ["low_salt", "soft", "no_pork", "vegetarian"], ["大豆"]),
    ("菜包", ["no_pork", "vegetarian"], ["麸质"]),
]

# A different combination each weekday, so the fortnight does not look copy-pasted.
LUNCH_MEAT = ["红烧肉", "清蒸鲈鱼", "白灼虾", "红烧肉", "清蒸鲈鱼", "冬瓜排骨汤", "白灼虾"]
LUNCH_VEG = ["香菇青菜", "清炒西兰花", "麻婆豆腐", "番茄炒蛋", "香菇青菜", "清炒西兰花", "番茄炒蛋"]


def _sets(slot: str, weekday: int, ids: dict[str, int]) -> list[MealSetIn]:
    if slot == "breakfast":
        return [
            MealSetIn(name="早餐A", list_price_fen=400, dish_ids=[ids["小米粥"], ids["肉包"], ids["茶叶蛋"]]),
            MealSetIn(name="早餐B", list_price_fen=300, dish_ids=[ids["豆浆"], ids["菜包"]]),
            MealSetIn(name="早餐C", list_price_fen=500, dish_ids=[ids["软烂面条"], ids["茶叶蛋"]]),
        ]
    meat, veg = LUNCH_MEAT[weekday], LUNCH_VEG[weekday]
    dinner = slot == "dinner"
    return [
        MealSetIn(
            name="套餐A 荤素搭配",
            list_price_fen=1600 if dinner else 1800,
            dish_ids=[ids[meat], ids[veg], ids["杂粮饭"]],
            portions_available=120,
        ),
        MealSetIn(
            name="套餐B 软食",
            list_price_fen=1400,
            dish_ids=[ids["肉末蒸蛋"], ids["软烂面条"] if dinner else ids["南瓜小米饭"], ids["冬瓜排骨汤"]],
            portions_available=60,
        ),
        # Greens and mixed grains only: low in salt and sugar, so a low-sugar (or low-salt)
        # elder has a set that fits, shown first on the ordering page.
        MealSetIn(
            name="套餐C 素食",
            list_price_fen=1200,
            dish_ids=[ids["香菇青菜"], ids["清炒西兰花"], ids["杂粮饭"]],
        ),
    ]


async def load_menus(district: DemoDistrict, *, today: dt.date, now: dt.datetime | None = None) -> None:
    """Dishes for the demo district and menus for ``today`` and the 13 days after it."""
    now = now or utcnow()
    actor = SystemActor("demo-loader")
    async with write_transaction():
        ids: dict[str, int] = {}
        for name, tags, allergens in DISHES:
            found = (
                await Dish.select(Dish.id)
                .where((Dish.district == district.district_id) & (Dish.name == name))
                .first()
            )
            if found:
                ids[name] = int(found["id"])
                continue
            rows = await Dish.insert(
                Dish(
                    district=district.district_id,
                    name=name,
                    diet_tags=tags,
                    # Words to allergen group codes (issue #17); demo.care_allergy adds textures.
                    allergens=allergens_from_words(allergens)[0],
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            ).returning(Dish.id)
            ids[name] = int(rows[0]["id"])
        sites = (
            await Site.select(Site.id, Site.kind, Site.point_type, Site.slots)
            .where(Site.id.is_in(list(district.site_ids.values())))
            .output(load_json=True)
        )
        for site in sites:
            if site["point_type"] == "satellite":
                continue  # served from the central kitchen's menu
            slots = [c["slot"] for c in site["slots"] or []] or ["lunch", "dinner"]
            for offset in range(14):
                day = today + dt.timedelta(days=offset)
                for slot in slots:
                    exists = await DailyMenu.exists().where(
                        (DailyMenu.site == site["id"])
                        & (DailyMenu.service_date == day)
                        & (DailyMenu.slot == slot)
                    )
                    if exists:
                        continue
                    await services.set_menu(
                        actor, site["id"], day, slot, _sets(slot, day.weekday(), ids), now=now
                    )
