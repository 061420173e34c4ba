#!/usr/bin/env bash
# Restore drill: dump a Canteen database, restore it into a NEW database, and prove the copy
# is whole — the same row count in every table, the same net balance on every ledger account,
# every elder's cached balance equal to its ledger sum, and debits equal to credits.
#
#   scripts/restore_drill.sh [SOURCE_DATABASE_URL]
#
# SOURCE_DATABASE_URL   the database to dump (postgresql://user@host:port/name). Without it the
#                       drill makes its own: a fresh database on CANTEEN_DRILL_SERVER (default
#                       postgresql://postgres@127.0.0.1:5432) filled by `canteen demo --no-serve`.
# CANTEEN_DRILL_KEEP=1  keep the restored copy (and the dump file) for inspection.
#
# Needs pg_dump/pg_restore/psql of the server's major version. Exit 0 only when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
STAMP="$(date +%Y%m%d%H%M%S)_$$"
SERVER="${CANTEEN_DRILL_SERVER:-postgresql://postgres@127.0.0.1:5432}"
MADE_SOURCE=""

if [ $# -ge 1 ]; then
  SOURCE="$1"
else
  SOURCE="$SERVER/canteen_drill_src_$STAMP"
  MADE_SOURCE=1
fi
SERVER_OF_SOURCE="${SOURCE%/*}"
SOURCE_DB="${SOURCE##*/}"
TARGET_DB="canteen_restored_${STAMP}"
TARGET="$SERVER_OF_SOURCE/$TARGET_DB"
DUMP="$(mktemp -t canteen-drill-XXXXXX.dump)"

psql_at() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

cleanup() {
  if [ "${CANTEEN_DRILL_KEEP:-}" != "1" ]; then
    psql_at "$SERVER_OF_SOURCE/postgres" "DROP DATABASE IF EXISTS \"$TARGET_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -f "$DUMP"
  else
    echo "kept: restored copy $TARGET and dump $DUMP"
  fi
  if [ -n "$MADE_SOURCE" ]; then
    psql_at "$SERVER_OF_SOURCE/postgres" "DROP DATABASE IF EXISTS \"$SOURCE_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -n "$MADE_SOURCE" ]; then
  echo "== source: new database $SOURCE_DB, loading the demo district"
  psql_at "$SERVER/postgres" "CREATE DATABASE \"$SOURCE_DB\"" >/dev/null
  CANTEEN_DATABASE_URL="$SOURCE" CANTEEN_LOG_LEVEL=WARNING "$BIN/canteen" demo --no-serve >/dev/null
fi

echo "== dump: pg_dump -Fc $SOURCE_DB"
pg_dump -Fc --no-owner -d "$SOURCE" -f "$DUMP"
echo "   $(du -h "$DUMP" | cut -f1) written to $DUMP"

echo "== restore: pg_restore into new database $TARGET_DB"
psql_at "$SERVER_OF_SOURCE/postgres" "CREATE DATABASE \"$TARGET_DB\"" >/dev/null
pg_restore --no-owner --exit-on-error -d "$TARGET" "$DUMP"

failures=0
fail() { echo "   MISMATCH: $*"; failures=$((failures + 1)); }

echo "== check 1: row count of every table"
TABLES_SQL="SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
mapfile -t src_tables < <(psql_at "$SOURCE" "$TABLES_SQL")
mapfile -t dst_tables < <(psql_at "$TARGET" "$TABLES_SQL")
if [ "${src_tables[*]}" != "${dst_tables[*]}" ]; then
  fail "table lists differ: source ${#src_tables[@]}, restored ${#dst_tables[@]}"
fi
rows=0
for t in "${src_tables[@]}"; do
  a="$(psql_at "$SOURCE" "SELECT count(*) FROM \"$t\"")"
  b="$(psql_at "$TARGET" "SELECT count(*) FROM \"$t\"" 2>/dev/null || echo missing)"
  [ "$a" = "$b" ] || fail "$t: source $a rows, restored $b"
  rows=$((rows + a))
done
echo "   ${#src_tables[@]} tables, $rows rows compared"

echo "== check 2: net balance of every ledger account"
NET_SQL="SELECT account, sum(fen) FROM (
  SELECT debit AS account, amount_fen AS fen FROM ledger_entry
  UNION ALL SELECT credit, -amount_fen FROM ledger_entry) m GROUP BY account ORDER BY account"
src_net="$(psql_at "$SOURCE" "$NET_SQL" | md5sum | cut -d' ' -f1)"
dst_net="$(psql_at "$TARGET" "$NET_SQL" | md5sum | cut -d' ' -f1)"
accounts="$(psql_at "$TARGET" "SELECT count(*) FROM ($NET_SQL) x")"
[ "$src_net" = "$dst_net" ] || fail "ledger account sums differ (md5 $src_net vs $dst_net)"
echo "   $accounts accounts, sums identical: $([ "$src_net" = "$dst_net" ] && echo yes || echo no)"

echo "== check 3: in the restored copy, every elder balance = its ledger sum; debits = credits"
ledger_out="$(CANTEEN_DATABASE_URL="$TARGET" CANTEEN_LOG_LEVEL=WARNING "$BIN/python" - <<'PY'
import asyncio

from canteen.core.db import close_pool, open_pool
from canteen.payments.ledger import ledger_balanced, verify_balances
from canteen.payments.tables import ElderBalance, LedgerEntry


async def main() -> None:
    await open_pool(1, 2)
    try:
        mismatches = await verify_balances()
        balanced = await ledger_balanced()
        elders = await ElderBalance.count()
        rows = await LedgerEntry.raw(
            "SELECT COALESCE(SUM(amount_fen), 0) AS moved FROM ledger_entry"
        )
    finally:
        await close_pool()
    print(f"elders={elders} mismatches={len(mismatches)} balanced={balanced} moved_fen={rows[0]['moved']}")
    for m in mismatches[:10]:
        print(f"mismatch {m}")


asyncio.run(main())
PY
)"
echo "   $ledger_out" | head -1
case "$ledger_out" in
  *"mismatches=0 balanced=True"*) ;;
  *) fail "restored ledger: $ledger_out" ;;
esac

echo
if [ "$failures" -eq 0 ]; then
  echo "restore drill PASSED: $SOURCE_DB -> $TARGET_DB, ${#src_tables[@]} tables, $rows rows, $accounts ledger accounts"
else
  echo "restore drill FAILED: $failures mismatch(es)"
  exit 1
fi
