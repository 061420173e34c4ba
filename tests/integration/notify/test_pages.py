"""The officials' notification pages: the settings form with errors next to the field, in
words; saved settings audited; the elder profile's notifications section."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.core.tables import AuditEntry
from canteen.notify.services import fan_out
from canteen.notify.tables import DistrictNotifySettings
from tests.factories import World
from tests.integration.notify.test_notify import DAYTIME, _elder_with_people, _emit
from tests.integration.test_admin_pages import page_login, post_form


def _form(**extra: str) -> dict[str, str]:
    return {
        "missed_meal_days": "3",
        "low_balance_yuan": "25.50",
        "quiet_start": "21:30",
        "quiet_end": "07:00",
        "webhook_url": "",
        "webhook_secret": "",
        **extra,
    }


def test_settings_form_shows_errors_in_words_then_saves_and_audits(
    client: Any, world: World, run: Any
) -> None:
    w = world
    page_login(client, "official_x")
    path = f"/official/districts/{w.district_x}/notify-settings"
    first = client.get(path)
    assert first.status_code == 200 and "免打扰开始" in first.text
    bad = post_form(client, path, _form(missed_meal_days="0", quiet_end="7点", low_balance_yuan="abc"))
    assert bad.status_code == 422
    assert "请输入 1 到 30 之间的整数天数。" in bad.text and "请按“时:分”输入时间" in bad.text
    assert 'aria-invalid="true"' in bad.text and "请输入金额（元）" in bad.text
    no_secret = post_form(client, path, _form(webhook_url="https://hook.example.cn/canteen"))
    assert no_secret.status_code == 422 and "签名密钥" in no_secret.text
    ok = post_form(
        client,
        path,
        _form(webhook_url="https://hook.example.cn/canteen", webhook_secret="s3cret-0123456789abc"),
    )
    assert ok.status_code in (302, 303), ok.text
    row = run(
        lambda: DistrictNotifySettings.select().where(DistrictNotifySettings.district == w.district_x).first()
    )
    assert (row["missed_meal_days"], row["low_balance_fen"], row["quiet_start"]) == (3, 2550, "21:30")
    assert row["webhook_secret"] == "s3cret-0123456789abc"
    audit = run(lambda: AuditEntry.select().where(AuditEntry.action == "notify.settings").first())
    assert audit is not None and "s3cret" not in str(audit)
    saved = client.get(path + "?saved=1")
    assert "设置已保存。" in saved.text and "s3cret" not in saved.text and "已设置密钥" in saved.text
    # Another district's settings are not reachable by guessing its id.
    assert client.get(f"/official/districts/{w.district_y}/notify-settings").status_code == 404
    assert (
        post_form(client, f"/official/districts/{w.district_y}/notify-settings", _form()).status_code == 404
    )


def test_the_elder_profile_lists_the_elders_notifications_in_words(
    client: Any, world: World, run: Any
) -> None:
    w = world
    e = run(lambda: _elder_with_people(w))
    run(lambda: _emit("welfare_attention", w, e, "welfare:77"))
    run(lambda: fan_out(now=DAYTIME + dt.timedelta(minutes=1)))
    page_login(client, "official_x")
    r = client.get(f"/elders/{e}")
    assert r.status_code == 200, r.text
    assert "notifications-h" in r.text and "需要关注" in r.text and "等待发送" in r.text
    assert "welfare_attention" not in r.text
