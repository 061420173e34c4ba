"""The smaller items of issue 14, each through HTTP on the real database: cost months and
amounts bounded with codes naming the field, CSV sent with one charset, uploaded registers
stored encrypted for a short while, a full-price sale that races the first meal is sold,
and argon2 and the Stripe SDK kept off the event loop."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openpyxl
import pytest
from openpyxl import load_workbook

from canteen.accounts.passwords import hash_password, hash_password_async, verify_password_async
from canteen.accounts.services import load_principal
from canteen.core.errors import DomainError
from canteen.demo.people import DemoCommunity, make_import_workbook
from canteen.meals.tables import Meal
from canteen.payments.ledger import ledger_balanced, verify_balances
from canteen.payments.providers.stripe_provider import off_loop
from canteen.registry import import_service
from canteen.registry.tables import ImportUpload
from tests.factories import World
from tests.integration.checkin.test_counter import _counter
from tests.integration.registry.test_pages import web_login

# ------------------------------------------------------------------ costs


def test_cost_months_outside_2000_to_next_year_are_refused_naming_the_field(
    client: Any, world: World, login: Any
) -> None:
    op = login("operator_a")
    for month in ("1994-12", "1999-12", "2099-01"):
        r = client.put(f"/api/v1/sites/{world.site_a}/costs/{month}", json={"food_fen": 100}, headers=op)
        assert r.status_code == 422, (month, r.text)
        assert r.json()["code"] == "cost_month_out_of_range" and r.json()["detail"]["field"] == "month"
    assert (
        client.put(
            f"/api/v1/sites/{world.site_a}/costs/2000-01", json={"food_fen": 100}, headers=op
        ).status_code
        == 200
    )


def test_negative_amounts_and_minus_zeros_are_refused_naming_the_field(
    client: Any, world: World, login: Any
) -> None:
    op = login("operator_a")
    r = client.put(f"/api/v1/sites/{world.site_a}/costs/2026-09", json={"rent_fen": -1}, headers=op)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "rent_fen"
    # An XLSX row with "-0" (a negative meant, a zero read) is refused, row by row.
    tpl = client.get("/api/v1/costs/template.xlsx", headers=op)
    wb = load_workbook(io.BytesIO(tpl.content))
    ws = wb.active
    assert ws is not None
    header = [c.value for c in ws[1]]
    for bad in ("-0", "-0.00", "−0", -5):
        row = {h: 0 for h in header}
        row.update(site_id=world.site_a, month="2026-09", rent_fen=bad)
        ws.append([row[h] for h in header])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(
        "/api/v1/costs/upload",
        files={"file": ("costs.xlsx", buf.getvalue(), "application/octet-stream")},
        headers={**op, "Accept-Language": "en"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["saved"] == 0 and len(r.json()["errors"]) == 4
    assert all("minus sign" in e for e in r.json()["errors"]), r.json()["errors"]
    # The operator's page form: "-0" is an error next to the field, not a zero.
    csrf = web_login(client, "operator_a")
    r = client.post(
        "/accounting/costs",
        data={"_csrf_token": csrf, "site_id": str(world.site_a), "month": "2026-09", "rent_fen": "-0"},
    )
    assert r.status_code == 400


# ------------------------------------------------------------------ CSV


def test_csv_is_sent_with_one_charset(client: Any, world: World, login: Any) -> None:
    r = client.get(
        "/api/v1/elders/export",
        params={"district_id": world.district_x, "format": "csv"},
        headers=login("admin"),
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"


# ------------------------------------------------------------------ import storage


def test_an_uploaded_register_is_stored_encrypted_and_briefly(
    client: Any, app: Any, world: World, run: Any
) -> None:
    csrf = web_login(client, "official_x")
    comms = [DemoCommunity(world.community_x, "卖鱼桥社区", "米市巷街道", 30.2975, 120.1430, ("湖墅南路",))]
    wb = make_import_workbook(10, 0, seed=11, communities=comms, today=__import__("datetime").date.today())
    sheet = openpyxl.load_workbook(io.BytesIO(wb.data)).worksheets[0]
    rows = [[("" if v is None else str(v)) for v in r] for r in sheet.iter_rows(values_only=True)]
    ids = [r[rows[0].index("身份证号")] for r in rows[1:]]
    assert all(len(i) == 18 for i in ids)
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    r = client.post(
        "/elders/import",
        data={"_csrf_token": csrf, "district_id": str(world.district_x)},
        files={"file": ("名单.csv", text.getvalue().encode("utf-8"), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    columns_url = r.headers["location"]
    token = columns_url.split("/")[3]
    # Kept in the database for the import job (never in Redis), sealed, found by a hash of the token.
    key = import_service._upload_key(token)
    row = run(lambda: ImportUpload.select().where(ImportUpload.token_hash == key).first())
    raw = row["sealed"].encode()
    assert token.encode() not in raw
    assert not any(i.encode() in raw for i in ids) and not any(i[-6:].encode() in raw for i in ids)
    # The wizard honours it for UPLOAD_TTL (15 minutes), then answers "expired".
    assert import_service.UPLOAD_TTL <= 15 * 60
    principal = run(lambda: load_principal(row["user"]))
    late = row["created_at"] + dt.timedelta(seconds=import_service.UPLOAD_TTL + 1)
    with pytest.raises(DomainError) as err:
        run(lambda: import_service.load_upload(principal, token, now=late))
    assert err.value.code == "import_upload_expired"
    # The wizard still reads it back (and only for the one who uploaded it).
    page = client.get(columns_url)
    assert page.status_code == 200 and 'name="map_national_id"' in page.text


# ------------------------------------------------------------------ full price racing the first meal


def test_full_price_scans_racing_the_first_meal_are_all_sold(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=1, balance_fen=20_000))
    headers = login("cashier_all")
    elder, card = c.elders[0], c.cards[c.elders[0]]

    def scan(i: int) -> Any:
        return client.post(
            "/api/v1/checkins",
            json={"site_id": c.sites[i % 3], "card": card, "payment": "balance", "full_price_ok": True},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(scan, range(6)))
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert sum(1 for b in bodies if b["subsidy_fen"] > 0) == 1
    assert all(b["copay_fen"] == b["list_price_fen"] for b in bodies if b["subsidy_fen"] == 0)
    meals = run(lambda: Meal.select(Meal.subsidised).where(Meal.elder == elder))
    assert len(meals) == 6 and sum(1 for m in meals if m["subsidised"]) == 1
    assert run(verify_balances) == [] and run(ledger_balanced)


# ------------------------------------------------------------------ off the event loop


async def _max_gap_while(work: Any) -> tuple[float, float]:
    """(the longest the loop went without running a 5 ms ticker, how long ``work`` took)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        await work()
    finally:
        took = time.perf_counter() - started
        done.set()
        await task
    return max(gaps), took


def test_argon2_runs_off_the_event_loop() -> None:
    stored = hash_password("Counter-pass-2026")

    async def work() -> None:
        for _ in range(3):
            assert await verify_password_async(stored, "Counter-pass-2026")
        assert await verify_password_async(stored, "wrong-pass-2026") is False
        assert (await hash_password_async("Another-pass-2027")).startswith("$argon2id$")

    gap, took = asyncio.run(_max_gap_while(work))
    # Five hashes took their time, and the loop kept serving others throughout.
    assert gap < took / 3, (gap, took)


def test_provider_calls_run_off_the_event_loop() -> None:
    """The Stripe SDK blocks on its HTTP request; ``off_loop`` (what orders call it through)
    keeps the loop free meanwhile. A blocking call stands in for the network wait."""

    async def work() -> None:
        assert await off_loop(lambda amount_fen: time.sleep(0.3) or amount_fen, amount_fen=1500) == 1500

    gap, took = asyncio.run(_max_gap_while(work))
    assert took >= 0.3 and gap < 0.1, (gap, took)
