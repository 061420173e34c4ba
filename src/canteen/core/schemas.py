"""Shared bounded types for API Structs: no input reaches the database unchecked.

In core so every domain's schemas.py and api.py can use them without importing canteen.api."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import HeaderParameter, PathParameter

Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
LongName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text300 = Annotated[str, msgspec.Meta(max_length=300)]
Text2000 = Annotated[str, msgspec.Meta(max_length=2000)]
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-@]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=500)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for request bodies: unknown fields are refused, not ignored."""


# Headers shared by every money-moving route. The key is optional in the schema so each route can
# say whether it requires it (canteen.core.idempotency.require_key); a retry with the same key
# returns the first answer and writes nothing.
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=128,
        description="Client-chosen (8–128 of A–Z a–z 0–9 . _ : -); a retry with it replays the first answer.",
    ),
]
DeviceHeader = Annotated[str | None, HeaderParameter(name="X-Device", required=False, max_length=100)]

# Path ids: bounded like database int4 so a huge id is a 422, never an overflow inside the database.
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
