"""The subsidy policy engine: pure functions, no database, no clock, no I/O.

Every price in Canteen (counter check-in, delivery order, re-quotes in
reports) comes from :func:`quote`. The DB layer picks the policy in force with
:func:`policy_in_force`, counts the elder's usage, and passes plain Structs in.

Order of the rules in :func:`quote`, each a documented decision:

1. Walk-ins (non-members) pay the list price and the full delivery fee.
2. Once ``per_slot_daily_limit`` subsidised meals were taken in the slot
   today, the meal is sold at full price, delivery fee included.
3. Tiers match on categories valid on the meal date and on age on the meal
   date. ``best``: the largest subsidy, ties to the tier listed first;
   ``stack``: the sum, capped by ``stack_cap_fen``. Never above the list price.
4. Portability: sources that do not pay away from home drop out, and their
   share is not paid: the subsidy becomes ``floor(subsidy * kept% / 100)``.
   Flooring keeps every payer at or below its own share; the fen goes to the
   co-pay.
5. The monthly cap clips what is left of the meal subsidy.
6. The remaining subsidy is split over the paying sources with
   ``split_fen`` (largest remainder, parts always sum exactly).
7. Delivery (delivery mode only): the largest reduction among the tiers the
   elder matches, not capped monthly, funded and made portable like the meal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from canteen.core.categories import CATEGORIES, MODES, SLOT_LABELS, SLOTS, Mode
from canteen.core.errors import DomainError, register
from canteen.core.money import split_fen, yuan
from canteen.i18n import gettext
from canteen.subsidies.schemas import (
    FUNDING_SOURCE_LABELS,
    MAX_FEN,
    DeliveryRule,
    ElderFacts,
    FundingPart,
    Policy,
    Quote,
    Tier,
    Usage,
)

register("invalid_price", 422)
register("invalid_slot", 422)
register("invalid_mode", 422)
register("policy_funding_not_100", 422)
register("policy_funding_duplicate", 422)
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

    sources = [share.source for share in policy.funding]
    if len(set(sources)) != len(sources):
        raise DomainError("policy_funding_duplicate", {"sources": sources})
    total = sum(share.percent for share in policy.funding)
    if total != 100:
        raise DomainError("policy_funding_not_100", {"total_percent": total})

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
    for field in ("outside_home_street", "outside_home_district"):
        kept = getattr(policy.portability, field)
        if kept is not None:
            unknown = sorted(set(kept) - own)
            if unknown:
                raise DomainError("policy_invalid_portability", {"field": field, "sources": unknown})


def _validate_tier(tier: Tier) -> None:
    unknown = [c for c in tier.categories if c not in CATEGORIES]
    if unknown:
        raise DomainError("policy_unknown_category", {"tier_code": tier.code, "categories": unknown})
    problem: str | None = None
    if tier.min_age is not None and tier.max_age is not None and tier.min_age > tier.max_age:
        problem = "min_age is above max_age"
    elif tier.kind == "percent_off" and not 0 < tier.value <= 100:
        problem = "percent_off needs a value from 1 to 100"
    elif tier.kind == "amount_off" and tier.value == 0:
        problem = "amount_off needs a value above 0 fen"
    elif tier.kind == "free" and tier.value != 0:
        problem = "free takes no value"
    if problem is not None:
        raise DomainError("policy_invalid_tier", {"tier_code": tier.code, "reason": problem})


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


def _tier_subsidy(tier: Tier, price: int) -> int:
    kind = tier.kind
    if kind == "amount_off":
        return tier.value if tier.value < price else price
    if kind == "fixed_copay":
        return price - tier.value if price > tier.value else 0
    if kind == "percent_off":
        # Floor: public money never pays a fraction of a fen more than the rate.
        return price * tier.value // 100
    return price  # free


def _both(msgid: str, **params: object) -> tuple[str, str]:
    """A quote phrase in zh-CN and en, worded by the catalogs (msgids ``quote.*``).

    A parameter given as a ``(zh, en)`` tuple differs by language (a tier's configured
    name, a slot's label); any other parameter is the same in both.
    """
    zh = {k: v[0] if isinstance(v, tuple) else v for k, v in params.items()}
    en = {k: v[1] if isinstance(v, tuple) else v for k, v in params.items()}
    return gettext("zh-CN", msgid, **zh), gettext("en", msgid, **en)


def _tier_text(tier: Tier, subsidy: int, price: int) -> tuple[str, str]:
    kind = tier.kind
    if kind == "amount_off":
        return _both("quote.tier.amount_off", subsidy=yuan(subsidy))
    if kind == "percent_off":
        return _both("quote.tier.percent_off", percent=tier.value, subsidy=yuan(subsidy))
    if kind == "fixed_copay":
        return _both("quote.tier.fixed_copay", copay=yuan(price - subsidy))
    return _both("quote.tier.free")


def _slot_words(slot: str) -> tuple[str, str]:
    label = SLOT_LABELS[slot]
    return label.zh, label.en.lower()


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


def _split(total: int, sources: Sequence[str], weights: Sequence[int]) -> list[FundingPart]:
    if total == 0:
        return []
    if len(sources) == 1:
        return [FundingPart(source=sources[0], fen=total)]  # type: ignore[arg-type]
    # Whole-yuan subsidies over round percentages usually divide exactly; then
    # largest-remainder has nothing to round and integer division gives the
    # same parts as split_fen without its Decimal work (the hot path's
    # biggest cost). Anything inexact goes through split_fen itself.
    wsum = sum(weights)
    parts = [total * w // wsum for w in weights]
    if sum(parts) != total:
        parts = split_fen(total, weights)
    return [
        FundingPart(source=s, fen=f)  # type: ignore[arg-type]
        for s, f in zip(sources, parts, strict=True)
        if f
    ]


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
) -> Quote:
    """Price one meal for one elder under ``policy`` on ``day``.

    ``policy`` must be the version in force on ``day`` (see
    :func:`policy_in_force`) for the district of the site
    (``site_district_id``). ``usage`` is what the elder already used (see
    :class:`Usage`). The meal counts toward the per-slot limit and the monthly
    cap when the returned ``subsidy_fen`` is above 0.

    Raises ``DomainError`` with code ``invalid_price``, ``invalid_slot``,
    ``invalid_mode``, ``policy_not_in_force`` or ``policy_wrong_district``.
    """
    if not 0 <= list_price_fen <= MAX_FEN or isinstance(list_price_fen, bool):
        raise DomainError("invalid_price", {"list_price_fen": list_price_fen})
    if slot not in SLOTS:
        raise DomainError("invalid_slot", {"slot": slot})
    if mode not in MODES:
        raise DomainError("invalid_mode", {"mode": mode})
    if not in_force(policy, day):
        raise DomainError("policy_not_in_force", {"day": day.isoformat(), "version": policy.version})
    if site_district_id != policy.district_id:
        raise DomainError(
            "policy_wrong_district",
            {"policy_district_id": policy.district_id, "site_district_id": site_district_id},
        )

    delivery_rule = policy.delivery if mode == _DELIVERY else None
    fee = delivery_rule.fee_fen if delivery_rule is not None else 0
    price = list_price_fen

    phrases: list[tuple[str, str]] = []  # (zh, en), joined into reason_zh / reason_en

    # Steps 1-3: who gets which tiers.
    matched: list[Tier] = []
    nth = usage.slot_meals_today + 1
    if not elder.member:
        phrases.append(_both("quote.walk_in", price=yuan(price)))
    elif nth > policy.per_slot_daily_limit:
        phrases.append(
            _both(
                "quote.slot_limit_reached",
                slot=_slot_words(slot),
                taken=usage.slot_meals_today,
                limit=policy.per_slot_daily_limit,
            )
        )
    else:
        matched = _matching_tiers(elder, policy, day)
        if not matched:
            phrases.append(_both("quote.no_tier"))

    subsidy = 0
    lead: Tier | None = None
    applied: list[str] = []
    if matched:
        if policy.combination == "stack":
            subsidy, lead, applied = _stack(matched, price, policy.stack_cap_fen)
            names = _joined("quote.tier_sep", ((t.name_zh, t.name_en) for t in matched))
            phrases.append(_both("quote.stacked", names=names, subsidy=yuan(subsidy)))
        else:
            lead_subsidy = -1
            for tier in matched:
                s = _tier_subsidy(tier, price)
                if s > lead_subsidy:  # strict: ties keep the tier listed first
                    lead, lead_subsidy = tier, s
            assert lead is not None
            subsidy = lead_subsidy
            applied = [lead.code]
            phrases.append(
                _both("quote.tier", name=(lead.name_zh, lead.name_en), text=_tier_text(lead, subsidy, price))
            )

    # Step 4: portability decides who still pays; only worth computing when
    # something is to be paid.
    sources: list[str] = []
    weights: list[int] = []
    kept_percent = 100
    delivery_red = _delivery_reduction(delivery_rule, matched, fee) if matched and fee else 0
    if subsidy or delivery_red:
        sources, weights, dropped = _paying_sources(elder, policy, site_street_id, site_district_id)
        kept_percent = sum(weights)
        if kept_percent != 100:
            subsidy = subsidy * kept_percent // 100
            delivery_red = delivery_red * kept_percent // 100
            if kept_percent:
                phrases.append(
                    _both("quote.away_partial", sources=_sources_text(dropped), subsidy=yuan(subsidy))
                )
            else:
                phrases.append(_both("quote.away_none"))

    # Step 5: the monthly cap clips the meal subsidy only.
    cap = policy.monthly_cap_fen
    if cap is not None and matched:
        left = cap - usage.month_subsidy_fen
        if left < 0:
            left = 0
        if subsidy > left:
            subsidy = left
            if left:
                phrases.append(_both("quote.cap_left", left=yuan(left)))
            else:
                phrases.append(_both("quote.cap_reached"))

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
        funding=_split(subsidy, sources, weights),
        delivery_fee_fen=fee,
        delivery_subsidy_fen=delivery_red,
        delivery_copay_fen=delivery_copay,
        delivery_funding=_split(delivery_red, sources, weights),
        total_due_fen=copay + delivery_copay,
        tier_code=lead.code if lead is not None else None,
        tier_codes=applied,
        tier_name_zh=lead.name_zh if lead is not None else None,
        tier_name_en=lead.name_en if lead is not None else None,
        reason_zh=reason_zh,
        reason_en=reason_en[:1].upper() + reason_en[1:],
        policy_version=policy.version,
    )


def _matching_tiers(elder: ElderFacts, policy: Policy, day: date) -> list[Tier]:
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
        if tier.min_age is not None and (age is None or age < tier.min_age):
            continue
        if tier.max_age is not None and (age is None or age > tier.max_age):
            continue
        out.append(tier)
    return out


def _stack(matched: list[Tier], price: int, cap: int | None) -> tuple[int, Tier, list[str]]:
    total = 0
    lead = matched[0]
    lead_subsidy = -1
    for tier in matched:
        s = _tier_subsidy(tier, price)
        total += s
        if s > lead_subsidy:
            lead, lead_subsidy = tier, s
    if cap is not None and total > cap:
        total = cap
    if total > price:
        total = price
    return total, lead, [t.code for t in matched]


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


def _paying_sources(
    elder: ElderFacts, policy: Policy, site_street_id: int, site_district_id: int
) -> tuple[list[str], list[int], list[str]]:
    port = policy.portability
    outside_district = elder.home_district_id is None or elder.home_district_id != site_district_id
    outside_street = (
        outside_district or elder.home_street_id is None or elder.home_street_id != site_street_id
    )
    street_kept = port.outside_home_street if outside_street else None
    district_kept = port.outside_home_district if outside_district else None
    sources: list[str] = []
    weights: list[int] = []
    dropped: list[str] = []
    for share in policy.funding:
        s = share.source
        if (street_kept is not None and s not in street_kept) or (
            district_kept is not None and s not in district_kept
        ):
            dropped.append(s)
        else:
            sources.append(s)
            weights.append(share.percent)
    return sources, weights, dropped
