"""Route plans as jobs on the queue: the API answers 202 and the run ends with the rounds, the
planning page redirects to the run's progress page, and the job is idempotent (planning twice,
or an attempt delivered twice, leaves one set of rounds and no stop twice)."""

from __future__ import annotations

import re
import time
from typing import Any

from canteen.core import queue
from canteen.delivery import jobs as _jobs  # noqa: F401 - registers delivery.plan_rounds
from canteen.delivery.services import PLAN_ROUNDS_JOB
from canteen.delivery.tables import DeliveryRound, RoundStop
from tests.factories import World, add_user
from tests.integration.delivery.data import DAY, add_located_elder, add_menu, add_order, publish_demo_policy
from tests.integration.test_admin_pages import page_login

N = 8


def _seed(w: World, run: Any) -> tuple[list[int], int]:
    async def go() -> tuple[list[int], int]:
        await publish_demo_policy(w.district_x)
        await add_menu(w.kitchen_x, DAY)
        orders = []
        for i in range(N):
            e = await add_located_elder(w.district_x, w.community_x, 500 + i)
            orders.append(await add_order(elder=e, district=w.district_x, site=w.site_b))
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return orders, courier

    return run(go)


async def _rounds(site: int) -> list[tuple[int, str, tuple[int, ...]]]:
    """(courier, status, the round's orders in stop order) per round of the site on DAY."""
    rounds = await DeliveryRound.select(DeliveryRound.id, DeliveryRound.courier, DeliveryRound.status).where(
        (DeliveryRound.site == site) & (DeliveryRound.service_date == DAY)
    )
    out = []
    for r in rounds:
        stops = (
            await RoundStop.select(RoundStop.order)
            .where(RoundStop.delivery_round == r["id"])
            .order_by(RoundStop.sequence)
        )
        out.append((int(r["courier"]), r["status"], tuple(int(s["order"]) for s in stops)))
    return sorted(out)


def test_the_plan_job_twice_gives_the_same_rounds_and_no_stop_twice(world: World, run: Any) -> None:
    w = world
    orders, courier = _seed(w, run)
    args = {
        "site_id": w.site_b,
        "day": DAY.isoformat(),
        "slot": "lunch",
        "couriers": [courier],
        "window_minutes": 600,
        "time_limit_s": 0.5,
    }

    async def plan() -> queue.JobRunView:
        return await queue.run_now(PLAN_ROUNDS_JOB, args, district_id=w.district_x)

    first = run(plan)
    assert first.status == "done", first
    assert first.result["url"] == f"/kitchen/{w.site_b}/rounds?date={DAY.isoformat()}&slot=lunch"
    assert first.result["summary_args"] == {"rounds": 1, "stops": N, "unassigned": 0}
    assert (first.progress_done, first.progress_total, first.stage) == (2, 3, "Saving the rounds")
    before = run(lambda: _rounds(w.site_b))
    assert [(c, s, sorted(o)) for c, s, o in before] == [(courier, "planned", sorted(orders))]

    second = run(plan)
    assert second.status == "done" and second.id != first.id
    after = run(lambda: _rounds(w.site_b))
    assert [(c, s, sorted(o)) for c, s, o in after] == [(c, s, sorted(o)) for c, s, o in before]
    stops = run(lambda: RoundStop.select(RoundStop.order).run())
    assert sorted(int(s["order"]) for s in stops) == sorted(orders)  # each order on one stop
    assert run(lambda: DeliveryRound.count().run()) == 1

    # The same attempt delivered again (a worker's retry racing the first): nothing happens.
    ids = run(lambda: RoundStop.select(RoundStop.id).run())
    again = run(lambda: queue.run(second.id))
    assert again is not None and again.status == "done" and again.attempts == 1
    assert run(lambda: RoundStop.select(RoundStop.id).run()) == ids


def test_route_plan_api_answers_202_and_the_run_ends_with_the_rounds(
    client: Any, world: World, run: Any, login: Any, finish_job: Any
) -> None:
    w = world
    orders, courier = _seed(w, run)
    h = login("official_x")
    body = {"service_date": DAY.isoformat(), "slot": "lunch", "couriers": [courier], "window_minutes": 600}
    r = client.post(f"/api/v1/sites/{w.site_b}/rounds", json=body, headers=h)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    assert r.json()["kind"] == PLAN_ROUNDS_JOB and r.json()["page_url"] == f"/jobs/{r.json()['id']}"
    done = finish_job(r, h)
    assert done["status"] == "done", done
    [planned] = done["result"]["rounds"]
    assert planned["stops"] == N and planned["courier_id"] == courier
    listed = client.get("/api/v1/rounds", params={"date": DAY.isoformat(), "site_id": w.site_b}, headers=h)
    assert [x["id"] for x in listed.json()["items"]] == [planned["id"]]
    manifest = client.get(f"/api/v1/rounds/{planned['id']}", headers=h).json()
    assert sorted(s["order_id"] for s in manifest["stops"]) == sorted(orders)

    # Refusals come at once, before anything is queued: another district's official, a courier
    # of another site.
    other = client.post(f"/api/v1/sites/{w.site_b}/rounds", json=body, headers=login("official_y"))
    assert other.status_code == 404, other.text
    bad = client.post(
        f"/api/v1/sites/{w.site_b}/rounds", json={**body, "couriers": [w.users["courier_a"]]}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["code"] == "courier_not_allowed"
    assert len(run(lambda: queue.latest(PLAN_ROUNDS_JOB, site_id=w.site_b, limit=10))) == 1

    op = client.get("/schema/openapi.json").json()["paths"]["/api/v1/sites/{site_id}/rounds"]["post"]
    assert "202" in op["responses"] and "courier_not_allowed" in str(op["responses"])


def test_the_rounds_page_queues_the_plan_and_redirects_to_its_progress(
    client: Any, world: World, run: Any
) -> None:
    w = world
    _orders, courier = _seed(w, run)
    page_login(client, "kitchen_k")
    # The central kitchen plans the rounds of the point it cooks for.
    path = f"/kitchen/{w.kitchen_x}/rounds"
    shown = client.get(path, params={"date": DAY.isoformat(), "slot": "lunch"})
    assert shown.status_code == 200, shown.text
    assert f'name="couriers" value="{courier}" checked' in shown.text
    form = {
        "date": DAY.isoformat(),
        "slot": "lunch",
        "capacity": "40",
        "window_minutes": "600",
        "_csrf_token": client.cookies.get("csrftoken"),
    }
    # No courier ticked: the form again, the reason next to it, nothing queued.
    empty = client.post(path, data=form, follow_redirects=False)
    assert empty.status_code == 422 and "请至少选择一位送餐员" in empty.text
    r = client.post(path, data={**form, "couriers": [str(courier)]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/jobs/([0-9a-f]{16})", r.headers["location"])
    assert match is not None
    deadline = time.monotonic() + 60
    status = client.get(f"/jobs/{match.group(1)}/status")
    while 'id="job-result"' not in status.text and time.monotonic() < deadline:
        time.sleep(0.1)
        status = client.get(f"/jobs/{match.group(1)}/status")
    assert f'href="/kitchen/{w.kitchen_x}/rounds?date={DAY.isoformat()}&amp;slot=lunch"' in status.text
    assert "共 1 条线路" in status.text
    after = client.get(path, params={"date": DAY.isoformat(), "slot": "lunch"})
    assert after.text.count('class="round-row"') == 1
