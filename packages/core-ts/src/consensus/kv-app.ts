// A sample deterministic StateMachine: a key-value store with ledger-style integer balances.
//
// Ops are UTF-8 text, one command each (easy to type in a CLI and to read in traces):
//   set <key> <value>        -> "ok"
//   get <key>                -> the value, or "" when absent
//   add <key> <int>          -> the new integer value (absent counts as 0)
//   transfer <from> <to> <n> -> "ok" or "insufficient" (balances never go negative)
// Anything else returns "error: ..." (a bad op is the client's problem, never a crash).
// Snapshot: u32 count, then sorted (key, value) pairs; equal states give equal bytes.

import type { CryptoBackend } from '../crypto/backend.js';
import { CodecError, Reader, Writer, utf8Decode, utf8Encode } from '../codec/wire.js';
import type { Digest, StateMachine } from './types.js';

const KEY_BYTES_MAX = 256;
const VALUE_BYTES_MAX = 64 * 1024;
const ENTRIES_MAX = 10_000_000;

export class KvApp implements StateMachine {
  private entries = new Map<string, string>();

  constructor(private readonly crypto: Pick<CryptoBackend, 'blake3'>) {}

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  get size(): number {
    return this.entries.size;
  }

  execute(ops: readonly Uint8Array[]): Uint8Array[] {
    return ops.map((op) => utf8Encode(this.apply(op)));
  }

  private apply(opBytes: Uint8Array): string {
    let op: string;
    try {
      op = utf8Decode(opBytes, 'op');
    } catch {
      return 'error: op is not UTF-8';
    }
    const parts = op.split(' ');
    const verb = parts[0];
    switch (verb) {
      case 'set':
        if (parts.length < 3 || parts[1]!.length === 0) return 'error: usage set <key> <value>';
        this.entries.set(parts[1]!, parts.slice(2).join(' '));
        return 'ok';
      case 'get':
        if (parts.length !== 2) return 'error: usage get <key>';
        return this.entries.get(parts[1]!) ?? '';
      case 'add': {
        const n = parseIntStrict(parts[2]);
        if (parts.length !== 3 || n === null) return 'error: usage add <key> <int>';
        const next = this.balance(parts[1]!) + n;
        if (!Number.isSafeInteger(next)) return 'error: overflow';
        this.entries.set(parts[1]!, String(next));
        return String(next);
      }
      case 'transfer': {
        const n = parseIntStrict(parts[3]);
        if (parts.length !== 4 || n === null || n < 0) return 'error: usage transfer <from> <to> <n>=0..>';
        const a = this.balance(parts[1]!);
        if (a < n) return 'insufficient';
        this.entries.set(parts[1]!, String(a - n));
        this.entries.set(parts[2]!, String(this.balance(parts[2]!) + n));
        return 'ok';
      }
      default:
        return `error: unknown op ${JSON.stringify(verb)}`;
    }
  }

  private balance(key: string): number {
    return parseIntStrict(this.entries.get(key)) ?? 0;
  }

  snapshot(): Uint8Array {
    const keys = [...this.entries.keys()].sort();
    const w = new Writer(64 + keys.length * 32);
    w.u32(keys.length);
    for (const k of keys) {
      w.string(k, KEY_BYTES_MAX);
      w.string(this.entries.get(k)!, VALUE_BYTES_MAX);
    }
    return w.finish();
  }

  restore(snapshot: Uint8Array): void {
    const r = new Reader(snapshot);
    const n = r.count(ENTRIES_MAX, 8, 'entries');
    const next = new Map<string, string>();
    let prev: string | null = null;
    for (let i = 0; i < n; i++) {
      const k = r.string(KEY_BYTES_MAX, 'key');
      if (prev !== null && !(prev < k)) throw new CodecError('not-canonical', 'snapshot keys must be strictly sorted');
      next.set(k, r.string(VALUE_BYTES_MAX, 'value'));
      prev = k;
    }
    r.end();
    this.entries = next;
  }

  digest(): Digest {
    return this.crypto.blake3(this.snapshot());
  }
}

function parseIntStrict(s: string | undefined): number | null {
  if (s === undefined || !/^-?(0|[1-9][0-9]{0,15})$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}
