#!/usr/bin/env bash
# Rehearses docs/deploy.md on one Linux machine: four validators on 127.0.0.1..127.0.0.4 (all of
# 127/8 is loopback), HTTPS + token on the API, a submit, a rolling restart of every validator
# (one at a time, waiting for consensus health between them), and a stop / backup / restore /
# start of one validator. Stops every process it started (by pid) and leaves its folder for a look.
#
#   bash docs/deploy-rehearsal.sh [dir]     (default /tmp/bpci-rehearsal; run from the repository root after npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/bpci-rehearsal}
PORT=${BPCI_REHEARSAL_PORT:-28080}
BPCI=(node packages/node/dist/cli/bpci.js)
log() { printf '\033[1m[rehearsal]\033[0m %s\n' "$*"; }

rm -rf "$DIR" && mkdir -p "$DIR/logs" "$DIR/backup"
declare -A PIDS=()
cleanup() {
  for id in "${!PIDS[@]}"; do kill "${PIDS[$id]}" 2>/dev/null || true; done
  for id in "${!PIDS[@]}"; do wait "${PIDS[$id]}" 2>/dev/null || true; done
}
trap cleanup EXIT

log "config init"
"${BPCI[@]}" config init --validators 4 --hosts 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4 \
  --api-port "$PORT" --peer-port $((PORT + 1)) --client-port $((PORT + 2)) \
  --data-root "$DIR/data" --out "$DIR/etc" > "$DIR/init.yaml"
export BPCI_TOKEN; BPCI_TOKEN=$(cat "$DIR/etc/client/api-token")
CA="$DIR/etc/ca/ca.pem"
api() { echo "https://127.0.0.$1:$PORT"; }

start() { # start <i>
  "${BPCI[@]}" node start --config "$DIR/etc/validator-00$1/config.yaml" >> "$DIR/logs/validator-00$1.log" 2>&1 &
  PIDS[$1]=$!
}
stop() { # stop <i>: SIGTERM, wait for a clean exit
  kill -TERM "${PIDS[$1]}"; wait "${PIDS[$1]}" || true; unset "PIDS[$1]"
}
wait_consensus() { # wait_consensus <i>: until /health/consensus is ok (at most 60 s)
  for _ in $(seq 1 120); do
    if "${BPCI[@]}" --api "$(api "$1")" --ca-file "$CA" --timeout-ms 2000 health --consensus > /dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "validator-00$1 not healthy after 60 s"; tail -5 "$DIR/logs/validator-00$1.log"; return 1
}
height() { "${BPCI[@]}" --api "$(api "$1")" --ca-file "$CA" --json consensus ibft state | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(`seq ${j.last_committed_sequence} view ${j.view} mode ${j.mode}`)})'; }

log "start 4 validators"
for i in 1 2 3 4; do start "$i"; done
for i in 1 2 3 4; do wait_consensus "$i"; done
log "all four healthy; the token is required:"
if "${BPCI[@]}" --api "$(api 1)" --ca-file "$CA" --token "wrong-token-wrong-token-wrong-token" consensus metrics > /dev/null 2>&1; then log "ERROR: a wrong token was accepted"; exit 1; fi
log "  wrong token refused (401)"
"${BPCI[@]}" --api "$(api 2)" --ca-file "$CA" --json submit hello --wait | tee "$DIR/submit-1.json" | grep -q '"committed"'
log "submit committed"

log "rolling restart, one at a time"
for i in 1 2 3 4; do
  stop "$i"; start "$i"; wait_consensus "$i"
  "${BPCI[@]}" --api "$(api $(( i % 4 + 1 )))" --ca-file "$CA" --json submit "after-restart-$i" --wait | grep -q '"committed"'
  log "  validator-00$i restarted, healthy, cluster commits"
done

log "backup validator-003 (stopped), lose its data dir, restore it from the backup"
stop 3
tar -C "$DIR/data" -czf "$DIR/backup/validator-003.tar.gz" validator-003
ls -la "$DIR/data/validator-003" | sed 's/^/    /'
mv "$DIR/data/validator-003" "$DIR/data/validator-003.lost"
"${BPCI[@]}" --api "$(api 1)" --ca-file "$CA" --json submit while-003-is-down --wait | grep -q '"committed"'
log "  the other three commit while validator-003 is down"
tar -C "$DIR/data" -xzf "$DIR/backup/validator-003.tar.gz"
start 3; wait_consensus 3
"${BPCI[@]}" --api "$(api 3)" --ca-file "$CA" --json submit after-restore --wait | grep -q '"committed"'
log "validator-003 restored from its backup, healthy, commits"
for i in 1 2 3 4; do log "  validator-00$i committed: $(height "$i")"; done
log "done; logs in $DIR/logs"
