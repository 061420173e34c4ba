"""Elders inserted straight into the registry tables, for card and quote tests.

(The elder services are written alongside; these rows are what they would store.)
"""

from __future__ import annotations

import datetime as dt
from itertools import count

from canteen.core.crypto import PiiCipher, last4
from canteen.registry.national_id import make_national_id
from canteen.registry.tables import Elder, ElderCategory
from tests.factories import NOW

_SEQ = count(101)


async def add_elder(
    *,
    district: int,
    community: int,
    name: str = "王秀英",
    birth_date: dt.date = dt.date(1944, 5, 12),
    categories: tuple[str, ...] = (),
    status: str = "active",
) -> int:
    cipher = PiiCipher.demo()
    number = make_national_id("330105", birth_date, next(_SEQ) % 1000)
    rows = await Elder.insert(
        Elder(
            district=district,
            community=community,
            name=name,
            gender="female",
            birth_date=birth_date,
            national_id_enc=cipher.encrypt(number, context="elder.national_id"),
            national_id_hash=cipher.lookup_hash(number, scope="national_id"),
            id_last4=last4(number),
            address="杭州市拱墅区卖鱼桥小区3幢2单元401室",
            living_situation="alone",
            status=status,
            created_at=NOW,
            updated_at=NOW,
        )
    ).returning(Elder.id)
    elder_id = int(rows[0]["id"])
    for code in categories:
        await ElderCategory.insert(
            ElderCategory(elder=elder_id, code=code, valid_from=dt.date(2020, 1, 1), created_at=NOW)
        )
    return elder_id
