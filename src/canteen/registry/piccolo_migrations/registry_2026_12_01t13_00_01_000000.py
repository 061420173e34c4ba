"""Backfill elder.national_id_masked from the encrypted ID (hand-written; needs the PII key)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T13:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "backfill elder.national_id_masked"

_CHUNK = 1000


async def _backfill() -> None:
    # Local imports: a migration module is imported to list migrations; the key is needed only to run.
    from canteen.registry.services import masked_id
    from canteen.registry.tables import Elder

    last = 0
    while True:
        rows = await (
            Elder.select(Elder.id, Elder.national_id_enc)
            .where((Elder.id > last) & (Elder.national_id_masked == ""))
            .order_by(Elder.id)
            .limit(_CHUNK)
        )
        if not rows:
            return
        for r in rows:
            await Elder.update({Elder.national_id_masked: masked_id(r["national_id_enc"])}).where(
                Elder.id == r["id"]
            )
        last = int(rows[-1]["id"])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="registry", description=DESCRIPTION)
    manager.add_raw(_backfill)
    return manager
