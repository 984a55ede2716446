// Crypto backend selection for Node: native -> wasm -> js, chosen once, and says why.
//
// Contract:
//   - `selectBackend()` tries the Rust addon (@bpci/native), then the AssemblyScript module
//     (@bpci/crypto-wasm), then the always-present js backend (here `nodeJsBackend()`: noble plus
//     node:crypto for Ed25519 verification). The result names the backend and the reason.
//   - An explicit choice (`BPCI_CRYPTO=js|wasm|native` in the environment, or `prefer` in the
//     options) that cannot be loaded is an error (`BackendUnavailableError`) naming why; it never
//     silently falls back. The environment wins over `prefer`: the operator overrides the code.
//   - The choice is logged once per process (stderr unless a `log` function is given).
//   - The sibling packages are imported dynamically, so this module loads (and selects js) when
//     they are missing or not built.

import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { checkSignedItems, jsBackend, type CryptoBackend, type SignedItem } from '@bpci/core';

export type BackendName = 'js' | 'wasm' | 'native';
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm', 'js'];

export interface SelectOptions {
  /** Use this backend or fail; overridden by BPCI_CRYPTO. */
  prefer?: BackendName;
  /** Environment to read BPCI_CRYPTO from (default process.env; tests pass their own). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where the one-time "chose X because Y" line goes; `false` silences it. */
  log?: ((line: string) => void) | false;
  /** Replaces the loader of a backend (tests simulate a missing addon with it). */
  loaders?: Partial<Record<BackendName, () => Promise<LoadResult>>>;
}

export interface Selection {
  backend: CryptoBackend;
  name: BackendName;
  reason: string;
}

/** An explicitly requested backend could not be loaded; `reason` says why. */
export class BackendUnavailableError extends Error {
  readonly backend: BackendName;
  readonly reason: string;
  constructor(backend: BackendName, reason: string, source: string) {
    super(`crypto backend '${backend}' was requested (${source}) but is unavailable: ${reason}`);
    this.name = 'BackendUnavailableError';
    this.backend = backend;
    this.reason = reason;
  }
}

export type LoadResult = { ok: true; backend: CryptoBackend } | { ok: false; reason: string };

function errText(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? String(e);
  return String(e);
}

function isBackend(v: unknown): v is CryptoBackend {
  if (v === null || typeof v !== 'object') return false;
  const b = v as Record<string, unknown>;
  return (
    typeof b.name === 'string' &&
    typeof b.blake3 === 'function' &&
    typeof b.blake3ManyPacked === 'function' &&
    typeof b.ed25519VerifyBatch === 'function' &&
    typeof b.powSearch === 'function' &&
    typeof b.merkleRoot === 'function'
  );
}

// Module specifiers held in variables: TypeScript does not need the sibling packages' types at
// compile time, and a missing package is a runtime condition we report, not a build error.
const WASM_MODULE: string = '@bpci/crypto-wasm';
const NATIVE_MODULE: string = '@bpci/native';

/** Loads the Rust addon backend, or says why it cannot. Never throws. */
export async function loadNative(): Promise<LoadResult> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(NATIVE_MODULE)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, reason: `@bpci/native cannot be imported (${errText(e)})` };
  }
  const load = mod.loadNativeBackend;
  if (typeof load !== 'function') return { ok: false, reason: '@bpci/native has no loadNativeBackend()' };
  try {
    const b: unknown = load();
    if (b === null || b === undefined) {
      const why = typeof mod.nativeUnavailableReason === 'function' ? String(mod.nativeUnavailableReason()) : 'addon not built';
      return { ok: false, reason: `native addon not loaded: ${why}` };
    }
    if (!isBackend(b)) return { ok: false, reason: 'loadNativeBackend() returned something that is not a CryptoBackend' };
    return { ok: true, backend: b };
  } catch (e) {
    return { ok: false, reason: `loadNativeBackend() failed: ${errText(e)}` };
  }
}

/** Loads the AssemblyScript backend, or says why it cannot. Never throws. */
export async function loadWasm(): Promise<LoadResult> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(WASM_MODULE)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, reason: `@bpci/crypto-wasm cannot be imported (${errText(e)})` };
  }
  const load = mod.loadWasmBackend;
  if (typeof load !== 'function') return { ok: false, reason: '@bpci/crypto-wasm has no loadWasmBackend()' };
  try {
    const b: unknown = await load();
    if (!isBackend(b)) return { ok: false, reason: 'loadWasmBackend() returned something that is not a CryptoBackend' };
    return { ok: true, backend: b };
  } catch (e) {
    return { ok: false, reason: `loadWasmBackend() failed (is it built? npm run build -w @bpci/crypto-wasm): ${errText(e)}` };
  }
}

/** Loads one backend by name; js always succeeds. */
export async function loadBackend(name: BackendName): Promise<LoadResult> {
  switch (name) {
    case 'native':
      return loadNative();
    case 'wasm':
      return loadWasm();
    case 'js':
      return { ok: true, backend: nodeJsBackend() };
  }
}

function parseName(value: string, source: string): BackendName {
  const v = value.trim().toLowerCase();
  if (v === 'js' || v === 'wasm' || v === 'native') return v;
  throw new RangeError(`${source} must be one of js, wasm, native; got '${value}'`);
}

let logged = false;

/** Chooses the crypto backend (see the module header for the order and the override rules). */
export async function selectBackend(options: SelectOptions = {}): Promise<Selection> {
  const env = options.env ?? process.env;
  const fromEnv = env.BPCI_CRYPTO;
  let forced: { name: BackendName; source: string } | undefined;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    forced = { name: parseName(fromEnv, 'BPCI_CRYPTO'), source: `BPCI_CRYPTO=${fromEnv.trim()}` };
  } else if (options.prefer !== undefined) {
    forced = { name: parseName(String(options.prefer), 'options.prefer'), source: `prefer: '${options.prefer}'` };
  }

  let sel: Selection;
  if (forced) {
    const want = forced.name;
    const r = await (options.loaders?.[want] ?? (() => loadBackend(want)))();
    if (!r.ok) throw new BackendUnavailableError(forced.name, r.reason, forced.source);
    const note = forced.name === 'js' ? ' (Ed25519 verify through node:crypto, re-checked under ZIP-215 on reject)' : '';
    sel = { backend: r.backend, name: forced.name, reason: `${forced.source} requested it${note}` };
  } else {
    const skipped: string[] = [];
    let found: Selection | undefined;
    for (const name of BACKEND_NAMES) {
      const r = await (options.loaders?.[name] ?? (() => loadBackend(name)))();
      if (r.ok) {
        const why = name === 'native' ? 'the native addon is built and loads (fastest)' : name === 'wasm' ? 'the wasm module loads' : 'always available';
        found = { backend: r.backend, name, reason: skipped.length ? `${why}; skipped ${skipped.join('; ')}` : why };
        break;
      }
      skipped.push(`${name}: ${r.reason}`);
    }
    // js never fails, so found is set; the check keeps the type honest.
    if (!found) throw new Error('no crypto backend could be loaded');
    sel = found;
  }

  if (!logged && options.log !== false) {
    logged = true;
    const line = `[bpci] crypto backend: ${sel.name} (${sel.reason})`;
    if (options.log) options.log(line);
    else process.stderr.write(line + '\n');
  }
  return sel;
}

// ---------------------------------------------------------------------------------------------
// nodeJsBackend: the js backend with node:crypto (OpenSSL) as the Ed25519 verify fast path.
//
// OpenSSL implements strict RFC 8032: it rejects S >= L, needs decodable A and R, and checks the
// cofactorless equation [S]B = R + [k]A by re-encoding. A cofactorless solution is also a
// cofactored one, so an OpenSSL ACCEPT implies a ZIP-215 accept. The reverse does not hold
// (small-order components, non-canonical encodings), so every OpenSSL reject is re-checked with
// the js rule. The verdicts therefore equal the js backend's on every input.

// DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): SEQUENCE { AlgId 1.3.101.112, BIT STRING }.
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
/** Imported keys kept per process; validators are few, so a small bound keeps every hot key. */
const KEY_CACHE_ENTRIES_MAX = 1024;

export function nodeJsBackend(): CryptoBackend {
  const base = jsBackend();
  const keys = new Map<string, KeyObject | null>();

  const keyOf = (pk: Uint8Array): KeyObject | null => {
    const id = Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('latin1');
    const hit = keys.get(id);
    if (hit !== undefined) return hit;
    let k: KeyObject | null;
    try {
      const der = new Uint8Array(ED25519_SPKI_PREFIX.length + 32);
      der.set(ED25519_SPKI_PREFIX);
      der.set(pk, ED25519_SPKI_PREFIX.length);
      k = createPublicKey({ key: Buffer.from(der.buffer), format: 'der', type: 'spki' });
    } catch {
      k = null; // OpenSSL cannot decode it: the js rule decides.
    }
    if (keys.size >= KEY_CACHE_ENTRIES_MAX) keys.clear();
    keys.set(id, k);
    return k;
  };

  const fastAccept = (it: SignedItem): boolean => {
    if (it.publicKey.length !== 32 || it.signature.length !== 64) return false;
    const key = keyOf(it.publicKey);
    if (key === null) return false;
    try {
      return nodeVerify(null, it.message, key, it.signature);
    } catch {
      return false;
    }
  };

  return {
    ...base,
    name: 'js',
    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      checkSignedItems(items);
      const out = new Uint8Array(items.length);
      const recheck: number[] = [];
      for (let i = 0; i < items.length; i++) {
        if (fastAccept(items[i]!)) out[i] = 1;
        else recheck.push(i);
      }
      if (recheck.length > 0) {
        const verdicts = base.ed25519VerifyBatch(recheck.map((i) => items[i]!));
        for (let j = 0; j < recheck.length; j++) out[recheck[j]!] = verdicts[j]!;
      }
      return out;
    },
  };
}

/** Test hook: lets a test observe the one-time log line again. */
export function resetSelectionLogForTests(): void {
  logged = false;
}
