"""Root Piccolo config for the `piccolo` CLI; the real one lives in the package.

The engine is chosen from CANTEEN_DATABASE_URL (default sqlite:///var/canteen.sqlite3,
or postgresql://…) by canteen.settings. Canteen's own processes set
PICCOLO_CONF=canteen.piccolo_conf, so they work from any directory.
"""

from canteen.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
