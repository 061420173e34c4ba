"""Demo data for issue #17's allergy part: dishes with allergen codes and IDDSI levels, and two
elders whose needs the pages enforce — one allergic to crustaceans (白灼虾 is refused for her,
at the counter and on the ordering page), one on minced food (IDDSI 5) who is allergic to peanuts.

Idempotent: codes and levels are set to fixed values; the elders are found the same way each run
(the first delivery-eligible elders of the district, as demo.orders finds them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.core.categories import allergens_from_words
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.menus.services import refresh_set_contents
from canteen.menus.tables import Dish
from canteen.registry.tables import Elder

# IDDSI level per demo dish (others are regular, level 7).
TEXTURE_LEVELS: dict[str, int] = {
    "豆浆": 0,
    "小米粥": 3,
    "肉末蒸蛋": 5,
    "软烂面条": 6,
    "南瓜小米饭": 6,
    "冬瓜排骨汤": 6,
    "番茄炒蛋": 6,
    "麻婆豆腐": 6,
}
# (allergen codes, texture level) for the first and the second eligible elder.
DEMO_NEEDS: list[tuple[list[str], int | None]] = [(["crustacean"], None), (["peanut"], 5)]


async def load_allergy(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> dict[str, int]:
    """Codes on the demo dishes, sets recomputed from today on, needs on two elders."""
    from canteen.orders.services import delivery_eligible  # demo sits above orders' callers

    now = now or utcnow()
    counts = {"dishes": 0, "elders": 0}
    async with write_transaction():
        dishes = (
            await Dish.select(Dish.id, Dish.name, Dish.allergens, Dish.allergen_note)
            .where(Dish.district == district.district_id)
            .output(load_json=True)
        )
        for d in dishes:
            codes, unknown = allergens_from_words(d["allergens"] or [])
            note = d["allergen_note"] or "、".join(unknown)
            await Dish.update(
                {
                    Dish.allergens: codes,
                    Dish.allergen_note: note[:200],
                    Dish.texture_level: TEXTURE_LEVELS.get(d["name"]),
                }
            ).where(Dish.id == d["id"])
            counts["dishes"] += 1
    await refresh_set_contents(district.district_id, today)
    elders = (
        await Elder.select(Elder.id)
        .where((Elder.district == district.district_id) & (Elder.status == "active"))
        .order_by(Elder.id)
    )
    picked: list[int] = []
    for e in elders:
        if len(picked) == len(DEMO_NEEDS):
            break
        ok, _ = await delivery_eligible(int(e["id"]), today)
        if ok:
            picked.append(int(e["id"]))
    async with write_transaction():
        for elder_id, (allergens, level) in zip(picked, DEMO_NEEDS, strict=False):
            await Elder.update({Elder.allergens: allergens, Elder.texture_level: level}).where(
                Elder.id == elder_id
            )
            counts["elders"] += 1
    return counts
