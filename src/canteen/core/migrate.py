"""Run Piccolo migrations from our own code (the CLI, the demo, tests) and tell whether any are pending."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder

from canteen.core.db import configure_sqlite


class MigrationError(RuntimeError):
    pass


async def migrate(*, quiet: bool = True) -> None:
    """Apply every pending migration of every app, in dependency order."""
    await configure_sqlite()
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name="all", migration_id="all", fake=False)
    if not result.success:
        raise MigrationError(f"migrations failed: {result.message}\n{out.getvalue()[-2000:]}")
    # The job queue's own tables (procrastinate, PostgreSQL only; pinned version, see docs/deploy.md).
    from canteen.core.queue import apply_schema  # the queue imports the tables this module migrates

    await apply_schema()


def known_migrations() -> set[tuple[str, str]]:
    """(app, migration id) for every migration file shipped with this code."""
    manager = BaseMigrationManager()
    found: set[tuple[str, str]] = set()
    for config in Finder().get_app_configs():
        modules = manager.get_migration_modules(config.resolved_migrations_folder_path)
        found.update((config.app_name, mid) for mid in manager.get_migration_ids(modules))
    return found


_KNOWN: set[tuple[str, str]] | None = None


async def pending_migrations() -> list[str]:
    """Migrations shipped with the code but not applied to the database."""
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = known_migrations()
    if not await Migration.table_exists():
        return sorted(f"{a}:{m}" for a, m in _KNOWN)
    rows = await Migration.select(Migration.app_name, Migration.name)
    applied = {(r["app_name"], r["name"]) for r in rows}
    return sorted(f"{a}:{m}" for a, m in _KNOWN - applied)
