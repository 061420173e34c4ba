"""The one quote assembly: the facts of one meal gathered in one place, priced by the pure rules.

The counter (scan, preview, check-in), delivery orders (quote and placement), the quotes
API and the demo all call :func:`price_meal`, so the same elder at the same site, slot,
day and meal set always gets the same price: the same site street fallback
(``regions.lookup``), the same elder facts (an elder who is not active is priced as a
walk-in), the same policy lookup and the same usage count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from canteen import i18n
from canteen.accounts.roles import Principal
from canteen.core.categories import SLOTS
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.meals import usage as meal_usage
from canteen.menus.services import meal_set_for
from canteen.regions.lookup import SiteInfo, check_same_city, site_info
from canteen.registry.card_services import resolve_card
from canteen.registry.schemas import ElderBrief
from canteen.registry.services import CATEGORY_GROUP, access_of, counter_view
from canteen.subsidies import rules as subsidy_rules
from canteen.subsidies.schemas import DEFAULT_MEAL_TYPE, ElderFacts, Policy, Quote, Usage
from canteen.subsidies.services import policy_for


@dataclass(frozen=True, slots=True)
class Priced:
    """A quote with what it was built from."""

    quote: Quote
    # The subsidised meal the elder already had in this slot and day (when it was looked up).
    already: dict[str, Any] | None
    policy_found: bool


def _reasons(key: str) -> tuple[str, str]:
    return i18n.gettext("zh-CN", key), i18n.gettext("en", key)


def list_price_quote(
    list_price_fen: int, *, policy_version: int = 0, why: str = "meal.list_price.walk_in"
) -> Quote:
    """The list price with no subsidy: a walk-in, a person who is not an active member, or a
    district with no policy in force (``why`` names the reason's catalog key)."""
    zh, en = _reasons(why)
    return Quote(
        list_price_fen=list_price_fen,
        subsidy_fen=0,
        copay_fen=list_price_fen,
        funding=[],
        delivery_fee_fen=0,
        delivery_subsidy_fen=0,
        delivery_copay_fen=0,
        delivery_funding=[],
        total_due_fen=list_price_fen,
        tier_code=None,
        tier_codes=[],
        tier_name_zh=None,
        tier_name_en=None,
        reason_zh=zh,
        reason_en=en,
        policy_version=policy_version,
    )


async def elder_for_pricing(elder_id: int, day: dt.date) -> tuple[ElderBrief, ElderFacts]:
    """The elder as the counter shows them and as the rules see them, from one read.

    An elder who is not active (suspended, moved, deceased) is no member for pricing; the
    counter and ordering refuse them anyway, the quotes API shows the list price.
    """
    brief, facts = await counter_view(elder_id, today=day)
    if brief.status != "active":
        facts = ElderFacts(member=False)
    return brief, facts


async def price_meal(
    *,
    site: SiteInfo,
    elder_id: int | None,
    day: dt.date,
    slot: str,
    mode: str,
    list_price_fen: int,
    facts: ElderFacts | None = None,
    look_up_served: bool = True,
    meal_type: str = DEFAULT_MEAL_TYPE,
) -> Priced:
    """Price one meal (a set of ``meal_type``) at ``site`` for ``elder_id`` (None: a walk-in).

    ``look_up_served=False`` skips reading the subsidised meal already taken in this slot:
    the counter's hot path leaves that to the subsidy counters (their refusal becomes
    ``already_served``). Everything else is looked up here and nowhere else: when the
    policy has a per-day or monthly meal limit, or more than one meal per slot, the counts
    come from ``meals.usage.usage_of``.
    """
    if elder_id is None:
        facts = ElderFacts(member=False)
    elif facts is None:
        _, facts = await elder_for_pricing(elder_id, day)
    # The home district's policy, wherever in the city the elder eats (补贴跟着人走).
    policy = await policy_for(subsidy_rules.deciding_district(facts, site.district_id), day)
    already: dict[str, Any] | None = None
    usage = Usage()
    if elder_id is not None:
        already = await meal_usage.served_already(elder_id, day, slot) if look_up_served else None
        month_fen = await meal_usage.month_subsidy(elder_id, day) if policy and policy.monthly_cap_fen else 0
        usage = Usage(slot_meals_today=1 if already is not None else 0, month_subsidy_fen=month_fen)
        if policy is not None and (
            policy.per_day_limit or policy.monthly_cap_meals or policy.per_slot_daily_limit > 1
        ):
            counted = await meal_usage.usage_of(elder_id, day, slot)
            slot_meals = counted.slot_meals_today if look_up_served else usage.slot_meals_today
            usage = msgspec.structs.replace(counted, slot_meals_today=slot_meals)
    quote = assemble_quote(
        site_district_id=site.district_id,
        site_street_id=site.street_id,
        facts=facts,
        policy=policy,
        usage=usage,
        day=day,
        slot=slot,
        mode=mode,
        list_price_fen=list_price_fen,
        meal_type=meal_type,
    )
    return Priced(quote, already, policy_found=policy is not None)


def assemble_quote(
    *,
    site_district_id: int,
    site_street_id: int | None,
    facts: ElderFacts,
    policy: Policy | None,
    usage: Usage,
    day: dt.date,
    slot: str,
    mode: str,
    list_price_fen: int,
    meal_type: str = DEFAULT_MEAL_TYPE,
) -> Quote:
    """The pure half of the assembly, for callers that hold the facts already (the demo's
    history, which prices months of meals in memory): no policy in force → the list price;
    otherwise the rules, with the site's street as ``regions.lookup`` resolves it."""
    if policy is None:
        return list_price_quote(list_price_fen, why="meal.list_price.no_policy")
    return subsidy_rules.quote(
        elder=facts,
        list_price_fen=list_price_fen,
        slot=slot,
        day=day,
        mode=mode,
        policy=policy,
        usage=usage,
        site_street_id=site_street_id or 0,
        site_district_id=site_district_id,
        meal_type=meal_type,
    )


async def quote_for(
    actor: Principal,
    *,
    elder_id: int | None = None,
    card: str | None = None,
    site_id: int,
    slot: str,
    day: dt.date,
    mode: str,
    list_price_fen: int | None,
    meal_set_id: int | None = None,
    meal_type: str = DEFAULT_MEAL_TYPE,
) -> Quote:
    """The quotes API: price one meal at ``site_id`` for an elder (by id or by a scanned/typed
    ``card``), or for a walk-in when neither is given — the same assembly the counter and
    ordering use. The meal is a set on the menu the site serves (``meal_set_id``: its list
    price and type) or a ``list_price_fen`` of ``meal_type``.

    Object scope follows the registry's personal-data rules (``registry.services.access_of``):
    an elder the actor may not read is answered exactly like an unknown one — ``not_found``
    with ``{"elder_id": …}`` by id, ``not_found`` with ``{"field": "card"}`` by card (an
    unknown, an out-of-scope and a revoked out-of-scope card alike). The price split is
    returned to everyone who may quote at the site; the applied tier (code, name) and the
    reason text, which name the elder's categories, only to roles that may see categories
    (officials, operators and cashiers of the elder's district): kitchen and courier get the
    split with a neutral reason (see :func:`without_categories`).

    Codes: ``not_found`` (site outside the actor's scope; unknown or unreadable elder or
    card), ``invalid_card`` / ``invalid_card_number`` (malformed only), ``card_revoked`` (a
    readable elder's), ``policy_not_in_force``, and the rules' ``invalid_price`` /
    ``invalid_slot`` / ``invalid_mode`` / ``invalid_meal_type``; for a set, ``no_menu`` and
    ``not_found`` {"meal_set_id"} (not on that menu).
    """
    site = await site_info(site_id)
    if not actor.can_site(site.id, site.district_id, *actor.roles):
        raise DomainError("not_found", {"site_id": site_id})
    if meal_set_id is not None:
        if slot not in SLOTS:
            raise DomainError("invalid_slot", {"slot": slot})
        meal_set = await meal_set_for(site.id, day, slot, meal_set_id)
        list_price_fen, meal_type = meal_set.list_price_fen, meal_set.meal_type
    assert list_price_fen is not None
    if card is not None:
        elder_id = await _readable_card(actor, card)
    facts: ElderFacts | None = None
    access: frozenset[str] = frozenset()
    if elder_id is not None:
        brief, facts = await elder_for_pricing(elder_id, day)  # not_found {"elder_id"} when unknown
        readable = access_of(actor, brief.district_id)
        if readable is None:
            raise DomainError("not_found", {"elder_id": elder_id})
        access = readable
        await check_same_city(brief.district_id, site.district_id)
    priced = await price_meal(
        site=site,
        elder_id=elder_id,
        day=day,
        slot=slot,
        mode=mode,
        list_price_fen=list_price_fen,
        facts=facts,
        meal_type=meal_type,
    )
    if not priced.policy_found:
        raise DomainError("policy_not_in_force", {"district_id": site.district_id, "date": day.isoformat()})
    if elder_id is not None and CATEGORY_GROUP not in access:
        return without_categories(priced.quote)
    return priced.quote


# What an unknown card looks like from resolve_card; an out-of-scope card is made to look the same.
_UNKNOWN_CARD = {
    ("invalid_card", "unknown_card"),
    ("invalid_card_number", "unknown"),
    ("not_found", "other_district"),
}


async def _readable_card(actor: Principal, card: str) -> int:
    """The elder a card names, if ``actor`` may read that elder; else ``not_found`` {"field": "card"}."""
    visible = actor.visible_district_ids()
    try:
        hit = await resolve_card(card, districts=visible)
    except DomainError as err:
        if (err.code, err.detail.get("reason")) in _UNKNOWN_CARD:
            raise DomainError("not_found", {"field": "card"}) from None
        raise
    return hit.elder_id


def without_categories(q: Quote) -> Quote:
    """``q`` for a reader who may not see the elder's categories: the same split (list price,
    subsidy, co-pay, funding, delivery), no tier code or name, and a reason that names none."""
    amounts = {"subsidy": yuan(q.subsidy_fen), "copay": yuan(q.copay_fen)}
    zh = i18n.gettext("zh-CN", "meal.quote.categories_withheld", **amounts)
    en = i18n.gettext("en", "meal.quote.categories_withheld", **amounts)
    return msgspec.structs.replace(
        q, tier_code=None, tier_codes=[], tier_name_zh=None, tier_name_en=None, reason_zh=zh, reason_en=en
    )
