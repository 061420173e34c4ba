"""Money is integer fen (分) end to end; these helpers split and format it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from babel.numbers import format_currency


def split_fen(total_fen: int, weights: Sequence[int | float | Decimal]) -> list[int]:
    """Split ``total_fen`` by ``weights`` with largest-remainder rounding.

    The parts always sum to ``total_fen`` exactly. Ties in the remainder go to
    the earlier weight, so the split is deterministic for a given order.
    """
    if total_fen < 0:
        raise ValueError("total_fen must be >= 0")
    if not weights:
        raise ValueError("weights must not be empty")
    ws = [Decimal(str(w)) for w in weights]
    if any(w < 0 for w in ws):
        raise ValueError("weights must be >= 0")
    wsum = sum(ws)
    if wsum == 0:
        raise ValueError("weights must not all be zero")
    exact = [Decimal(total_fen) * w / wsum for w in ws]
    floors = [int(e) for e in exact]
    short = total_fen - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:short]:
        floors[i] += 1
    return floors


def format_fen(fen: int, lang: str = "zh-CN") -> str:
    """Format fen as yuan for people, e.g. 1250 → '¥12.50' (zh-CN) or 'CN¥12.50' (en)."""
    locale = "en_US" if lang.startswith("en") else "zh_CN"
    return format_currency(Decimal(fen) / 100, "CNY", locale=locale)


def yuan(fen: int) -> str:
    """Plain '12.50' for receipts, exports and reasons."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
