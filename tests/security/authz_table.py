"""Who may reach which API route: the table the authorization matrix test checks.

Every route of the OpenAPI schema ("METHOD /path") must be here; the test fails
naming any route that is missing. To add your route:

1. Add ``"METHOD /api/v1/...": allow(...)`` to ``TABLE`` below, listing the
   principals that get past authorization (a 2xx, or a 4xx other than
   401/403/404 such as a 422 for the matrix test's empty body). Everyone else
   must get 401, 403 or 404.
   Routes whose object ids travel in the body (quotes, check-ins, top-ups, orders …) get
   a body built from the scope's values in ``BODIES`` and bodies mixing both scopes in
   ``MIXED`` (e.g. my site, their elder), so their rows list who passes with site A /
   elder X objects.
2. If its path has a new ``{param}``, add how to build one object of each scope
   in ``tests/security/test_authz_matrix.py::_objects`` (or ``authz_objects.py``), and for a
   write a valid body in ``test_authz_matrix.BODIES`` so its scope check is reached:
   the "mine" object belongs to district X / site A, the "theirs" object to
   district Y / site C. Every principal of district X must get 403/404 for the
   "theirs" object ("no object reachable by guessing an id").

Principals (tests/factories.make_world): admin; official_x / official_y;
operator_a, cashier_a (site A), cashier_b (site B, same district),
cashier_c (site C, district Y), kitchen_k (central kitchen of district X),
courier_a (site A), city_official_h (the city of both districts: reads the city's reports, edits
nothing of a district); community_a (community worker of community A = the community of elder X,
district X), community_b (community worker of community B, also district X: another community's
elder is a 404 to it), volunteer_a (volunteer of community A: no registry, no personal data);
``anonymous`` (no login) and ``revoked`` (a revoked device
token of cashier_a). Elder and family principals: see ``ELDER_PRINCIPALS``.
"""

from __future__ import annotations

from dataclasses import dataclass

STAFF = (
    "admin",
    "official_x",
    "official_y",
    "operator_a",
    "cashier_a",
    "cashier_b",
    "cashier_c",
    "kitchen_k",
    "courier_a",
    "city_official_h",
    "community_a",
    "community_b",
    "volunteer_a",
)
PRINCIPALS = (*STAFF, "anonymous", "revoked")
# Elder/family principals: elder E1 signed in on /elder with card number + PIN, and a family member
# linked to E1 (cookie ``canteen_elder``); built in test_authz_matrix._elder_sessions. They are not
# staff: every /api/v1 route refuses them (only the PUBLIC routes let them through), and the /elder
# pages refuse them another elder's orders, standing orders and pages (test_elder_and_family_sessions).
ELDER_PRINCIPALS: tuple[str, ...] = ("elder_e1", "family_e1")

# Groups used in the table.
ANY_STAFF = frozenset(STAFF)
PUBLIC = frozenset(PRINCIPALS)
# A revoked device token is refused with token_revoked (401) on every route that reads credentials,
# the public ones included, so a device learns why at once; only the liveness probe ignores it.
PUBLIC_NOT_REVOKED = PUBLIC - {"revoked"}
ADMIN = frozenset({"admin"})
OFFICIALS = frozenset({"admin", "official_x", "official_y"})
OFFICIAL_X = frozenset({"admin", "official_x"})
# District X's community roles (community A and B, volunteer of A): they read the district's
# configuration (districts, streets, communities, dishes, policies), never its other elders.
COMMUNITY_X = frozenset({"community_a", "community_b", "volunteer_a"})
# Routes whose body names site A (test_authz_matrix.BODIES): its counter staff.
SITE_A_COUNTER = frozenset({"admin", "operator_a", "cashier_a"})


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    # Server-sent event streams never end: only the refusals are requested.
    stream: bool = False
    # The path ids are not yet fillable by the matrix test (feature in progress): only
    # anonymous/revoked are checked. Remove once test_authz_matrix.PARAMS builds the ids.
    todo: str = ""
    # A known hole reported to the route's owner: the other-scope check prints it instead of failing.
    # Remove when fixed (the test then holds the line).
    known_gap: str = ""


def allow(*groups: frozenset[str] | str, stream: bool = False, todo: str = "", known_gap: str = "") -> Rule:
    names: set[str] = set()
    for g in groups:
        names |= {g} if isinstance(g, str) else set(g)
    unknown = names - set(PRINCIPALS) - set(ELDER_PRINCIPALS)
    if unknown:
        raise ValueError(f"unknown principals {sorted(unknown)}")
    return Rule(frozenset(names), stream=stream, todo=todo, known_gap=known_gap)


TABLE: dict[str, Rule] = {
    "POST /api/v1/alerts/{alert_id}/acknowledge": allow(OFFICIAL_X),
    "POST /api/v1/auth/login": allow(PUBLIC_NOT_REVOKED),
    "POST /api/v1/auth/logout": allow(ANY_STAFF),
    "GET /api/v1/auth/me": allow(ANY_STAFF),
    "PUT /api/v1/budgets": allow(OFFICIALS),
    "GET /api/v1/cards/public-key": allow(ANY_STAFF),
    "POST /api/v1/cards/sheet.pdf": allow(OFFICIALS),
    "POST /api/v1/cards/verify": allow(ANY_STAFF),
    "POST /api/v1/cards/{card_id}/revoke": allow(OFFICIAL_X),
    "POST /api/v1/checkins": allow(SITE_A_COUNTER),
    "POST /api/v1/checkins/manual": allow(SITE_A_COUNTER),
    "POST /api/v1/checkins/preview": allow(SITE_A_COUNTER),
    "GET /api/v1/claim-flags/{flag_id}": allow(OFFICIAL_X),
    "POST /api/v1/claim-flags/{flag_id}/decision": allow(OFFICIAL_X),
    # Survey and complaints (quality.survey / quality.complaints): the point's operator and the
    # district's officials; everyone else (other districts included) gets a 404.
    "GET /api/v1/complaints": allow(OFFICIALS, "operator_a"),
    "GET /api/v1/complaints/{complaint_id}": allow(OFFICIAL_X, "operator_a"),
    "POST /api/v1/complaints/{complaint_id}/replies": allow(OFFICIAL_X, "operator_a"),
    "POST /api/v1/complaints/{complaint_id}/status": allow(OFFICIAL_X, "operator_a"),
    "POST /api/v1/sites/{site_id}/complaints": allow(OFFICIAL_X, "operator_a"),
    "POST /api/v1/sites/{site_id}/survey-answers": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/sites/{site_id}/survey-results": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/districts/{district_id}/survey-results": allow(OFFICIAL_X, "operator_a"),
    # Notifications (canteen.notify): the district's officials only (every field of the
    # settings PUT has a default, so an empty body reaches the scope check).
    "GET /api/v1/districts/{district_id}/notifications": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/notify-settings": allow(OFFICIAL_X),
    "PUT /api/v1/districts/{district_id}/notify-settings": allow(OFFICIAL_X),
    "GET /api/v1/costs/template.xlsx": allow(OFFICIALS, "operator_a"),
    "POST /api/v1/costs/upload": allow(OFFICIALS, "operator_a"),
    "GET /api/v1/dishes": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "POST /api/v1/dishes": allow(OFFICIALS, "operator_a", "kitchen_k"),
    "GET /api/v1/dishes/{dish_id}": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "PATCH /api/v1/dishes/{dish_id}": allow(OFFICIAL_X, "operator_a", "kitchen_k"),
    "GET /api/v1/districts": allow(ANY_STAFF),
    "GET /api/v1/cities": allow(ANY_STAFF),
    "POST /api/v1/cities": allow(ADMIN),
    "GET /api/v1/cities/{city_id}": allow(ADMIN, "city_official_h"),
    "GET /api/v1/cities/{city_id}/overview": allow(ADMIN, "city_official_h"),
    # The city's base policy: its city official writes it; every staff member of a district of the
    # city reads it (their district's top-up sits on it).
    "GET /api/v1/cities/{city_id}/policies": allow(ANY_STAFF),
    "POST /api/v1/cities/{city_id}/policies": allow(ADMIN, "city_official_h"),
    "POST /api/v1/districts": allow(ADMIN),
    "GET /api/v1/districts/{district_id}/alerts": allow(OFFICIAL_X),
    # Welfare visits (care/api.py): community roles see the plan of their own communities (community_b's
    # is empty but answers), visits of their community's elders; writes with the matrix's empty body are
    # refused by validation (422) before the scope check (tests/integration/care/test_visits.py).
    "GET /api/v1/districts/{district_id}/visit-rules": allow(OFFICIAL_X),
    "POST /api/v1/districts/{district_id}/visit-rules": allow(OFFICIALS),
    "PUT /api/v1/districts/{district_id}/visit-rules/{rule_id}": allow(OFFICIALS),
    "GET /api/v1/districts/{district_id}/visit-plan": allow(OFFICIAL_X, COMMUNITY_X),
    "GET /api/v1/districts/{district_id}/visit-coverage": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/visits": allow(OFFICIALS, COMMUNITY_X),
    "GET /api/v1/elders/{elder_id}/visits": allow(OFFICIAL_X, "community_a", "volunteer_a"),
    "GET /api/v1/me/visit-hours": allow(OFFICIALS, COMMUNITY_X),
    "GET /api/v1/districts/{district_id}/budgets": allow(OFFICIAL_X),
    "POST /api/v1/districts/{district_id}/claim-checks": allow(OFFICIALS),
    "GET /api/v1/districts/{district_id}/claim-flags": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/live": allow(OFFICIAL_X, stream=True),
    "POST /api/v1/districts/{district_id}/missed-meal-alerts": allow(OFFICIALS),
    "GET /api/v1/districts/{district_id}/operating-rules": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/policies": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "POST /api/v1/districts/{district_id}/policies": allow(OFFICIALS),
    "POST /api/v1/districts/{district_id}/rollups/rebuild": allow(OFFICIALS),
    "GET /api/v1/districts/{district_id}/spending": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/streets": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "POST /api/v1/districts/{district_id}/streets": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/today": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/viability": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/districts/{district_id}/viability/days": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/elders": allow(ANY_STAFF),
    "POST /api/v1/elders": allow(ANY_STAFF),
    "GET /api/v1/elders/export": allow(OFFICIAL_X, "operator_a"),
    # Civil-affairs lists (canteen.care.civil): the multipart uploads fail the matrix's JSON body
    # for every signed-in caller (as the elder import's do); the district scope is checked in
    # tests/integration/care/test_civil.py. Without district_id officials get 422, community
    # workers their own communities' list.
    "POST /api/v1/care/civil/apply": allow(ANY_STAFF),
    "POST /api/v1/care/civil/dry-run": allow(ANY_STAFF),
    "GET /api/v1/care/civil/expiring": allow(OFFICIALS, "community_a", "community_b"),
    "GET /api/v1/care/refund-tasks": allow(OFFICIAL_X),
    "GET /api/v1/care/refund-tasks/{task_id}": allow(OFFICIAL_X),
    "POST /api/v1/care/refund-tasks/{task_id}/close": allow(OFFICIAL_X),
    "POST /api/v1/elders/import": allow(ANY_STAFF),
    "POST /api/v1/elders/import/dry-run": allow(ANY_STAFF),
    # Elder X lives in community A: its community worker reads and edits the record and balance
    # and reveals the ID (audited); community B's worker and the volunteer get 404.
    "GET /api/v1/elders/{elder_id}": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", "community_a"
    ),
    "PATCH /api/v1/elders/{elder_id}": allow(OFFICIAL_X, "community_a"),
    "GET /api/v1/elders/{elder_id}/balance": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", "community_a"
    ),
    "GET /api/v1/elders/{elder_id}/card.png": allow(OFFICIAL_X),
    "GET /api/v1/elders/{elder_id}/card.svg": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/cards": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/delivery-grant": allow(OFFICIAL_X),
    "GET /api/v1/elders/{elder_id}/national-id": allow(OFFICIAL_X, "community_a"),
    "POST /api/v1/elders/{elder_id}/pin": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/pin/unlock": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/status": allow(OFFICIAL_X),
    # Service pauses (报停): staff with scope for the elder, the community worker of its community.
    "GET /api/v1/elders/{elder_id}/pauses": allow(OFFICIAL_X, "community_a"),
    "POST /api/v1/elders/{elder_id}/pauses": allow(OFFICIAL_X, "community_a"),
    "POST /api/v1/pauses/{pause_id}/end": allow(OFFICIAL_X, "community_a"),
    "GET /api/v1/kitchens/{site_id}/labels": allow(OFFICIAL_X, "kitchen_k"),
    "GET /api/v1/kitchens/{site_id}/packing": allow(OFFICIAL_X, "kitchen_k"),
    "GET /api/v1/kitchens/{site_id}/plan": allow(OFFICIAL_X, "kitchen_k"),
    "GET /api/v1/kitchens/{site_id}/plan.xlsx": allow(OFFICIAL_X, "kitchen_k"),
    "POST /api/v1/ledger/{txn}/reverse": allow("admin", "operator_a"),
    "POST /api/v1/meals/{meal_id}/rating": allow("admin", "operator_a", "cashier_a", "courier_a"),
    "POST /api/v1/meals/{meal_id}/void": allow("admin", "operator_a", "cashier_a"),
    "POST /api/v1/operating-rules": allow(OFFICIALS),
    "GET /api/v1/operators": allow(ANY_STAFF),
    # Operator X (home district X, sites in X): every official of its city, the city official, the
    # staff of district X's sites; not cashier_c (site C of Y runs no site of X's operator).
    "GET /api/v1/operators/{operator_id}": allow(ANY_STAFF - {"cashier_c"}),
    "POST /api/v1/operators": allow(OFFICIALS),
    "GET /api/v1/orders": allow(OFFICIAL_X),
    "POST /api/v1/orders": allow(OFFICIAL_X),
    "POST /api/v1/family-accounts": allow(OFFICIALS),
    "POST /api/v1/family-accounts/{family_id}/links": allow(OFFICIAL_X),
    "POST /api/v1/elders/{elder_id}/card-topups": allow(OFFICIAL_X),
    "GET /api/v1/orders/{order_id}": allow(OFFICIAL_X),
    "POST /api/v1/orders/{order_id}/cancel": allow(OFFICIAL_X),
    "POST /api/v1/orders/{order_id}/card-payment": allow(OFFICIAL_X),
    # The district's officials and the delivering site's operator/kitchen/couriers (the order is at site A).
    "POST /api/v1/orders/{order_id}/status": allow(OFFICIAL_X, "operator_a", "courier_a"),
    "POST /api/v1/payments/stripe/webhook": allow(PUBLIC_NOT_REVOKED),
    "GET /api/v1/policies/{policy_id}": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "POST /api/v1/policies/{policy_id}/publish": allow(OFFICIAL_X),
    "POST /api/v1/policies/{policy_id}/retire": allow(OFFICIAL_X),
    # Body: elder X at site A. Who may quote at site A; the quote's scope and category rules per
    # role, by id and by card, are test_object_scope.test_quotes_by_role.
    "POST /api/v1/quotes": allow(OFFICIAL_X, "operator_a", "cashier_a", "courier_a"),
    "GET /api/v1/rounds": allow(OFFICIALS, "operator_a", "kitchen_k", "courier_a"),
    "GET /api/v1/rounds/{round_id}": allow(OFFICIAL_X, "operator_a", "courier_a"),
    "POST /api/v1/rounds/{round_id}/start": allow("admin", "courier_a"),
    # The city official reads its city's statements and settles the city's own funder only.
    "GET /api/v1/settlements": allow(OFFICIALS, "operator_a", "city_official_h"),
    "POST /api/v1/settlements": allow(OFFICIALS, "operator_a", "city_official_h"),
    "GET /api/v1/settlements/{settlement_id}": allow(OFFICIAL_X, "operator_a", "city_official_h"),
    "POST /api/v1/settlements/{settlement_id}/approve": allow(OFFICIAL_X),
    "GET /api/v1/settlements/{settlement_id}/export": allow(OFFICIAL_X, "operator_a", "city_official_h"),
    "POST /api/v1/settlements/{settlement_id}/pay": allow(OFFICIAL_X),
    "POST /api/v1/settlements/{settlement_id}/submit": allow("admin", "operator_a"),
    "GET /api/v1/sites": allow(ANY_STAFF),
    "POST /api/v1/sites": allow(OFFICIALS),
    "GET /api/v1/districts/{district_id}": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "PATCH /api/v1/districts/{district_id}": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/coverage": allow(OFFICIAL_X),
    "GET /api/v1/districts/{district_id}/inter-district": allow(OFFICIAL_X, "city_official_h"),
    "GET /api/v1/sites/{site_id}": allow(OFFICIAL_X, "operator_a", "cashier_a", "courier_a"),
    "PATCH /api/v1/sites/{site_id}": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/sites/{site_id}/cash": allow(OFFICIAL_X, "operator_a", "cashier_a"),
    "GET /api/v1/sites/{site_id}/costs/{month}": allow(),
    "PUT /api/v1/sites/{site_id}/costs/{month}": allow("admin", "operator_a"),
    "GET /api/v1/sites/{site_id}/live": allow("admin", "operator_a", "cashier_a", stream=True),
    "GET /api/v1/sites/{site_id}/menus": allow(OFFICIAL_X, "operator_a", "cashier_a", "courier_a"),
    # With a real body (test_authz_matrix.BODIES): site A's official and operator (site A has no
    # central kitchen, so kitchen_k does not cook for it).
    "POST /api/v1/sites/{site_id}/menus/copy-week": allow(OFFICIAL_X, "operator_a"),
    "PUT /api/v1/sites/{site_id}/menus/{day}/{slot}": allow(OFFICIALS, "operator_a", "kitchen_k"),
    "POST /api/v1/sites/{site_id}/rounds": allow(OFFICIALS, "operator_a", "kitchen_k"),
    "POST /api/v1/sites/{site_id}/status": allow(OFFICIAL_X, "operator_a"),
    "GET /api/v1/sites/{site_id}/tally": allow("admin", "operator_a", "cashier_a"),
    "GET /api/v1/standing-orders": allow(OFFICIAL_X),
    "POST /api/v1/standing-orders": allow(OFFICIAL_X),
    "POST /api/v1/standing-orders/{standing_id}/stop": allow(OFFICIAL_X),
    "GET /api/v1/stops/{stop_id}": allow(OFFICIAL_X, "operator_a", "courier_a"),
    "POST /api/v1/stops/{stop_id}/deliver": allow("admin", "courier_a"),
    "POST /api/v1/stops/{stop_id}/fail": allow("admin", "courier_a"),
    "POST /api/v1/stops/{stop_id}/welfare": allow("admin", "courier_a"),
    "GET /api/v1/streets/{street_id}/communities": allow(
        OFFICIAL_X, "operator_a", "cashier_a", "cashier_b", "kitchen_k", "courier_a", COMMUNITY_X
    ),
    "POST /api/v1/streets/{street_id}/communities": allow(OFFICIAL_X),
    "GET /api/v1/tokens": allow(ADMIN),
    "POST /api/v1/tokens": allow(ADMIN),
    "POST /api/v1/tokens/{token_id}/revoke": allow(ADMIN),
    "POST /api/v1/topups": allow(SITE_A_COUNTER),
    "GET /api/v1/users": allow(ADMIN),
    "POST /api/v1/users": allow(ADMIN),
    "PUT /api/v1/users/{user_id}/grants": allow(ADMIN),
    "POST /api/v1/users/{user_id}/password": allow(ADMIN),
    "POST /api/v1/users/{user_id}/unlock": allow(ADMIN),
    "POST /api/v1/walk-ins": allow(SITE_A_COUNTER),
    # A job run: admin and an official of its district (and whoever asked for it).
    "GET /api/v1/jobs/{run_id}": allow(OFFICIAL_X),
    "GET /api/v1/jobs/{run_id}/download": allow(OFFICIAL_X),
    # helpers: new rows of queued work go below, each under its own comment line
    # routing:
    # The next-point suggestion (a job): an official of the district (and the admin).
    "POST /api/v1/districts/{district_id}/coverage/next-point": allow(OFFICIAL_X),
    # claims:
    # A district's claim-check thresholds: its officials (and the admin) read and set them.
    "GET /api/v1/districts/{district_id}/claim-check-settings": allow(OFFICIAL_X),
    "PUT /api/v1/districts/{district_id}/claim-check-settings": allow(OFFICIAL_X),
    # Bulk review: every official passes the guard; the (empty) body is refused before the scope,
    # which is checked per flag (another district's flags are not_found: test_claims_at_volume).
    "POST /api/v1/districts/{district_id}/claim-flags/review": allow(OFFICIALS),
    # sheets:
    # scheduled:
    # caches:
    "GET /healthz": allow(PUBLIC),
    "GET /readyz": allow(PUBLIC_NOT_REVOKED),
}
