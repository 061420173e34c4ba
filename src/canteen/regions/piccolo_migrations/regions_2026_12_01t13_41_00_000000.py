"""Every district gets its city: one city row per city name already on the districts (hand-written).

The city's code is the GB/T 2260 code of its districts with the last two digits 00 (330105 → 330100).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T13:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "backfill city rows and district.city_id from district.city"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="regions", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "INSERT INTO city (name, code) SELECT city, MIN(SUBSTR(code, 1, 4)) || '00' FROM district "
            "WHERE city <> '' AND city_id IS NULL "
            "AND city NOT IN (SELECT name FROM city) GROUP BY city",
            "UPDATE district SET city_id = (SELECT c.id FROM city c WHERE c.name = district.city) "
            "WHERE city_id IS NULL AND city <> ''",
        )
    )
    return manager
