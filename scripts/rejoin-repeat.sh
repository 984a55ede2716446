#!/usr/bin/env bash
# Repeats the multi-process rejoin test (test/cluster/rejoin.test.ts, issue 14) and logs one line
# per run: its seed, PASS/FAIL, and each fault's rejoin (view, heights, health at the heal), then
# a total. The issue's "done when": 20 runs in a row without a stranded validator.
#
#   scripts/rejoin-repeat.sh [RUNS] [LOG]
#     RUNS  default 20
#     LOG   default bench/results/rejoin-<short commit>.log (appended)
#   env: BPCI_REJOIN_ROUNDS (default here 3 rounds of 3 faults per run), BPCI_REJOIN_DEADLINE_MS,
#        BPCI_REJOIN_SEED_BASE (run k uses seed BASE+k; default: random per run).
# A failed run keeps its cluster dir (path in the log) and the loop goes on: the total counts
# every failure. Exit status: 0 only when every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-20}"
COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- packages || echo '+dirty')"
LOG="${2:-bench/results/rejoin-${COMMIT}.log}"
export BPCI_REJOIN_ROUNDS="${BPCI_REJOIN_ROUNDS:-3}"
mkdir -p "$(dirname "$LOG")"
npx tsc -b || { echo "build failed" >&2; exit 2; }
summary="$(mktemp)"
pass=0
fail=0
{
  echo "# rejoin-repeat: $(date -u +%FT%TZ) commit ${COMMIT} runs=${RUNS} rounds=${BPCI_REJOIN_ROUNDS} host=$(hostname) nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$LOG"
for k in $(seq 1 "$RUNS"); do
  : >"$summary"
  if [ -n "${BPCI_REJOIN_SEED_BASE:-}" ]; then export BPCI_REJOIN_SEED=$((BPCI_REJOIN_SEED_BASE + k)); fi
  out="$(mktemp)"
  start=$(date +%s)
  BPCI_REJOIN_SUMMARY="$summary" npx vitest run test/cluster/rejoin.test.ts >"$out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); verdict=PASS; else fail=$((fail + 1)); verdict=FAIL; fi
  {
    echo "run ${k}/${RUNS} ${verdict} ${secs}s $(cat "$summary" 2>/dev/null | tail -1)"
    if [ $rc -ne 0 ]; then
      # what the deadline saw (views, modes, heights, /health/consensus reasons) and where the files are
      grep -E 'timed out after|AssertionError|expected|cluster files kept|FAILED' "$out" | head -12 | sed 's/^/    /'
    fi
  } | tee -a "$LOG"
  rm -f "$out"
  unset BPCI_REJOIN_SEED
done
echo "runs=${RUNS} passed=${pass} failed=${fail} rounds_per_run=${BPCI_REJOIN_ROUNDS} commit=${COMMIT}" | tee -a "$LOG"
rm -f "$summary"
[ "$fail" -eq 0 ]
