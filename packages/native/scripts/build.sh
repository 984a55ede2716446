#!/usr/bin/env bash
# Builds the native addon (bpci_native.node) and the TypeScript loader (dist/).
# Without cargo or without the Debian crate sources this is NOT an error: the reason goes to
# build-status.txt (read by nativeUnavailableReason()) and the script exits 0, so the overall
# build succeeds and the backend selector falls back to wasm/js.
set -uo pipefail
cd "$(dirname "$0")/.."
STATUS=build-status.txt
REGISTRY=/usr/share/cargo/registry
CRATES="blake3 rayon ring"

skip() {
  echo "[native] skipped: $*" >&2
  printf 'native addon not built: %s\n' "$*" > "$STATUS"
  rm -f bpci_native.node
  exit 0
}

build_ts() {
  # The TS loader builds whether or not the addon does (it reports why the addon is missing).
  npx tsc -b || { echo "[native] tsc failed" >&2; exit 1; }
}

build_ts

command -v cargo >/dev/null 2>&1 || skip "cargo not found (install Rust >= 1.80)"
# With the Debian source replacement in ../../.cargo/config.toml every crate must be on disk.
if grep -q 'replace-with *= *"debian"' ../../.cargo/config.toml 2>/dev/null; then
  for c in $CRATES; do
    ls -d "$REGISTRY/$c"-[0-9]* >/dev/null 2>&1 \
      || skip "crate source '$c' missing in $REGISTRY (apt-get install librust-blake3-dev librust-rayon-dev librust-ring-dev)"
  done
fi

# The addon is built on the machine that runs it, so tune for this CPU. The blake3 crate's
# AVX-512 assembly is selected by its build script and runtime detection either way.
export RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}"
export CARGO_TARGET_DIR="$PWD/target"
if ! cargo build --release --locked 2> target-build.log; then
  tail -20 target-build.log >&2
  skip "cargo build failed (see packages/native/target-build.log)"
fi
rm -f target-build.log
cp target/release/libbpci_native.so bpci_native.node.tmp && mv bpci_native.node.tmp bpci_native.node
rm -f "$STATUS"
echo "[native] built bpci_native.node" >&2
