"""Elders for ledger tests, inserted directly (the registry's services are not this issue's)."""

from __future__ import annotations

import datetime as dt
import hashlib

from canteen.accounts.roles import Grant, Principal
from canteen.registry.tables import Elder
from tests.factories import NOW, World

NAMES = ["王秀英", "李桂兰", "张建国", "刘淑珍", "陈志明", "杨玉兰", "赵德福", "黄美华"]


async def add_elder(
    world: World, n: int, *, district: int | None = None, community: int | None = None
) -> int:
    """An elder in district X (or ``district``); ``n`` makes the ID hash unique."""
    digest = hashlib.sha256(f"elder-{n}-{district}".encode()).hexdigest()
    rows = await Elder.insert(
        Elder(
            district=district or world.district_x,
            community=community or world.community_x,
            name=NAMES[n % len(NAMES)],
            gender="female" if n % 2 == 0 else "male",
            birth_date=dt.date(1942 + n % 10, 3, 14),
            national_id_enc="test-ciphertext",
            national_id_hash=digest,
            id_last4=f"{n % 10000:04d}",
            address="杭州市拱墅区卖鱼桥小区3幢2单元",
            created_at=NOW,
            updated_at=NOW,
        )
    ).returning(Elder.id)
    return int(rows[0]["id"])


def principal(world: World, username: str, grants: list[Grant]) -> Principal:
    sites = {
        world.site_a: world.district_x,
        world.site_b: world.district_x,
        world.kitchen_x: world.district_x,
        world.site_c: world.district_y,
    }
    return Principal(
        user_id=world.users[username],
        username=username,
        display_name=username,
        grants=tuple(grants),
        site_districts={g.site_id: sites[g.site_id] for g in grants if g.site_id},
    )


def cashier_a(world: World) -> Principal:
    return principal(world, "cashier_a", [Grant("cashier", None, world.site_a)])


def operator_a(world: World) -> Principal:
    return principal(world, "operator_a", [Grant("operator", None, world.site_a)])


def admin(world: World) -> Principal:
    return principal(world, "admin", [Grant("admin")])
