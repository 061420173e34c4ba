"""Canteen: meal assistance (助餐) for older people."""

import os

# Piccolo finds its engine through this module path; setting it here lets the
# `canteen` command and the tests work from any directory.
os.environ.setdefault("PICCOLO_CONF", "canteen.piccolo_conf")

__version__ = "0.1.0"
