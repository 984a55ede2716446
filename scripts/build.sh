#!/usr/bin/env bash
# Builds every package: TypeScript (tsc -b), the AssemblyScript WASM, and the Rust addon when
# its toolchain and crates are present (otherwise it says why and the selector falls back).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1m[build]\033[0m %s\n' "$*"; }

if [ -f packages/crypto-wasm/scripts/build.mjs ]; then
  log "crypto-wasm (asc --enable simd -O3)"
  npm run build --silent -w @bpci/crypto-wasm
fi
if [ -f packages/native/scripts/build.sh ]; then
  log "native (cargo, Debian crates)"
  npm run build --silent -w @bpci/native || log "native addon not built; falling back to wasm/js"
fi
log "typescript (tsc -b)"
npx tsc -b
log "done"
