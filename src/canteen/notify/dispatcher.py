"""The in-process notification loop for the demo (``make run``): with
``CANTEEN_NOTIFY_DISPATCH_IN_APP=true`` the app's lifespan runs ``run_notifications`` every
``CANTEEN_NOTIFY_INTERVAL_SECONDS``. In production use ``canteen jobs`` (cron or ``--loop``):
it runs the same round. Both may run at once: claims are atomic, so nothing is sent twice."""

from __future__ import annotations

import asyncio
import logging

from canteen.notify.services import run_notifications
from canteen.settings import Settings

log = logging.getLogger("canteen.notify")


async def _loop(interval: int) -> None:
    while True:
        try:
            await run_notifications()
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive; the next round retries
            log.exception("notification round failed", extra={"code": "notify_round_failed"})
        await asyncio.sleep(interval)


def background_dispatcher(settings: Settings) -> asyncio.Task[None] | None:
    """Start the loop when the setting asks for it; the caller cancels the task at shutdown."""
    if not settings.notify_dispatch_in_app:
        return None
    return asyncio.get_running_loop().create_task(_loop(settings.notify_interval_seconds), name="notify")
