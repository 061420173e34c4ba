#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests. As root (CI, a fresh dev box) it installs
# the `chromium` package; otherwise it says what to run. The tests read CANTEEN_CHROMIUM (default
# /usr/bin/chromium) and skip only when no browser can be had — CI always has one.
set -euo pipefail
BROWSER="${CANTEEN_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$BROWSER" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
  echo "chromium: $("$BROWSER" --version 2>/dev/null || echo installed)"
else
  echo "note: $BROWSER is missing; browser tests will be skipped. Install it with: sudo apt-get install -y chromium" >&2
fi
