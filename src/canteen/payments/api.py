"""JSON API for cash top-ups, reversals, balances and the cash drawer (``/api/v1``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, CASHIER, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.core.idempotency import require_key
from canteen.core.schemas import IdempotencyKeyHeader
from canteen.payments import ledger
from canteen.payments.schemas import BalanceView, CashDrawer, ReversalView, ReverseIn, TopUpIn, TopUpReceipt

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
PathTxn = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
IdempotencyKey = IdempotencyKeyHeader


class TopUpController(Controller):
    path = "/api/v1/topups"
    tags = ["payments"]
    guards = [roles(CASHIER, OPERATOR)]

    @post(
        "/",
        summary="Cash top-up onto an elder's balance; `Idempotency-Key` required, a retry replays",
        responses=errors(*ledger.TOPUP_CODES),
    )
    async def top_up(
        self, request: Req, data: JSONBody[TopUpIn], idempotency_key: IdempotencyKey = None
    ) -> TopUpReceipt:
        key = require_key(idempotency_key)
        return await ledger.top_up_cash(
            principal_of(request), data.site_id, data.elder_id, data.amount_fen, idempotency_key=key
        )


class LedgerController(Controller):
    path = "/api/v1"
    tags = ["payments"]
    guards = [login_required]

    @post(
        "/ledger/{txn:str}/reverse",
        guards=[roles(OPERATOR, ADMIN)],
        summary="Reverse a ledger transaction with its mirror movements (the site's operator, admin)",
        responses=errors(*ledger.REVERSE_CODES),
    )
    async def reverse(self, request: Req, txn: PathTxn, data: JSONBody[ReverseIn]) -> ReversalView:
        return await ledger.reverse(principal_of(request), txn, data.reason)

    @get(
        "/elders/{elder_id:int}/balance",
        summary="An elder's balance and recent movements",
        responses=errors("not_found"),
    )
    async def balance(self, request: Req, elder_id: PathId) -> BalanceView:
        return await ledger.elder_balance(principal_of(request), elder_id)

    @get(
        "/sites/{site_id:int}/cash",
        guards=[roles(CASHIER, OPERATOR, OFFICIAL)],
        summary="A site's cash drawer on a service day",
        responses=errors("not_found"),
    )
    async def cash(
        self, request: Req, site_id: PathId, day: Annotated[dt.date, QueryParameter(name="date")]
    ) -> CashDrawer:
        return await ledger.cash_drawer(site_id, day, actor=principal_of(request))


CONTROLLERS: list[type[Controller]] = [TopUpController, LedgerController]
