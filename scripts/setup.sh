#!/usr/bin/env bash
# Sets up a fresh machine for bpci: npm packages, Debian crate sources for the native addon and
# chromium for the dashboard test (when root on Debian), then builds everything. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

log "node $(node --version), npm $(npm --version 2>/dev/null)"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

# The native addon builds from Debian's packaged crate sources (no crates.io here).
NATIVE_DEBS="librust-blake3-dev librust-rayon-dev librust-ring-dev"
if command -v cargo >/dev/null 2>&1 && [ -f /etc/debian_version ]; then
  missing=""
  for p in $NATIVE_DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing Debian crate sources:$missing"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) >/tmp/bpci-apt.log 2>&1 \
        || log "apt-get failed (see /tmp/bpci-apt.log); the native backend will be skipped"
    else
      log "not root: cannot install$missing; the native backend will be skipped (run: sudo apt-get install$missing)"
    fi
  fi
else
  log "no cargo or not Debian: the native backend will be skipped"
fi

# The dashboard test (test/dashboard) drives Debian's chromium headless through playwright-core
# (which downloads no browser of its own here); fonts so the screenshot has readable text.
BROWSER_DEBS="chromium fonts-liberation"
if [ -f /etc/debian_version ]; then
  missing=""
  for p in $BROWSER_DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing the headless browser for the dashboard test:$missing"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) >/tmp/bpci-apt-browser.log 2>&1 \
        || log "apt-get failed (see /tmp/bpci-apt-browser.log); the dashboard test will fail until /usr/bin/chromium exists"
    else
      log "not root: cannot install$missing; the dashboard test needs it (run: sudo apt-get install$missing)"
    fi
  fi
else
  log "not Debian: install chromium yourself for the dashboard test (or set BPCI_CHROMIUM to its path)"
fi

bash scripts/build.sh
