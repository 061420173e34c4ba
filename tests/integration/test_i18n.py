"""Refusals speak the caller's language over real HTTP: validation failures name the field
in words (zh-CN by default, en on request), domain errors come from the catalogs."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from canteen.accounts.context import LANG_COOKIE
from canteen.web.errors import validation_message

GOOD_SITE = {"name": "新食堂", "kind": "meal_point", "point_type": "canteen"}


def _post_site(client: Any, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/sites", headers={**headers, "content-type": "application/json"}, content=json.dumps(body)
    )


def test_validation_failure_names_the_field_in_chinese_by_default(
    client: Any, world: Any, login: Any
) -> None:
    h = login("admin")
    r = _post_site(client, h, {"district_id": world.district_x, **GOOD_SITE, "seats": "many"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert body["message"] == "「座位数」填写有误：应为整数"
    assert body["detail"]["field"] == "seats"
    # The library's own (English) words stay in the detail, never in the message.
    assert "Expected" in body["detail"]["errors"][0]["message"]
    assert "Expected" not in body["message"]


def test_validation_failure_in_english(client: Any, world: Any, login: Any) -> None:
    h = {**login("admin"), "accept-language": "en-GB,en;q=0.9,zh;q=0.5"}
    r = _post_site(client, h, {"district_id": world.district_x, **GOOD_SITE, "seats": -1})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert body["message"] == "Field 'seats' is invalid: must be at least 0"
    assert body["detail"]["field"] == "seats"


def test_nested_and_unknown_fields_are_named(client: Any, world: Any, login: Any) -> None:
    h = login("admin")
    slots = [{"slot": "lunch", "start": "25:00", "end": "13:00", "cutoff": "09:00"}]
    site = {"district_id": world.district_x, **GOOD_SITE, "slots": slots}
    zh = _post_site(client, {**h, "accept-language": "zh-CN"}, site).json()
    en = _post_site(client, {**h, "accept-language": "en"}, site).json()
    assert zh["message"] == "「供餐时段第1项·开始时间」填写有误：格式不正确"
    assert en["message"] == "Field 'meal slots #1 › start time' is invalid: wrong format"
    assert zh["detail"]["field"] == en["detail"]["field"] == "slots[0].start"

    unknown = {"district_id": world.district_x, **GOOD_SITE, "owner": "me"}
    r = _post_site(client, {**h, "accept-language": "en"}, unknown)
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert r.json()["message"] == "Field 'owner' is invalid: not accepted here"


def test_query_parameter_and_language_cookie(client: Any, world: Any, login: Any) -> None:
    h = {**login("admin"), "accept-language": "zh-CN"}
    client.cookies.set(LANG_COOKIE, "en")  # an explicit choice beats the browser's header
    try:
        r = client.get("/api/v1/sites?limit=0", headers=h)
    finally:
        client.cookies.delete(LANG_COOKIE)
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert r.json()["message"] == "Field 'limit' is invalid: must be at least 1"
    r = client.get("/api/v1/sites?limit=0", headers=h)
    assert r.json()["message"] == "「每页条数」填写有误：不能小于 1"


def test_whole_body_problems_say_so(client: Any, world: Any, login: Any) -> None:
    h = {**login("admin"), "content-type": "application/json"}
    r = client.post("/api/v1/operators", headers={**h, "accept-language": "en"}, content="[1, 2]")
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert r.json()["message"] == "The request body is invalid: must be an object"
    r = client.post("/api/v1/operators", headers=h, content="[1, 2]")
    assert r.json()["message"] == "请求内容有误：应为一组字段"


def test_domain_errors_come_from_the_catalogs(client: Any, world: Any, login: Any) -> None:
    h = login("admin")
    zh = client.patch("/api/v1/sites/999999", headers=h, json={"seats": 1})
    en = client.patch("/api/v1/sites/999999", headers={**h, "accept-language": "en"}, json={"seats": 1})
    assert zh.status_code == en.status_code == 404
    assert zh.json()["message"] == "找不到该记录。"
    assert en.json()["message"] == "Not found."


_ERRORS = st.lists(
    st.fixed_dictionaries(
        {"message": st.one_of(st.text(), st.sampled_from(["Expected `int` >= 1", "Expected `nope`"]))},
        optional={
            "key": st.one_of(st.text(), st.sampled_from(["seats", "slots[0].start", "a.b[9]", "data"]))
        },
    ),
    max_size=3,
)


@given(_ERRORS, st.sampled_from(["zh-CN", "en"]))
def test_validation_message_always_gives_words(errors: list[dict[str, str]], lang: str) -> None:
    message, field = validation_message(errors, lang)
    if not errors:
        assert message is None and field is None
        return
    assert message and not message.startswith(("validation.", "field."))
    if not any("{" in str(v) for e in errors for v in e.values()):
        assert "{" not in message  # every placeholder was filled
