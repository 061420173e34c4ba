"""Printable receipts (58 mm thermal paper): amounts and balance, never categories."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import PathParameter
from litestar.response import Template

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CASHIER, OFFICIAL, OPERATOR
from canteen.core.money import yuan
from canteen.payments import ledger
from canteen.settings import get_settings
from canteen.web.pages import page

PathTxn = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]


@get("/receipts/topups/{txn:str}", guards=[roles(CASHIER, OPERATOR, OFFICIAL)], include_in_schema=False)
async def topup_receipt(request: Request[Any, Any, Any], txn: PathTxn) -> Template:
    receipt = await ledger.topup_receipt(principal_of(request), txn)
    local = receipt.at.astimezone(get_settings().tz)
    return page(
        request,
        "receipts/topup.html",
        receipt=receipt,
        yuan=yuan,
        local_time=local.strftime("%Y-%m-%d %H:%M"),
    )


PAGES = [topup_receipt]
