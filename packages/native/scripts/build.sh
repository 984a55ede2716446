#!/usr/bin/env bash
# Builds the native addon and the TypeScript loader (dist/).
#
#   scripts/build.sh              `npm run build`: an addon tuned for THIS machine
#                                 (-C target-cpu=native) -> bpci_native.node, used in the repository
#   scripts/build.sh --portable   `prepack`: an addon for any CPU of this architecture (no
#                                 target-cpu flag; the kernels are chosen at run time) ->
#                                 prebuilds/<platform>/bpci_native.node + build-info.json, shipped
#                                 in the npm tarball (issue 13 §1)
#
# Without cargo or without the Debian crate sources this is NOT an error: the reason goes to
# build-status.txt (read by nativeUnavailableReason()) and the script exits 0, so the overall
# build (and npm pack) succeeds and the backend selector falls back to wasm/js.
set -uo pipefail
cd "$(dirname "$0")/.."
STATUS=build-status.txt
REGISTRY=/usr/share/cargo/registry
CRATES="blake3 rayon ring"
PORTABLE=0
[ "${1:-}" = "--portable" ] && PORTABLE=1

skip() {
  echo "[native] skipped: $*" >&2
  if [ "$PORTABLE" = 1 ]; then
    # Never ship a stale binary: the package then has none for this platform and falls back.
    [ -n "${OUT_DIR:-}" ] && rm -rf "$OUT_DIR"
  else
    printf 'native addon not built: %s\n' "$*" > "$STATUS"
    rm -f bpci_native.node
  fi
  exit 0
}

build_ts() {
  # The TS loader builds whether or not the addon does (it reports why the addon is missing).
  npx tsc -b || { echo "[native] tsc failed" >&2; exit 1; }
}

build_ts
if [ "$PORTABLE" = 1 ]; then
  # The folder name the loader looks for (src/platform.ts), e.g. linux-x64 or linux-x64-musl.
  KEY="$(node --input-type=module -e "import { platformKey } from './dist/platform.js'; process.stdout.write(platformKey())")" \
    || { echo "[native] cannot compute the platform key" >&2; exit 1; }
  OUT_DIR="prebuilds/$KEY"
fi

command -v cargo >/dev/null 2>&1 || skip "cargo not found (install Rust >= 1.80)"
# With the Debian source replacement in ../../.cargo/config.toml every crate must be on disk.
if grep -q 'replace-with *= *"debian"' ../../.cargo/config.toml 2>/dev/null; then
  for c in $CRATES; do
    ls -d "$REGISTRY/$c"-[0-9]* >/dev/null 2>&1 \
      || skip "crate source '$c' missing in $REGISTRY (apt-get install librust-blake3-dev librust-rayon-dev librust-ring-dev)"
  done
fi

# CARGO_ENCODED_RUSTFLAGS would take precedence over RUSTFLAGS: only RUSTFLAGS is used here.
unset CARGO_ENCODED_RUSTFLAGS
if [ "$PORTABLE" = 1 ]; then
  # A binary that leaves this machine must not assume its CPU. blake3 (its build script compiles
  # the SSE2/SSE4.1/AVX2/AVX-512 assembly unconditionally, platform.rs picks one per process with
  # is_x86_feature_detected!), ring (GFp_cpuid_setup fills GFp_ia32cap_P, its assembly branches on
  # it) and our own kernels (src/lanes.rs, src/ed25519/ifma.rs: #[target_feature] functions behind
  # is_x86_feature_detected!) all select at run time, so the baseline target loses no kernel.
  export RUSTFLAGS="${BPCI_NATIVE_PORTABLE_RUSTFLAGS:-}"
  case "$RUSTFLAGS" in *target-cpu=native*) echo "[native] refusing target-cpu=native in a portable build" >&2; exit 1 ;; esac
  export CARGO_TARGET_DIR="$PWD/target/portable"
  OUT="$OUT_DIR/bpci_native.node"
  LOG="$PWD/target/portable-build.log"
else
  # The repository's own addon is built on the machine that runs it, so tune for this CPU.
  export RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}"
  export CARGO_TARGET_DIR="$PWD/target"
  OUT=bpci_native.node
  LOG="$PWD/target-build.log"
fi
mkdir -p "$CARGO_TARGET_DIR"
if ! cargo build --release --locked 2> "$LOG"; then
  tail -20 "$LOG" >&2
  skip "cargo build failed (see packages/native/${LOG#"$PWD/"})"
fi
rm -f "$LOG"
if [ "$PORTABLE" = 1 ]; then
  mkdir -p "$OUT_DIR"
  cp "$CARGO_TARGET_DIR/release/libbpci_native.so" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
  printf '{\n  "platform": "%s",\n  "rustflags": "%s",\n  "rustc": "%s",\n  "built": "%s"\n}\n' \
    "$KEY" "$RUSTFLAGS" "$(rustc --version)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$OUT_DIR/build-info.json"
else
  cp "$CARGO_TARGET_DIR/release/libbpci_native.so" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
  rm -f "$STATUS"
fi
echo "[native] built $OUT" >&2
