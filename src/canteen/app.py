"""create_app(settings): plugins, routes, lifespan (DB pool, Redis), exception handlers. Wiring only."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from litestar import Litestar, Router
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from canteen import i18n
from canteen import jobs as _jobs  # noqa: F401 - registers every kind of work and the schedule
from canteen.accounting import api as accounting_api
from canteen.api import auth as auth_api
from canteen.api import health
from canteen.api import jobs as jobs_api
from canteen.care import api as care_api
from canteen.care import civil_api  # care:civil
from canteen.checkin import api as checkin_api
from canteen.core import cache, events, queue
from canteen.core.db import close_pool, open_pool
from canteen.core.kv import make_channels_backend, make_kv
from canteen.core.ratelimit import make_limiter
from canteen.delivery import api as delivery_api
from canteen.meals import api as meals_api
from canteen.menus import api as menus_api
from canteen.notify import api as notify_api
from canteen.orders import api as orders_api
from canteen.orders import webhooks as order_webhooks
from canteen.payments import api as payments_api
from canteen.quality import api as quality_api
from canteen.regions import api as regions_api
from canteen.registry import api as registry_api
from canteen.registry import card_api, pause_api
from canteen.reports import api as reports_api
from canteen.settings import Settings, get_settings
from canteen.subsidies import api as subsidies_api
from canteen.web import accounting as accounting_pages
from canteen.web import cards as card_pages
from canteen.web import care as care_pages
from canteen.web import care_civil as care_civil_pages  # care:civil
from canteen.web import cashier as cashier_pages
from canteen.web import city as city_pages
from canteen.web import courier as courier_pages
from canteen.web import dashboard as dashboard_pages
from canteen.web import errors as web_errors
from canteen.web import jobs as job_pages
from canteen.web import kitchen as kitchen_pages
from canteen.web import menus as menu_pages
from canteen.web import notify as notify_pages
from canteen.web import official as official_pages
from canteen.web import pages
from canteen.web import pauses as pause_pages
from canteen.web import policies as policy_pages
from canteen.web import public as public_pages
from canteen.web import receipts as receipt_pages
from canteen.web import registry as registry_pages
from canteen.web import survey as survey_pages
from canteen.web.admin import ADMIN_PAGES
from canteen.web.elder import PAGES as ELDER_PAGES
from canteen.web.middleware import JsonFormatter, auth_middleware, wrap_outermost

PACKAGE_DIR = Path(__file__).parent
REPO_DIR = PACKAGE_DIR.parent.parent
STATIC_DIR = REPO_DIR / "static"
VENDOR_DIR = REPO_DIR / "node_modules"


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger("canteen")
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    root.propagate = False
    # The job queue's own lines (a line per job) in our format, warnings only: canteen.queue logs
    # each run's end with its kind and duration.
    queue_log = logging.getLogger("procrastinate")
    queue_log.handlers[:] = [handler]
    queue_log.setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level.upper())))
    queue_log.propagate = False


def _template_engine() -> JinjaTemplateEngine:
    engine = JinjaTemplateEngine(directory=PACKAGE_DIR / "web" / "templates")

    def translate(ctx: Any, msgid: str, **params: Any) -> str:
        return i18n.gettext(ctx.get("lang") or pages.lang_from_ctx(ctx), msgid, **params)

    engine.register_template_callable("_", translate)
    engine.engine.filters["localtime"] = pass_context(pages.local_time)
    engine.engine.globals["LANGS"] = i18n.LANGS
    return engine


def route_handlers() -> list[Any]:
    """Every router of the app; each domain adds its API controllers and pages here."""
    return [
        health.healthz,
        health.readyz,
        auth_api.AuthController,
        auth_api.UsersController,
        auth_api.TokensController,
        auth_api.ElderPinController,
        *regions_api.CONTROLLERS,
        *accounting_api.CONTROLLERS,
        *accounting_pages.PAGES,
        *card_api.CONTROLLERS,
        *subsidies_api.CONTROLLERS,
        *meals_api.CONTROLLERS,
        *card_pages.PAGES,
        *policy_pages.PAGES,
        *registry_api.CONTROLLERS,
        *pause_api.CONTROLLERS,
        *registry_pages.PAGES,
        *pause_pages.PAGES,
        *pages.PAGES,
        *ADMIN_PAGES,
        *menus_api.CONTROLLERS,
        *payments_api.CONTROLLERS,
        *menu_pages.PAGES,
        *receipt_pages.PAGES,
        *cashier_pages.PAGES,
        *checkin_api.CONTROLLERS,
        *official_pages.PAGES,
        *quality_api.CONTROLLERS,
        *dashboard_pages.PAGES,
        *city_pages.PAGES,
        *reports_api.CONTROLLERS,
        *public_pages.PAGES,
        *delivery_api.CONTROLLERS,
        *care_api.CONTROLLERS,
        *courier_pages.PAGES,
        *care_pages.PAGES,
        *kitchen_pages.PAGES,
        *orders_api.CONTROLLERS,
        *order_webhooks.CONTROLLERS,
        *civil_api.CONTROLLERS,
        *care_civil_pages.PAGES,  # care:civil
        *ELDER_PAGES,
        *notify_api.CONTROLLERS,
        *notify_pages.PAGES,
        *survey_pages.PAGES,
        *jobs_api.CONTROLLERS,
        *job_pages.PAGES,
        # jobs: more pages and controllers of queued work go here
    ]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)
    kv = make_kv(settings.redis_url)
    limiter = make_limiter(settings.redis_url)
    if settings.redis_url:
        # Survives a Redis restart (the stock backend's tasks die on the first connection error).
        channels_backend: Any = make_channels_backend(settings.redis_url)
    else:
        channels_backend = MemoryChannelsBackend(history=20)

    channels_plugin = ChannelsPlugin(backend=channels_backend, arbitrary_channels_allowed=True)
    events.bind(channels_plugin)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await open_pool(settings.db_pool_min, settings.db_pool_max)
        try:
            # The job queue: opened to defer work; on the embedded demo (SQLite) the worker runs
            # here too (CANTEEN_JOBS_WORKER), so a newcomer sees what production does.
            async with queue.opened(settings):
                if settings.jobs_in_process:
                    queue.start_in_process_worker(settings)
                # caches: the cross-process invalidation listener (Redis only) runs while the app does
                try:
                    async with cache.listener(settings.redis_url):
                        yield
                finally:
                    await queue.stop_in_process_worker()
        finally:
            await close_pool()
            await kv.close()
            await limiter.close()

    static_routers: list[Router] = [
        create_static_files_router(
            path="/static", directories=[STATIC_DIR], name="static", include_in_schema=False
        )
    ]
    if VENDOR_DIR.exists():
        static_routers.insert(
            0,
            create_static_files_router(
                path="/static/vendor", directories=[VENDOR_DIR], name="vendor", include_in_schema=False
            ),
        )

    app = Litestar(
        route_handlers=[*static_routers, *route_handlers()],
        lifespan=[lifespan],
        state=State({"settings": settings, "kv": kv, "limiter": limiter}),
        middleware=[auth_middleware],
        exception_handlers=web_errors.EXCEPTION_HANDLERS,
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.cookie_secure,
            cookie_samesite="lax",
            # Regexes matched anywhere in the path: anchored, or "/x/api/…" would skip CSRF too.
            exclude=["^/api/"],
        ),
        template_config=TemplateConfig(engine=_template_engine()),
        plugins=[channels_plugin],
        openapi_config=OpenAPIConfig(
            title="Canteen API",
            version="1.0.0",
            description=(
                "Meal assistance for older people. Errors are `{code, message, detail}`; the code is stable, "
                "the message follows Accept-Language (zh-CN default, en). Money is integer fen."
            ),
            path="/schema",
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
                    css_url="/static/vendor/swagger-ui-dist/swagger-ui.css",
                    standalone_preset_js_url="/static/vendor/swagger-ui-dist/swagger-ui-standalone-preset.js",
                    path="/",
                )
            ],
        ),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
    )
    # Request id, security headers and access log around everything, errors from middleware
    # and before routing included (see wrap_outermost).
    return wrap_outermost(app)
