// Where @bpci/native looks for its binary (issue 13 §1): the platform key of the prebuilt folder,
// $BPCI_NATIVE_ADDON, and the reason when nothing fits. The loader caches its first answer, so
// each case runs in a child process on the built package (dist/).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { platformKey } from '@bpci/native';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function probe(env: Record<string, string>) {
  const script = `
    import { loadNativeBackend, nativeUnavailableReason, nativeAddonPath } from '@bpci/native';
    const b = loadNativeBackend();
    process.stdout.write(JSON.stringify({ loaded: b !== null, reason: nativeUnavailableReason(), path: nativeAddonPath() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { loaded: boolean; reason: string | null; path: string | null };
}

describe('@bpci/native loader', () => {
  it('names the prebuilt folder by OS, architecture and (on Linux) C library', () => {
    expect(platformKey('linux', 'x64', 'gnu')).toBe('linux-x64');
    expect(platformKey('linux', 'arm64', 'musl')).toBe('linux-arm64-musl');
    expect(platformKey('darwin', 'arm64')).toBe('darwin-arm64');
    expect(platformKey('win32', 'x64')).toBe('win32-x64');
    expect(platformKey()).toBe(platformKey(process.platform, process.arch));
  });

  it('$BPCI_NATIVE_ADDON names exactly one file: missing means null and a reason naming it', () => {
    const r = probe({ BPCI_NATIVE_ADDON: '/nonexistent/bpci_native.node' });
    expect(r.loaded).toBe(false);
    expect(r.path).toBeNull();
    expect(r.reason).toContain('/nonexistent/bpci_native.node missing');
  });

  it('loads the file $BPCI_NATIVE_ADDON names', () => {
    const file = `${ROOT}packages/native/bpci_native.node`;
    if (!existsSync(file)) return; // not built here (the consumer test covers the packed binary)
    const r = probe({ BPCI_NATIVE_ADDON: file });
    expect(r).toEqual({ loaded: true, reason: null, path: file });
  });

  it('a file that is not an addon is a reason, not a crash', () => {
    const r = probe({ BPCI_NATIVE_ADDON: `${ROOT}package.json` });
    expect(r.loaded).toBe(false);
    expect(r.reason).toMatch(/package\.json is not the bpci addon \(no blake3, /);
  });
});
