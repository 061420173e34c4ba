"""The subsidy policy engine: pure functions, no database, no clock, no I/O.

Every price in Canteen (counter check-in, delivery order, re-quotes in
reports) comes from :func:`quote`. The DB layer picks the policy in force with
:func:`policy_in_force`, counts the elder's usage, and passes plain Structs in.

Order of the rules in :func:`quote`, each a documented decision:

1. Walk-ins (non-members) pay the list price and the full delivery fee.
2. Limits, each sells the meal at full price (delivery fee included) once
   reached: ``per_slot_daily_limit`` subsidised meals in the slot today,
   ``per_day_limit`` subsidised meals today in any slot, ``monthly_cap_meals``
   subsidised meals this calendar month (checked in that order; the reason
   names the first one reached).
3. Tiers match on categories valid on the meal date, on age on the meal
   date, on the slot (``Tier.slots``) and on the meal set's type
   (``Tier.meal_types``); a tier's subsidy may differ by type
   (``Tier.by_meal_type``). ``best``: the largest subsidy, ties to the tier
   listed first; ``stack``: the sum, capped by ``stack_cap_fen``. Never above
   the list price.
4. Each applied tier's subsidy is split by its own ``funding`` (else the
   policy's) with :func:`split_subsidy`; tiers with the same split are
   summed first and split once.
5. Portability: sources that do not pay away from home drop out, and their
   share is not paid. A split of percents only: the subsidy becomes
   ``floor(subsidy * kept% / 100)`` (flooring keeps every payer at or below
   its own share; the fen goes to the co-pay). A split with fixed amounts:
   the dropped payers' parts are simply not paid.
6. The monthly money cap clips what is left of the meal subsidy: the meal
   that crosses it gets the remainder (``cap_crossing = "remainder"``) or is
   sold at full price (``"full_price"``).
7. Whenever a cap clips a subsidy that was already split (stack cap, list
   price, monthly cap), each payer's part shrinks in proportion to its split
   (``split_fen``: largest remainder, ties to the payer listed first), so the
   parts always sum exactly to the subsidy and no payer pays above its share.
8. Delivery (delivery mode only): the largest reduction among the tiers the
   elder matches, not capped monthly, funded by the policy's split and made
   portable like the meal.

City base and district top-up (:func:`effective_policy`, decided in
docs/decisions.md, "A city base with district top-ups"). A city publishes
versions of the same document (``city_id`` instead of ``district_id``); the
effective policy of a district on a day is its own version in force folded with
the city's version in force, and :func:`quote` prices it so:

A. No city base in force: the district's own policy, exactly as above.
B. The limits (``per_slot_daily_limit``, ``per_day_limit``,
   ``monthly_cap_meals``, ``monthly_cap_fen``) are the stricter of the two for
   each (a district can tighten the city's, never loosen them); the effective
   policy carries them in the usual fields, so the counter's limit counters
   read them there. Checked once, before either part: a reached limit sells
   at full price. ``cap_crossing`` follows the stricter cap (equal caps: "full
   price" if either says so).
C. The base part: the base's tiers, combination (best/stack, its own stack
   cap), funding and portability, on the list price.
D. The top-up part: the district's tiers, combination, funding and
   portability, priced on what the elder still pays after the base: "amount
   off" is taken off that rest, "percent off" is a percent of it, "fixed
   co-pay" and "free" set the elder's final co-pay. So the total never passes
   the list price and the top-up is what is clipped first.
E. Each part is split by its own funding with :func:`split_subsidy`; the
   quote's ``funding`` is the sum per payer (base first), ``base_funding`` and
   ``base_subsidy_fen`` the base part alone.
F. The monthly money cap clips the whole meal subsidy: the top-up first, then
   the base, each part's payers shrinking in proportion to what they paid.
G. Delivery: the district's rule if it has one, else the base's, matched on
   the tiers of the policy it belongs to and funded by that policy's split.
H. A district with no policy of its own but a city base is priced by the base
   alone; ``policy_version`` is the district's version when it has one, else
   the city's, and ``city_policy_version`` is always the city's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import msgspec

from canteen.core.categories import CATEGORIES, MODES, SLOT_LABELS, SLOTS, Mode
from canteen.core.errors import DomainError, register
from canteen.core.money import split_fen, yuan
from canteen.i18n import gettext
from canteen.subsidies.schemas import (
    DEFAULT_MEAL_TYPE,
    FUNDING_SOURCE_LABELS,
    MAX_FEN,
    MEAL_TYPES,
    CityBase,
    DeliveryRule,
    ElderFacts,
    FundingPart,
    FundingShare,
    Policy,
    Quote,
    Tier,
    TierKind,
    Usage,
)

register("invalid_price", 422)
register("invalid_slot", 422)
register("invalid_mode", 422)
register("policy_funding_not_100", 422)
register("policy_funding_duplicate", 422)
register("policy_funding_invalid", 422)
register("invalid_meal_type", 422)
register("policy_unknown_category", 422)
register("policy_invalid_tier", 422)
register("policy_duplicate_tier", 422)
register("policy_unknown_tier", 422)
register("policy_invalid_delivery", 422)
register("policy_invalid_combination", 422)
register("policy_invalid_portability", 422)
register("policy_dates_invalid", 422)
register("policy_overlap", 409)
register("policy_not_in_force", 409)
register("policy_wrong_district", 409)

_DELIVERY = Mode.DELIVERY.value


# ---------------------------------------------------------------- validation


def validate_policy(policy: Policy) -> None:
    """Check the rules of a policy that span fields; raise ``DomainError`` on the first problem.

    Shapes and bounds are already checked by decoding into :class:`Policy`;
    this checks what a decoder cannot: funding sums to 100 without repeats,
    dates in order, tiers well-formed with known categories and unique codes,
    delivery reductions referring to existing tiers, portability naming only
    the policy's own sources, and a stack cap only where tiers stack.
    Overlap with other versions needs the stored versions: see
    :func:`check_no_overlap`.
    """
    if policy.effective_until is not None and policy.effective_until < policy.effective_from:
        raise DomainError(
            "policy_dates_invalid",
            {
                "effective_from": policy.effective_from.isoformat(),
                "effective_until": policy.effective_until.isoformat(),
            },
        )

    validate_split(policy.funding)
    sources = [share.source for share in policy.funding]

    if policy.combination == "best" and policy.stack_cap_fen is not None:
        raise DomainError(
            "policy_invalid_combination",
            {"reason": "stack_cap_fen is only meaningful with combination 'stack'"},
        )

    codes: set[str] = set()
    for tier in policy.tiers:
        if tier.code in codes:
            raise DomainError("policy_duplicate_tier", {"tier_code": tier.code})
        codes.add(tier.code)
        _validate_tier(tier)

    if policy.delivery is not None:
        seen: set[str] = set()
        for red in policy.delivery.reductions:
            if red.tier_code not in codes:
                raise DomainError("policy_unknown_tier", {"tier_code": red.tier_code})
            if red.tier_code in seen:
                raise DomainError(
                    "policy_invalid_delivery", {"tier_code": red.tier_code, "reason": "duplicate"}
                )
            seen.add(red.tier_code)
            bad = (
                (red.kind == "percent_off" and red.value > 100)
                or (red.kind == "free" and red.value != 0)
                or (red.kind == "amount_off" and red.value == 0)
            )
            if bad:
                raise DomainError(
                    "policy_invalid_delivery",
                    {"tier_code": red.tier_code, "kind": red.kind, "value": red.value},
                )

    own = set(sources)
    for tier in policy.tiers:
        own.update(share.source for share in tier.funding or [])
    for field in ("outside_home_street", "outside_home_district"):
        kept = getattr(policy.portability, field)
        if kept is not None:
            unknown = sorted(set(kept) - own)
            if unknown:
                raise DomainError("policy_invalid_portability", {"field": field, "sources": unknown})


def validate_split(shares: Sequence[FundingShare], tier_code: str | None = None) -> None:
    """Check one funding split (the policy's or a tier's, named by ``tier_code``).

    Each share is exactly one of a percent, a fixed amount or "the rest"; sources are not
    repeated; at most one share is the rest. Without a rest share the split is percents
    only and they add up to 100; with one, percents add up to 100 at most (fixed amounts
    are allowed only then, so the parts can always add up to the subsidy).
    """
    where = {"tier_code": tier_code} if tier_code else {}
    sources = [share.source for share in shares]
    if len(set(sources)) != len(sources):
        raise DomainError("policy_funding_duplicate", {"sources": sources, **where})
    for share in shares:
        given = (share.percent is not None) + (share.fixed_fen is not None) + share.rest
        if given != 1:
            raise DomainError(
                "policy_funding_invalid",
                {"source": share.source, "reason": "one of percent, fixed_fen or rest", **where},
            )
    rests = [share.source for share in shares if share.rest]
    total = sum(share.percent or 0 for share in shares)
    if len(rests) > 1:
        raise DomainError("policy_funding_invalid", {"sources": rests, "reason": "one rest share", **where})
    if not rests:
        fixed = [share.source for share in shares if share.fixed_fen is not None]
        if fixed:
            raise DomainError(
                "policy_funding_invalid", {"sources": fixed, "reason": "fixed amounts need a rest", **where}
            )
        if total != 100:
            raise DomainError("policy_funding_not_100", {"total_percent": total, **where})
    elif total > 100:
        raise DomainError("policy_funding_not_100", {"total_percent": total, **where})


def _value_problem(kind: str, value: int) -> str | None:
    if kind == "percent_off" and not 0 < value <= 100:
        return "percent_off needs a value from 1 to 100"
    if kind == "amount_off" and value == 0:
        return "amount_off needs a value above 0 fen"
    if kind == "free" and value != 0:
        return "free takes no value"
    return None


def _validate_tier(tier: Tier) -> None:
    unknown = [c for c in tier.categories if c not in CATEGORIES]
    if unknown:
        raise DomainError("policy_unknown_category", {"tier_code": tier.code, "categories": unknown})
    problem: str | None = None
    if tier.min_age is not None and tier.max_age is not None and tier.min_age > tier.max_age:
        problem = "min_age is above max_age"
    else:
        problem = _value_problem(tier.kind, tier.value)
    types = [v.meal_type for v in tier.by_meal_type]
    if problem is None and len(set(types)) != len(types):
        problem = "a meal type is listed twice"
    if problem is None and len(set(tier.slots)) != len(tier.slots):
        problem = "a slot is listed twice"
    for v in tier.by_meal_type:
        problem = problem or _value_problem(v.kind, v.value)
    if problem is not None:
        raise DomainError("policy_invalid_tier", {"tier_code": tier.code, "reason": problem})
    if tier.funding is not None:
        validate_split(tier.funding, tier.code)


def check_no_overlap(
    existing_ranges: Iterable[tuple[date, date | None]],
    new_range: tuple[date, date | None],
) -> None:
    """Raise ``policy_overlap`` if ``new_range`` shares a day with any existing range.

    Ranges are ``(effective_from, effective_until)``, both ends inclusive,
    ``None`` meaning open-ended. The DB service passes the other versions of
    the same district; to publish a successor, it closes the open version
    first (sets its ``effective_until`` to the day before).
    """
    new_from, new_until = new_range
    for old_from, old_until in existing_ranges:
        starts_before_old_ends = old_until is None or new_from <= old_until
        ends_after_old_starts = new_until is None or old_from <= new_until
        if starts_before_old_ends and ends_after_old_starts:
            raise DomainError(
                "policy_overlap",
                {
                    "existing_from": old_from.isoformat(),
                    "existing_until": old_until.isoformat() if old_until else None,
                    "new_from": new_from.isoformat(),
                    "new_until": new_until.isoformat() if new_until else None,
                },
            )


def in_force(policy: Policy, day: date) -> bool:
    """True if ``policy`` covers ``day`` (both ends inclusive)."""
    return policy.effective_from <= day and (policy.effective_until is None or day <= policy.effective_until)


def policy_in_force(policies: Iterable[Policy], day: date) -> Policy | None:
    """The version of a district's policy that governs ``day``, or ``None``.

    Among versions covering ``day``, the one that took effect last wins, then
    the higher version number. Versions should not overlap (see
    :func:`check_no_overlap`), but if stored data ever does, the answer is
    still deterministic, and a version taking effect after ``day`` can never
    change it: quotes for past meals are stable.
    """
    chosen: Policy | None = None
    for policy in policies:
        if in_force(policy, day) and (
            chosen is None
            or (policy.effective_from, policy.version) > (chosen.effective_from, chosen.version)
        ):
            chosen = policy
    return chosen


# --------------------------------------------------------------------- quote


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day``.

    Someone born on 29 February becomes a year older on 1 March in common
    years (the birthday has not been reached on 28 February).
    """
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _kind_value(tier: Tier, meal_type: str) -> tuple[TierKind, int]:
    """The tier's kind and value for a meal set of ``meal_type`` (``by_meal_type`` first)."""
    for v in tier.by_meal_type:
        if v.meal_type == meal_type:
            return v.kind, v.value
    return tier.kind, tier.value


def _tier_subsidy(tier: Tier, price: int, meal_type: str = DEFAULT_MEAL_TYPE) -> int:
    kind, value = _kind_value(tier, meal_type)
    if kind == "amount_off":
        return value if value < price else price
    if kind == "fixed_copay":
        return price - value if price > value else 0
    if kind == "percent_off":
        # Floor: public money never pays a fraction of a fen more than the rate.
        return price * value // 100
    return price  # free


def _both(msgid: str, **params: object) -> tuple[str, str]:
    """A quote phrase in zh-CN and en, worded by the catalogs (msgids ``quote.*``).

    A parameter given as a ``(zh, en)`` tuple differs by language (a tier's configured
    name, a slot's label); any other parameter is the same in both.
    """
    zh = {k: v[0] if isinstance(v, tuple) else v for k, v in params.items()}
    en = {k: v[1] if isinstance(v, tuple) else v for k, v in params.items()}
    return gettext("zh-CN", msgid, **zh), gettext("en", msgid, **en)


def _tier_text(tier: Tier, subsidy: int, price: int, meal_type: str) -> tuple[str, str]:
    kind, value = _kind_value(tier, meal_type)
    if kind == "amount_off":
        return _both("quote.tier.amount_off", subsidy=yuan(subsidy))
    if kind == "percent_off":
        return _both("quote.tier.percent_off", percent=value, subsidy=yuan(subsidy))
    if kind == "fixed_copay":
        return _both("quote.tier.fixed_copay", copay=yuan(price - subsidy))
    return _both("quote.tier.free")


def _slot_words(slot: str) -> tuple[str, str]:
    label = SLOT_LABELS[slot]
    return label.zh, label.en.lower()


def _without_slot_text(part: Quote, slot: str) -> tuple[str, str]:
    """A part's reason without its "first lunch today" phrase (a part is priced as the slot's
    first meal; the combined quote says which meal it really is, once)."""
    slot_zh, slot_en = _slot_text(slot, 1)
    zh_sep, en_sep = _both("quote.reason_sep")
    zh = part.reason_zh.replace(zh_sep + slot_zh, "").replace(slot_zh, "")
    en = part.reason_en.replace(en_sep + slot_en, "").replace(slot_en[:1].upper() + slot_en[1:], "")
    return zh or part.reason_zh, en or part.reason_en


def _slot_text(slot: str, nth: int) -> tuple[str, str]:
    if nth == 1:
        return _both("quote.slot_first", slot=_slot_words(slot))
    return _both("quote.slot_nth", slot=_slot_words(slot), nth=nth)


def _joined(sep_msgid: str, pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """Join (zh, en) pairs with each language's separator from the catalog."""
    items = list(pairs)
    zh_sep, en_sep = _both(sep_msgid)
    return zh_sep.join(p[0] for p in items), en_sep.join(p[1] for p in items)


def _sources_text(sources: Iterable[str]) -> tuple[str, str]:
    return _joined("quote.list_sep", (FUNDING_SOURCE_LABELS[s] for s in sources))


def _split_fen_fast(total: int, weights: Sequence[int]) -> list[int]:
    """``split_fen(total, weights)``, without its Decimal work when the division is exact.

    Whole-yuan subsidies over round percentages usually divide exactly; then
    largest-remainder has nothing to round and integer division gives the same parts as
    split_fen (the hot path's biggest cost). Anything inexact goes through split_fen itself.
    """
    wsum = sum(weights)
    parts = [total * w // wsum for w in weights]
    if sum(parts) != total:
        parts = split_fen(total, weights)
    return parts


def split_subsidy(total: int, shares: Sequence[FundingShare]) -> list[int]:
    """Split ``total`` fen over ``shares`` (a validated split); the parts, in share order,
    always sum to ``total``.

    The rounding rule, deterministic for a given split:

    * **Percents only** (no fixed amount, no rest): largest remainder over the percents
      (``split_fen``; ties to the share listed first) — the rule before fixed amounts.
    * **Otherwise**: the fixed amounts first, in the order listed, each at most what is
      still left (a 3-yuan subsidy over "city 2 yuan, district 2 yuan" pays the city 2 and
      the district 1); then each percent share ``floor(total * percent / 100)`` of the
      whole subsidy, at most what is left; the share marked ``rest`` takes every fen left
      (the fractions of a fen included).
    """
    if total <= 0:
        return [0] * len(shares)
    if all(sh.percent is not None for sh in shares):
        return _percent_parts(total, shares)
    parts = [0] * len(shares)
    left = total
    for i, sh in enumerate(shares):
        if sh.fixed_fen is not None:
            parts[i] = min(sh.fixed_fen, left)
            left -= parts[i]
    for i, sh in enumerate(shares):
        if sh.percent is not None:
            parts[i] = min(total * sh.percent // 100, left)
            left -= parts[i]
    for i, sh in enumerate(shares):
        if sh.rest:
            parts[i] = left
            left = 0
    return parts


def _percent_parts(total: int, shares: Sequence[FundingShare]) -> list[int]:
    """A percents-only split (largest remainder), zero parts included, in share order."""
    weights = [sh.percent or 0 for sh in shares]
    return _split_fen_fast(total, weights) if total and sum(weights) else [0] * len(shares)


class _Paid:
    """What the payers pay for one meal (or its delivery), source → fen, in a stable order.

    A later cap shrinks the parts in proportion to the split (rule 7): to the percents when
    one percents-only split paid, else to the parts themselves."""

    __slots__ = ("by_fen", "parts", "percents", "splits")

    def __init__(self) -> None:
        self.parts: dict[str, int] = {}
        self.percents: dict[str, int] = {}
        self.splits = 0
        self.by_fen = False

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def add(self, source: str, fen: int, percent: int | None) -> None:
        self.parts[source] = self.parts.get(source, 0) + fen
        self.percents[source] = percent or 0

    def shrink(self, total: int) -> None:
        """Clip to ``total`` fen."""
        if total >= self.total:
            return
        by_fen = self.by_fen or self.splits > 1
        weights = self.parts if by_fen else self.percents
        sources = [s for s in self.parts if weights[s] > 0]
        if not total or not sources:
            self.parts = dict.fromkeys(self.parts, 0)
            return
        fen = _split_fen_fast(total, [weights[s] for s in sources])
        self.parts = dict.fromkeys(self.parts, 0) | dict(zip(sources, fen, strict=True))

    def funding(self) -> list[FundingPart]:
        return [FundingPart(source=s, fen=f) for s, f in self.parts.items() if f]  # type: ignore[arg-type]


def _pay(paid: _Paid, amount: int, shares: Sequence[FundingShare], kept: set[str] | None) -> None:
    """Add ``amount`` split by ``shares`` to ``paid``, keeping only the ``kept`` sources
    (None: all of them) — rules 4 and 5."""
    paid.splits += 1
    mixed = any(sh.percent is None for sh in shares)
    paid.by_fen = paid.by_fen or mixed
    if not mixed and kept is not None and any(sh.source not in kept for sh in shares):
        kept_shares = [sh for sh in shares if sh.source in kept]
        kept_percent = sum(sh.percent or 0 for sh in kept_shares)
        parts = _percent_parts(amount * kept_percent // 100, kept_shares)
        for sh, fen in zip(kept_shares, parts, strict=True):
            paid.add(sh.source, fen, sh.percent)
        return
    for sh, fen in zip(shares, split_subsidy(amount, shares), strict=True):
        if kept is None or sh.source in kept:
            paid.add(sh.source, fen, sh.percent)


def _limit_phrase(policy: Policy, usage: Usage, slot: str) -> tuple[str, str] | None:
    """The first of the meal-count limits the elder has reached, in words (rule 2)."""
    if usage.slot_meals_today >= policy.per_slot_daily_limit:
        return _both(
            "quote.slot_limit_reached",
            slot=_slot_words(slot),
            taken=usage.slot_meals_today,
            limit=policy.per_slot_daily_limit,
        )
    if policy.per_day_limit is not None and usage.day_meals_today >= policy.per_day_limit:
        return _both("quote.day_limit_reached", taken=usage.day_meals_today, limit=policy.per_day_limit)
    if policy.monthly_cap_meals is not None and usage.month_meals >= policy.monthly_cap_meals:
        return _both("quote.month_meals_reached", taken=usage.month_meals, limit=policy.monthly_cap_meals)
    return None


def deciding_district(elder: ElderFacts, site_district_id: int) -> int:
    """The district whose policy prices the meal and whose funders pay for it: the elder's
    home district wherever in the city they eat (补贴跟着人走), the site's for a walk-in or a
    member with no known home district. Which of the home policy's funders still pay away
    from home is the policy's ``portability``."""
    if elder.member and elder.home_district_id is not None:
        return int(elder.home_district_id)
    return site_district_id


# ------------------------------------------------------------- the city base


def _stricter(a: int | None, b: int | None) -> int | None:
    """The stricter of two optional limits (None: no limit)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a < b else b


def effective_policy(base: Policy | None, own: Policy | None, district_id: int) -> Policy | None:
    """The policy that prices a meal of ``district_id``: the city base in force (``base``,
    a city document, or None) folded with the district's own version in force (``own``).

    No base: ``own`` itself, unchanged. A base and no own policy: the base alone, named as
    the district's (its tiers, funding and limits are the base's; ``tiers`` of the effective
    policy — the top-up — are empty). Both: ``own`` with the limits merged (the stricter of
    the two for each limit) and the delivery rule the district's, else the base's; the base
    rides along in ``city_base`` and :func:`quote` prices it first. See the module docstring.
    """
    if base is None:
        return own
    if own is None:
        return msgspec.structs.replace(
            base,
            district_id=district_id,
            tiers=[],
            city_base=CityBase(policy=base, own=False, delivery_from_base=True),
        )
    cap = _stricter(own.monthly_cap_fen, base.monthly_cap_fen)
    if own.monthly_cap_fen == base.monthly_cap_fen:
        crossing = "full_price" if "full_price" in (own.cap_crossing, base.cap_crossing) else "remainder"
    else:
        crossing = own.cap_crossing if cap == own.monthly_cap_fen else base.cap_crossing
    from_base = own.delivery is None and base.delivery is not None
    until = _stricter_day(own.effective_until, base.effective_until)
    return msgspec.structs.replace(
        own,
        district_id=district_id,
        effective_from=max(own.effective_from, base.effective_from),
        effective_until=until,
        per_slot_daily_limit=min(own.per_slot_daily_limit, base.per_slot_daily_limit),
        per_day_limit=_stricter(own.per_day_limit, base.per_day_limit),
        monthly_cap_fen=cap,
        cap_crossing=crossing,
        monthly_cap_meals=_stricter(own.monthly_cap_meals, base.monthly_cap_meals),
        delivery=base.delivery if from_base else own.delivery,
        city_base=CityBase(policy=base, own=True, delivery_from_base=from_base),
    )


def _stricter_day(a: date | None, b: date | None) -> date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _part_policy(doc: Policy, district_id: int, *, delivery: DeliveryRule | None) -> Policy:
    """One part (the base or the top-up) as a plain policy for :func:`quote`: its own tiers,
    combination, funding and portability; the limits and the monthly cap are the combined
    policy's, applied once by :func:`_combined_quote`, so they are lifted here."""
    return msgspec.structs.replace(
        doc,
        district_id=district_id,
        per_slot_daily_limit=5,
        per_day_limit=None,
        monthly_cap_fen=None,
        monthly_cap_meals=None,
        delivery=delivery,
        city_base=None,
    )


def _shrink_parts(parts: list[FundingPart], total: int) -> list[FundingPart]:
    """Clip a part's funding to ``total`` fen, in proportion to what each payer paid (rule 7)."""
    have = sum(p.fen for p in parts)
    if total >= have:
        return parts
    if total <= 0 or not have:
        return []
    fen = _split_fen_fast(total, [p.fen for p in parts])
    return [FundingPart(source=p.source, fen=f) for p, f in zip(parts, fen, strict=True) if f]


def _merged(*groups: list[FundingPart]) -> list[FundingPart]:
    out: dict[str, int] = {}
    for parts in groups:
        for p in parts:
            out[p.source] = out.get(p.source, 0) + p.fen
    return [FundingPart(source=s, fen=f) for s, f in out.items() if f]  # type: ignore[arg-type]


def _combined_quote(
    *,
    elder: ElderFacts,
    list_price_fen: int,
    slot: str,
    day: date,
    mode: str,
    policy: Policy,
    usage: Usage,
    site_street_id: int,
    site_district_id: int,
    meal_type: str,
) -> Quote:
    """Price a meal under an effective policy with a city base (see the module docstring,
    "City base and district top-up")."""
    folded = policy.city_base
    assert folded is not None
    base = folded.policy
    district_id = int(policy.district_id or 0)
    version = policy.version
    args: dict[str, object] = {
        "elder": elder,
        "slot": slot,
        "day": day,
        "mode": mode,
        "site_street_id": site_street_id,
        "site_district_id": site_district_id,
        "meal_type": meal_type,
    }
    # Walk-ins and reached meal-count limits: the combined limits, checked once; full price.
    if not elder.member or _limit_phrase(policy, usage, slot) is not None:
        shell = msgspec.structs.replace(policy, tiers=[], city_base=None)
        q = quote(policy=shell, usage=usage, list_price_fen=list_price_fen, **args)  # type: ignore[arg-type]
        return msgspec.structs.replace(q, city_policy_version=base.version, base_subsidy_fen=0)

    base_doc = _part_policy(base, district_id, delivery=base.delivery if folded.delivery_from_base else None)
    qb = quote(policy=base_doc, usage=Usage(), list_price_fen=list_price_fen, **args)  # type: ignore[arg-type]
    rest = list_price_fen - qb.subsidy_fen
    qt: Quote | None = None
    if folded.own:
        top_doc = _part_policy(
            policy, district_id, delivery=None if folded.delivery_from_base else policy.delivery
        )
        qt = quote(policy=top_doc, usage=Usage(), list_price_fen=rest, **args)  # type: ignore[arg-type]

    base_fen = qb.subsidy_fen
    top_fen = qt.subsidy_fen if qt is not None else 0
    base_parts = list(qb.funding)
    top_parts = list(qt.funding) if qt is not None else []
    # Each part says its own tier; which meal of the slot it is is said once, at the end, from
    # the real usage (the parts are priced as if nothing had been eaten).
    phrases: list[tuple[str, str]] = [_both("quote.city_base_part", text=_without_slot_text(qb, slot))]
    if qt is not None:
        phrases.append(_both("quote.topup_part", text=_without_slot_text(qt, slot)))

    # The monthly money cap (the stricter of the two) clips the whole meal subsidy: the
    # top-up first, then the base.
    cap = policy.monthly_cap_fen
    if cap is not None and base_fen + top_fen:
        left = max(cap - usage.month_subsidy_fen, 0)
        if base_fen + top_fen > left:
            if left and policy.cap_crossing == "full_price":
                phrases.append(_both("quote.cap_crossing_full", left=yuan(left)))
                left = 0
            elif left:
                phrases.append(_both("quote.cap_left", left=yuan(left)))
            else:
                phrases.append(_both("quote.cap_reached"))
            top_fen = min(top_fen, max(left - base_fen, 0))
            base_fen = min(base_fen, left)
            top_parts = _shrink_parts(top_parts, top_fen)
            base_parts = _shrink_parts(base_parts, base_fen)

    # The delivery fee and its reduction come from the one part that carries the rule.
    carrier = qb if folded.delivery_from_base or qt is None else qt
    subsidy = base_fen + top_fen
    if subsidy:
        phrases.append(_slot_text(slot, usage.slot_meals_today + 1))
    copay = list_price_fen - subsidy
    fee = carrier.delivery_fee_fen
    delivery_red = carrier.delivery_subsidy_fen
    lead_q = qt if qt is not None and qt.tier_code is not None else qb
    codes = list(qb.tier_codes) + [c for c in (qt.tier_codes if qt else []) if c not in qb.tier_codes]
    reason_zh, reason_en = _joined("quote.reason_sep", phrases)
    return Quote(
        list_price_fen=list_price_fen,
        subsidy_fen=subsidy,
        copay_fen=copay,
        funding=_merged(base_parts, top_parts),
        delivery_fee_fen=fee,
        delivery_subsidy_fen=delivery_red,
        delivery_copay_fen=fee - delivery_red,
        delivery_funding=list(carrier.delivery_funding),
        total_due_fen=copay + fee - delivery_red,
        tier_code=lead_q.tier_code,
        tier_codes=codes[:32],
        tier_name_zh=lead_q.tier_name_zh,
        tier_name_en=lead_q.tier_name_en,
        reason_zh=reason_zh[:500],
        reason_en=(reason_en[:1].upper() + reason_en[1:])[:500],
        policy_version=version,
        policy_district_id=policy.district_id,
        city_policy_version=base.version,
        base_subsidy_fen=base_fen,
        base_funding=base_parts,
    )


def quote(
    *,
    elder: ElderFacts,
    list_price_fen: int,
    slot: str,
    day: date,
    mode: str,
    policy: Policy,
    usage: Usage,
    site_street_id: int,
    site_district_id: int,
    meal_type: str = DEFAULT_MEAL_TYPE,
) -> Quote:
    """Price one meal (a set of ``meal_type``) for one elder under ``policy`` on ``day``.

    ``policy`` must be the version in force on ``day`` (see
    :func:`policy_in_force`) of :func:`deciding_district`: the elder's home
    district at any point of the city (the subsidy follows the person), the
    site's for a walk-in or a member whose home district is unknown. ``usage`` is what the
    elder already used (see :class:`Usage`). The meal counts toward the meal-count limits and the
    monthly cap when the returned ``subsidy_fen`` is above 0.

    Raises ``DomainError`` with code ``invalid_price``, ``invalid_slot``,
    ``invalid_mode``, ``invalid_meal_type``, ``policy_not_in_force`` or
    ``policy_wrong_district``.
    """
    if not 0 <= list_price_fen <= MAX_FEN or isinstance(list_price_fen, bool):
        raise DomainError("invalid_price", {"list_price_fen": list_price_fen})
    if slot not in SLOTS:
        raise DomainError("invalid_slot", {"slot": slot})
    if mode not in MODES:
        raise DomainError("invalid_mode", {"mode": mode})
    if meal_type not in MEAL_TYPES:
        raise DomainError("invalid_meal_type", {"meal_type": meal_type})
    if not in_force(policy, day):
        raise DomainError("policy_not_in_force", {"day": day.isoformat(), "version": policy.version})
    if deciding_district(elder, site_district_id) != policy.district_id:
        raise DomainError(
            "policy_wrong_district",
            {
                "policy_district_id": policy.district_id,
                "site_district_id": site_district_id,
                "home_district_id": elder.home_district_id,
            },
        )

    if policy.city_base is not None:
        return _combined_quote(
            elder=elder,
            list_price_fen=list_price_fen,
            slot=slot,
            day=day,
            mode=mode,
            policy=policy,
            usage=usage,
            site_street_id=site_street_id,
            site_district_id=site_district_id,
            meal_type=meal_type,
        )

    delivery_rule = policy.delivery if mode == _DELIVERY else None
    fee = delivery_rule.fee_fen if delivery_rule is not None else 0
    price = list_price_fen

    phrases: list[tuple[str, str]] = []  # (zh, en), joined into reason_zh / reason_en

    # Steps 1-3: who gets which tiers.
    matched: list[Tier] = []
    nth = usage.slot_meals_today + 1
    limit = _limit_phrase(policy, usage, slot) if elder.member else None
    if not elder.member:
        phrases.append(_both("quote.walk_in", price=yuan(price)))
    elif limit is not None:
        phrases.append(limit)
    else:
        matched = _matching_tiers(elder, policy, day, slot, meal_type)
        if not matched:
            phrases.append(_both("quote.no_tier"))

    subsidy = 0
    lead: Tier | None = None
    applied: list[Tier] = []
    if matched:
        if policy.combination == "stack":
            subsidy, lead = _stack(matched, price, policy.stack_cap_fen, meal_type)
            applied = matched
            names = _joined("quote.tier_sep", ((t.name_zh, t.name_en) for t in matched))
            phrases.append(_both("quote.stacked", names=names, subsidy=yuan(subsidy)))
        else:
            lead_subsidy = -1
            for tier in matched:
                s = _tier_subsidy(tier, price, meal_type)
                if s > lead_subsidy:  # strict: ties keep the tier listed first
                    lead, lead_subsidy = tier, s
            assert lead is not None
            subsidy = lead_subsidy
            applied = [lead]
            phrases.append(
                _both(
                    "quote.tier",
                    name=(lead.name_zh, lead.name_en),
                    text=_tier_text(lead, subsidy, price, meal_type),
                )
            )

    # Steps 4-5: the split per payer; portability decides who still pays. Only worth
    # computing when something is to be paid.
    meal = _Paid()
    delivery = _Paid()
    delivery_red = _delivery_reduction(delivery_rule, matched, fee) if matched and fee else 0
    if subsidy or delivery_red:
        kept, dropped, paying = _kept_sources(elder, policy, applied, site_street_id, site_district_id)
        for shares, amount in _groups(policy, applied, subsidy, price, meal_type):
            _pay(meal, amount, shares, kept)
        _pay(delivery, delivery_red, policy.funding, kept)
        if dropped:
            subsidy, delivery_red = meal.total, delivery.total
            if paying:
                phrases.append(
                    _both("quote.away_partial", sources=_sources_text(dropped), subsidy=yuan(subsidy))
                )
            else:
                phrases.append(_both("quote.away_none"))

    # Step 6: the monthly cap clips the meal subsidy only.
    cap = policy.monthly_cap_fen
    if cap is not None and matched:
        left = cap - usage.month_subsidy_fen
        if left < 0:
            left = 0
        if subsidy > left:
            if left and policy.cap_crossing == "full_price":
                phrases.append(_both("quote.cap_crossing_full", left=yuan(left)))
                left = 0
            elif left:
                phrases.append(_both("quote.cap_left", left=yuan(left)))
            else:
                phrases.append(_both("quote.cap_reached"))
            subsidy = left
            meal.shrink(left)

    if subsidy:
        phrases.append(_slot_text(slot, nth))

    if fee:
        if delivery_red:
            phrases.append(_both("quote.delivery_reduced", fee=yuan(fee), reduction=yuan(delivery_red)))
        else:
            phrases.append(_both("quote.delivery_fee", fee=yuan(fee)))

    copay = price - subsidy
    delivery_copay = fee - delivery_red
    reason_zh, reason_en = _joined("quote.reason_sep", phrases)
    return Quote(
        list_price_fen=price,
        subsidy_fen=subsidy,
        copay_fen=copay,
        funding=meal.funding(),
        delivery_fee_fen=fee,
        delivery_subsidy_fen=delivery_red,
        delivery_copay_fen=delivery_copay,
        delivery_funding=delivery.funding(),
        total_due_fen=copay + delivery_copay,
        tier_code=lead.code if lead is not None else None,
        tier_codes=[t.code for t in applied],
        tier_name_zh=lead.name_zh if lead is not None else None,
        tier_name_en=lead.name_en if lead is not None else None,
        reason_zh=reason_zh,
        reason_en=reason_en[:1].upper() + reason_en[1:],
        policy_version=policy.version,
        policy_district_id=policy.district_id,
    )


def _groups(
    policy: Policy, applied: list[Tier], subsidy: int, price: int, meal_type: str
) -> list[tuple[list[FundingShare], int]]:
    """The meal subsidy per funding split (rule 4): tiers with the same split summed; a
    subsidy clipped below the tiers' sum (stack cap, list price) clipped per split in
    proportion (rule 7)."""
    if len(applied) == 1:
        return [(applied[0].funding or policy.funding, subsidy)]
    splits: list[list[FundingShare]] = []
    amounts: list[int] = []
    for tier in applied:
        shares = tier.funding or policy.funding
        amount = _tier_subsidy(tier, price, meal_type)
        if shares in splits:
            amounts[splits.index(shares)] += amount
        else:
            splits.append(shares)
            amounts.append(amount)
    if sum(amounts) > subsidy:
        amounts = split_fen(subsidy, amounts) if sum(amounts) and subsidy else [0] * len(amounts)
    return list(zip(splits, amounts, strict=True))


def _matching_tiers(
    elder: ElderFacts, policy: Policy, day: date, slot: str, meal_type: str = DEFAULT_MEAL_TYPE
) -> list[Tier]:
    # Categories are matched only when valid on the meal date, so an expired
    # 低保 grant silently falls back to whatever else the elder qualifies for.
    active = {
        g.code
        for g in elder.categories
        if g.valid_from <= day and (g.valid_until is None or day <= g.valid_until)
    }
    age = age_on(elder.birth_date, day) if elder.birth_date is not None else None
    out: list[Tier] = []
    for tier in policy.tiers:
        if tier.categories and active.isdisjoint(tier.categories):
            continue
        if (tier.slots and slot not in tier.slots) or (tier.meal_types and meal_type not in tier.meal_types):
            continue
        if tier.min_age is not None and (age is None or age < tier.min_age):
            continue
        if tier.max_age is not None and (age is None or age > tier.max_age):
            continue
        out.append(tier)
    return out


def _stack(matched: list[Tier], price: int, cap: int | None, meal_type: str) -> tuple[int, Tier]:
    total = 0
    lead = matched[0]
    lead_subsidy = -1
    for tier in matched:
        s = _tier_subsidy(tier, price, meal_type)
        total += s
        if s > lead_subsidy:
            lead, lead_subsidy = tier, s
    if cap is not None and total > cap:
        total = cap
    if total > price:
        total = price
    return total, lead


def _delivery_reduction(rule: DeliveryRule | None, matched: list[Tier], fee: int) -> int:
    if rule is None:
        return 0
    codes = {t.code for t in matched}
    best = 0
    for red in rule.reductions:
        if red.tier_code not in codes:
            continue
        if red.kind == "free":
            r = fee
        elif red.kind == "percent_off":
            r = fee * red.value // 100
        else:
            r = red.value if red.value < fee else fee
        if r > best:
            best = r
    return best


def _kept_sources(
    elder: ElderFacts,
    policy: Policy,
    applied: list[Tier],
    site_street_id: int,
    site_district_id: int,
) -> tuple[set[str] | None, list[str], bool]:
    """(the sources that keep paying away from home — None: all —, the payers that drop
    out, whether any payer with a share is left)."""
    port = policy.portability
    outside_district = elder.home_district_id is None or elder.home_district_id != site_district_id
    outside_street = (
        outside_district or elder.home_street_id is None or elder.home_street_id != site_street_id
    )
    street_kept = port.outside_home_street if outside_street else None
    district_kept = port.outside_home_district if outside_district else None
    if street_kept is None and district_kept is None:
        return None, [], True
    kept: set[str] = set(FUNDING_SOURCE_LABELS)
    for only in (street_kept, district_kept):
        if only is not None:
            kept &= set(only)
    dropped: list[str] = []
    paying = False
    for shares in [policy.funding, *(t.funding for t in applied if t.funding)]:
        for sh in shares:
            pays = bool(sh.percent) or bool(sh.fixed_fen) or sh.rest
            if sh.source not in kept:
                if pays and sh.source not in dropped:
                    dropped.append(sh.source)
            elif pays:
                paying = True
    return kept, dropped, paying
