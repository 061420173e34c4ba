"""Shared bounded types for API Structs: no input reaches the database unchecked."""

from __future__ import annotations

from typing import Annotated

import msgspec

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
