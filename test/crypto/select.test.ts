// Backend selection: order, BPCI_CRYPTO override, explicit choices that cannot load, reason text,
// the one-time log line. Loaders are replaced where a test needs a backend to be missing.
import { describe, expect, it } from 'vitest';
import { jsBackend } from '@bpci/core';
import {
  BackendUnavailableError,
  loadNative,
  loadWasm,
  resetSelectionLogForTests,
  selectBackend,
  type LoadResult,
} from '../../packages/node/src/crypto/select.js';

const missing = (why: string) => async (): Promise<LoadResult> => ({ ok: false, reason: why });
const fake = (name: string) => async (): Promise<LoadResult> => ({ ok: true, backend: { ...jsBackend(), name } });

describe('selectBackend', () => {
  it('BPCI_CRYPTO=js selects js and says the environment asked for it', async () => {
    const s = await selectBackend({ env: { BPCI_CRYPTO: 'js' }, log: false });
    expect(s.name).toBe('js');
    expect(s.backend.name).toBe('js');
    expect(s.reason).toContain('BPCI_CRYPTO=js');
  });

  it('the environment overrides prefer', async () => {
    const s = await selectBackend({ env: { BPCI_CRYPTO: 'js' }, prefer: 'native', log: false, loaders: { native: missing('no addon') } });
    expect(s.name).toBe('js');
  });

  it('prefer selects the named backend when it loads', async () => {
    const s = await selectBackend({ env: {}, prefer: 'wasm', log: false, loaders: { wasm: fake('wasm') } });
    expect(s.name).toBe('wasm');
    expect(s.reason).toContain("prefer: 'wasm'");
  });

  it('an unknown BPCI_CRYPTO value is a RangeError naming the variable', async () => {
    await expect(selectBackend({ env: { BPCI_CRYPTO: 'gpu' }, log: false })).rejects.toThrow(/BPCI_CRYPTO must be one of js, wasm, native; got 'gpu'/);
  });

  it('an explicit choice that cannot load is an error naming why, never a fallback', async () => {
    const p = selectBackend({ env: { BPCI_CRYPTO: 'native' }, log: false, loaders: { native: missing('addon not built (run npm run build -w @bpci/native)') } });
    await expect(p).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(p).rejects.toThrow(/'native' was requested \(BPCI_CRYPTO=native\) but is unavailable: addon not built/);
    const q = selectBackend({ env: {}, prefer: 'wasm', log: false, loaders: { wasm: missing('wasm not built') } });
    await expect(q).rejects.toMatchObject({ name: 'BackendUnavailableError', backend: 'wasm', reason: 'wasm not built' });
  });

  it('auto order is native -> wasm -> js, and the reason lists what was skipped', async () => {
    const a = await selectBackend({ env: {}, log: false, loaders: { native: fake('native'), wasm: fake('wasm') } });
    expect(a.name).toBe('native');
    const b = await selectBackend({ env: {}, log: false, loaders: { native: missing('no addon here'), wasm: fake('wasm') } });
    expect(b.name).toBe('wasm');
    expect(b.reason).toContain('native: no addon here');
    const c = await selectBackend({ env: {}, log: false, loaders: { native: missing('no addon'), wasm: missing('no wasm') } });
    expect(c.name).toBe('js');
    expect(c.reason).toMatch(/native: no addon.*wasm: no wasm/);
  });

  it('the real loaders agree with the selection (whatever is built here)', async () => {
    const [n, w] = await Promise.all([loadNative(), loadWasm()]);
    const s = await selectBackend({ env: {}, log: false });
    expect(s.name).toBe(n.ok ? 'native' : w.ok ? 'wasm' : 'js');
    if (!n.ok) {
      expect(n.reason.length).toBeGreaterThan(0);
      await expect(selectBackend({ env: { BPCI_CRYPTO: 'native' }, log: false })).rejects.toThrow(n.reason);
    }
  });

  it('logs the choice once per process', async () => {
    resetSelectionLogForTests();
    const lines: string[] = [];
    await selectBackend({ env: { BPCI_CRYPTO: 'js' }, log: (l) => lines.push(l) });
    await selectBackend({ env: { BPCI_CRYPTO: 'js' }, log: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[bpci\] crypto backend: js \(BPCI_CRYPTO=js requested it/);
  });
});
