"""Who may reach which API route: the table the authorization matrix test checks.

Every route of the OpenAPI schema ("METHOD /path") must be here; the test fails
naming any route that is missing. To add your route:

1. Add ``"METHOD /api/v1/...": allow(...)`` to ``TABLE`` below, listing the
   principals that get past authorization (a 2xx, or a 4xx other than
   401/403/404 such as a 422 for the matrix test's empty body). Everyone else
   must get 401, 403 or 404.
2. If its path has a new ``{param}``, add how to build one object of each scope
   in ``tests/security/test_authz_matrix.py::_objects`` (``PARAMS`` there):
   the "mine" object belongs to district X / site A, the "theirs" object to
   district Y / site C. Every principal of district X must get 403/404 for the
   "theirs" object ("no object reachable by guessing an id").

Principals (tests/factories.make_world): admin; official_x / official_y;
operator_a, cashier_a (site A), cashier_b (site B, same district),
cashier_c (site C, district Y), kitchen_k (central kitchen of district X),
courier_a (site A); ``anonymous`` (no login) and ``revoked`` (a revoked device
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
)
PRINCIPALS = (*STAFF, "anonymous", "revoked")
# Hook for the delivery work: elder/family principals (a signed-in elder with a PIN, a family member
# linked to one elder) are added here and built in test_authz_matrix._tokens.
ELDER_PRINCIPALS: tuple[str, ...] = ()

# Groups used in the table.
ANY_STAFF = frozenset(STAFF)
PUBLIC = frozenset(PRINCIPALS)
ADMIN = frozenset({"admin"})
OFFICIALS = frozenset({"admin", "official_x", "official_y"})
OFFICIAL_X = frozenset({"admin", "official_x"})


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    # Server-sent event streams never end: only the refusals are requested.
    stream: bool = False
    # The path ids are not yet fillable by the matrix test (feature in progress): only
    # anonymous/revoked are checked. Remove once test_authz_matrix.PARAMS builds the ids.
    todo: str = ""


def allow(*groups: frozenset[str] | str, stream: bool = False, todo: str = "") -> Rule:
    names: set[str] = set()
    for g in groups:
        names |= {g} if isinstance(g, str) else set(g)
    unknown = names - set(PRINCIPALS) - set(ELDER_PRINCIPALS)
    if unknown:
        raise ValueError(f"unknown principals {sorted(unknown)}")
    return Rule(frozenset(names), stream=stream, todo=todo)


TABLE: dict[str, Rule] = {}
