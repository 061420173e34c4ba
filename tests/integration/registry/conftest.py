"""Helpers for the registry tests: valid ID numbers and a registered elder through the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from canteen.registry.national_id import make_national_id

REGION = "330105"


def nid(birth: dt.date = dt.date(1944, 3, 15), seq: int = 123) -> str:
    """A valid ID number (odd sequence: a man, even: a woman)."""
    return make_national_id(REGION, birth, seq)


def elder_body(world: Any, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "沈桂英",
        "national_id": nid(dt.date(1944, 3, 15), 124),
        "community_id": world.community_x,
        "phone": "13857112345",
        "address": "湖墅南路186号3幢201室",
        "living_situation": "alone",
        "categories": [{"code": "dibao", "valid_until": "2030-12-31"}, {"code": "living_alone"}],
        "diet": ["low_salt", "soft"],
        "emergency_name": "沈伟",
        "emergency_phone": "13957154321",
    }
    body.update(over)
    return body


@pytest.fixture
def register(
    client: Any, world: Any, login: Callable[[str], dict[str, str]]
) -> Callable[..., dict[str, Any]]:
    """Register an elder as official_x (or ``as_user``) and return the view."""
    cache: dict[str, dict[str, str]] = {}

    def do(as_user: str = "official_x", **over: Any) -> dict[str, Any]:
        headers = cache.get(as_user) or cache.setdefault(as_user, login(as_user))
        r = client.post("/api/v1/elders", json=elder_body(world, **over), headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    return do
