"""schemathesis hooks for scripts/fuzz.py (loaded through SCHEMATHESIS_HOOKS).

`stable_error_code`: every 4xx/5xx JSON body is `{code, message, detail}` with a
code registered in canteen.core.errors.ERRORS, and the code's status matches.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

from canteen.app import route_handlers
from canteen.core.errors import ERRORS

route_handlers()  # importing every domain registers its error codes


@schemathesis.check
def stable_error_code(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error response carries a registered, stable `code`."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if "json" not in ctype:
        raise AssertionError(f"error {response.status_code} is not JSON ({ctype!r})")
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"error {response.status_code} has an unparseable JSON body") from exc
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or code not in ERRORS:
        raise AssertionError(f"error {response.status_code} has no registered code: {str(body)[:200]}")
    if ERRORS[code].status != response.status_code:
        raise AssertionError(
            f"code {code!r} is registered as {ERRORS[code].status}, answered {response.status_code}"
        )
    return None
