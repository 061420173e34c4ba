"""While Redis is away the live stream says so ("paused") instead of failing or going quiet,
and the counter page has the words to show for it. The Redis is really unreachable: the
channels backend points at a port where nothing listens."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from litestar.channels import ChannelsPlugin

from canteen.core import events
from canteen.core.kv import make_channels_backend


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_live_stream_says_paused_while_redis_is_unreachable() -> None:
    # The stream's generator on the plugin's own tasks (an endless event stream cannot be read
    # to its end through the in-process test client); the fault suite reads it over HTTP.
    async def go() -> list[Any]:
        plugin = ChannelsPlugin(
            backend=make_channels_backend(f"redis://127.0.0.1:{_closed_port()}/0"),
            arbitrary_channels_allowed=True,
        )
        await plugin._on_startup()
        try:
            stream = events.stream(plugin, [events.site_channel(1)], heartbeat=0.2)
            try:
                return [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
            finally:
                await stream.aclose()
        finally:
            await plugin._on_shutdown()

    first, heartbeat = asyncio.run(go())
    assert (first.event, first.data) == ("status", "paused")
    assert (heartbeat.event, heartbeat.data) == ("status", "paused")


def test_the_counter_page_has_the_paused_notice(client: Any, world: Any, run: Any) -> None:
    from tests.integration.accounts.test_auth import _page_login
    from tests.integration.checkin.test_counter import _counter

    c = run(lambda: _counter(world, n_elders=1))
    _page_login(client, "cashier_all")
    page = client.get(f"/counter/{c.sites[0]}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text[:500]
    assert 'id="live-paused"' in page.text and "Live updates paused" in page.text
