"""The `canteen` command: serve, migrate, demo, user, token.

Each command imports what it runs inside its function, on purpose: `canteen --help`, `migrate`
and `jobs` start without loading every domain, uvicorn or the demo data (the whole app takes
about two seconds to import, which a cron-driven `canteen jobs` would pay on every run).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from canteen.settings import Settings, SettingsError, get_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from exc


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run one async job with the database pool open around it."""
    # Imported when the command runs (see the module docstring).
    from canteen.core.db import close_pool, open_pool

    s = _settings()

    async def go() -> T:
        await open_pool(1, 2)
        try:
            return await fn()
        finally:
            await close_pool()

    del s
    return asyncio.run(go())


def cmd_migrate(_: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    from canteen.core.migrate import migrate

    _run(lambda: migrate(quiet=True))
    print("migrations: up to date")


def cmd_serve(args: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    import uvicorn

    s = _settings()
    host = args.host or s.host
    port = args.port or s.port
    workers = args.workers or s.workers
    if workers > 1 and not s.is_postgres:
        print("note: SQLite with several workers works, but sessions need CANTEEN_REDIS_URL to be shared.")
    uvicorn.run(
        "canteen.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # The client address comes from canteen.accounts.context.client_ip, which believes
        # X-Forwarded-For only from CANTEEN_TRUSTED_PROXIES; uvicorn's own rewriting would
        # trust it from anyone on loopback by default.
        proxy_headers=False,
    )


def cmd_demo(args: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    from canteen.core.migrate import migrate
    from canteen.demo.district import DEMO_LOGINS, DEMO_PASSWORD, load_demo

    s = _settings()

    async def go() -> Any:
        await migrate(quiet=True)
        return await load_demo()

    demo = _run(go)
    host = args.host or s.host
    port = args.port or s.port
    print()
    print(
        "Canteen demo district: 杭州市拱墅区 — "
        f"{len(demo.site_ids)} sites, {len(demo.community_ids)} communities"
        + (" (loaded now)" if demo.created else " (already loaded)")
        + "; a second district of the city, 西湖区, for the city view (sign in as city)"
    )
    print(f"Open http://{host}:{port}/ and sign in with any of these (password: {DEMO_PASSWORD}):")
    for username, role in DEMO_LOGINS:
        print(f"  {username:<14} {role}")
    print(
        f"Elders order delivery at http://{host}:{port}/elder/ with a demo elder's card number "
        "(shown in full on the elder's member-card page, 长者档案 → 会员卡, when signed in as admin) "
        "and PIN 1357; a family member signs in with 13957100001 / jiashu2580demo."
    )
    print(f"API docs: http://{host}:{port}/schema   Database: {s.database_url}")
    print()
    sys.stdout.flush()
    if not args.no_serve:
        # On SQLite the web process runs the job queue's worker and schedule itself (notifications,
        # standing orders, alerts, route plans …): a newcomer needs no second command.
        cmd_serve(args)


def cmd_user(args: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    from canteen.accounts import services as accounts
    from canteen.accounts.roles import Grant
    from canteen.core.audit import SystemActor
    from canteen.regions.tables import District

    actor = SystemActor("cli")
    password = args.password or getpass.getpass("Password: ")

    async def create() -> int:
        district_id = None
        if args.district:
            row = await District.select(District.id).where(District.code == args.district).first()
            if row is None:
                raise SystemExit(f"no district with code {args.district}")
            district_id = row["id"]
        grants = (
            [Grant(args.role, district_id, None)] if args.role != "admin" or district_id else [Grant("admin")]
        )
        if args.site:
            grants = [Grant(args.role, None, sid) for sid in args.site]
        if args.community:
            grants = [Grant(args.role, community_id=cid) for cid in args.community]
        return await accounts.create_user(
            actor,
            username=args.username,
            password=password,
            display_name=args.name or args.username,
            grants=grants,
        )

    async def reset() -> None:
        uid = await accounts.user_id_by_name(args.username)
        await accounts.set_password(actor, uid, password)

    if args.action == "create":
        print(f"user {args.username} created with id {_run(create)}")
    else:
        _run(reset)
        print(f"password of {args.username} reset; their sessions have ended")


def cmd_token(args: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    from canteen.accounts import services as accounts
    from canteen.core.audit import SystemActor

    async def create() -> str:
        uid = await accounts.user_id_by_name(args.username)
        token, _ = await accounts.create_api_token(SystemActor("cli"), user_id=uid, name=args.name)
        return token

    print(_run(create))


def cmd_jobs(args: argparse.Namespace) -> None:
    # Imported when the command runs (see the module docstring).
    import time

    import msgspec

    from canteen.jobs import run_due_jobs

    while True:
        report = _run(run_due_jobs)
        print(msgspec.json.encode(report).decode(), flush=True)
        if not args.loop:
            return
        time.sleep(args.loop)


def cmd_worker(args: argparse.Namespace) -> None:
    """Run the job queue's worker (and its schedule) until SIGINT/SIGTERM."""
    # Imported when the command runs (see the module docstring).
    import logging

    from canteen import jobs  # registers every kind of work and the schedule
    from canteen.app import configure_logging
    from canteen.core import cache, queue
    from canteen.core.db import close_pool, open_pool

    s = _settings()
    configure_logging(s)
    if not s.is_postgres:
        print(
            "note: on SQLite the queue lives inside the web process (the demo runs its worker "
            "there); `canteen worker` needs CANTEEN_DATABASE_URL=postgresql://…",
            file=sys.stderr,
        )
        raise SystemExit(2)
    del jobs

    async def go() -> None:
        await open_pool(1, max(2, s.jobs_concurrency + 1))
        try:
            # The worker reads menus, policies and sites through the same caches as the web: it
            # hears (and publishes) their evictions too.
            async with queue.opened(s), cache.listener(s.redis_url):
                logging.getLogger("canteen.queue").info("worker started", extra={"kinds": queue.kinds()})
                await queue.run_worker(s)
        finally:
            await close_pool()

    asyncio.run(go())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="canteen", description="Canteen: meal assistance for older people")
    sub = p.add_subparsers(dest="command", required=True)

    def serve_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", help="default CANTEEN_HOST or 127.0.0.1")
        sp.add_argument("--port", type=int, help="default CANTEEN_PORT or 8000")
        sp.add_argument("--workers", type=int, help="default CANTEEN_WORKERS or 1")

    sp = sub.add_parser("serve", help="serve the app with uvicorn")
    serve_args(sp)
    sp.set_defaults(fn=cmd_serve)
    sp = sub.add_parser("migrate", help="apply database migrations")
    sp.set_defaults(fn=cmd_migrate)
    sp = sub.add_parser("demo", help="migrate, load the demo district, print the logins and serve")
    serve_args(sp)
    sp.add_argument("--no-serve", action="store_true", help="load and exit")
    sp.set_defaults(fn=cmd_demo)
    sp = sub.add_parser("user", help="create a staff user or reset a password")
    sp.add_argument("action", choices=["create", "reset-password"])
    sp.add_argument("username")
    sp.add_argument(
        "--role",
        default="admin",
        choices=[
            "admin",
            "official",
            "operator",
            "cashier",
            "kitchen",
            "courier",
            "community_worker",
            "volunteer",
        ],
    )
    sp.add_argument("--district", help="district code, for an official")
    sp.add_argument("--site", type=int, action="append", help="site id, for site roles (repeatable)")
    sp.add_argument(
        "--community",
        type=int,
        action="append",
        help="community id, for a community worker or volunteer (repeatable)",
    )
    sp.add_argument("--name", help="display name")
    sp.add_argument("--password", help="omit to be prompted")
    sp.set_defaults(fn=cmd_user)
    sp = sub.add_parser(
        "jobs", help="run what is due: standing orders, cut-offs, missed-meal alerts, rollups"
    )
    sp.add_argument("--loop", type=int, default=0, help="repeat every N seconds (0: once, for cron)")
    sp.set_defaults(fn=cmd_jobs)
    sp = sub.add_parser("worker", help="run the job queue's worker and schedule (PostgreSQL)")
    sp.set_defaults(fn=cmd_worker)
    sp = sub.add_parser("token", help="device API tokens")
    sp.add_argument("action", choices=["create"])
    sp.add_argument("username", help="the user the device acts as")
    sp.add_argument("--name", required=True, help="e.g. 'counter scanner 1, 卖鱼桥'")
    sp.set_defaults(fn=cmd_token)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
