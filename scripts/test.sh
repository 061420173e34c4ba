#!/usr/bin/env bash
# Run the suite once per lane: SQLite always; PostgreSQL + Redis when CANTEEN_TEST_DATABASE_URL
# (and optionally CANTEEN_TEST_REDIS_URL) are set. Prints each lane's result and a total line.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORKERS="${CANTEEN_TEST_WORKERS:-2}"
mkdir -p var
declare -A RESULT
status=0
total_passed=0
total_failed=0

count() {  # passed failed from a junit xml file
  "$BIN/python" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1"); raise SystemExit
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad)
PY
}

run_lane() {
  local lane="$1"; shift
  echo "=== lane: $lane ==="
  local par=(-n "$WORKERS"); [ "$WORKERS" = "0" ] && par=()
  env "$@" "$BIN/pytest" "${par[@]}" --junitxml="var/junit-$lane.xml" "${PYTEST_ARGS[@]}"
  local rc=$?
  # pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass.
  read -r p f < <(count "var/junit-$lane.xml")
  total_passed=$((total_passed + p)); total_failed=$((total_failed + f))
  if [ $rc -eq 0 ]; then RESULT[$lane]="passed ($p tests)"; else RESULT[$lane]="FAILED (exit $rc, $f failing)"; status=1; fi
}

PYTEST_ARGS=("$@")
# The import contracts (.importlinter) first: a forbidden arrow between packages fails the run
# whatever the lanes say.
echo "=== layers: lint-imports ==="
if "$BIN/lint-imports" --no-cache; then RESULT[layers]="kept"
else RESULT[layers]="BROKEN (see lint-imports above)"; status=1; total_failed=$((total_failed + 1)); fi
# A full run (no pytest arguments) also runs the serial fault and fuzz lanes of the PostgreSQL lane.
FULL_RUN=$([ $# -eq 0 ] && echo 1 || echo 0)
run_lane sqlite -u CANTEEN_TEST_DATABASE_URL -u CANTEEN_TEST_REDIS_URL -u CANTEEN_FAULT_TESTS
if [ -n "${CANTEEN_TEST_DATABASE_URL:-}" ]; then
  run_lane postgres -u CANTEEN_FAULT_TESTS CANTEEN_TEST_DATABASE_URL="$CANTEEN_TEST_DATABASE_URL" CANTEEN_TEST_REDIS_URL="${CANTEEN_TEST_REDIS_URL:-}"
  # Fault lane: serial, after the PostgreSQL lane. tests/fault and tests/multiprocess start their own
  # PostgreSQL cluster, Redis and `canteen serve` processes and stop/restart them; they are collected
  # only with CANTEEN_FAULT_TESTS=1. Runs on a full run (no pytest args) or CANTEEN_FAULT_LANE=1;
  # CANTEEN_FAULT_LANE=0 skips it.
  if [ "${CANTEEN_FAULT_LANE:-$FULL_RUN}" = "1" ]; then
    WORKERS=0 PYTEST_ARGS=(-p no:xdist -m "fault or multiprocess" tests/fault tests/multiprocess)
    run_lane fault CANTEEN_FAULT_TESTS=1 CANTEEN_TEST_DATABASE_URL="$CANTEEN_TEST_DATABASE_URL" PYTEST_XDIST_WORKER=gw99
  fi
  # Fuzz lane: schemathesis against a running service as every role (scripts/fuzz.py). Same rule:
  # a full run or CANTEEN_FUZZ_LANE=1; CANTEEN_FUZZ_LANE=0 skips it.
  if [ "${CANTEEN_FUZZ_LANE:-$FULL_RUN}" = "1" ]; then
    echo "=== lane: fuzz ==="
    if timeout 900 "$BIN/python" scripts/fuzz.py; then RESULT[fuzz]="passed"
    else RESULT[fuzz]="FAILED"; status=1; total_failed=$((total_failed + 1)); fi
  fi
fi
echo
for lane in "${!RESULT[@]}"; do echo "lane $lane: ${RESULT[$lane]}"; done
echo "total: $total_passed passed, $total_failed failed"
exit $status
