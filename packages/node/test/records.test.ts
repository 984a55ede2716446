// The replica's persist records through a real store and back: what a restart hands the replica.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CodecError, type PersistRecord, type PreparedCert } from '@bpci/core';
import { openStore, type Store } from '../src/storage/store.js';
import { loadRestoredState, toStoreRecords } from '../src/runtime/records.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function open(dir?: string): { store: Store; dir: string } {
  const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-records-'));
  if (dir === undefined) dirs.push(d);
  const store = openStore(d, { durable: false });
  stores.push(store);
  return { store, dir: d };
}
const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const cert = (view: number, seq: number, fill: number): PreparedCert => ({
  prePrepare: { kind: 'pre-prepare', view, seq, digest: b(32, fill), batch: [{ kind: 'request', clientId: 'c1', requestSeq: seq, op: b(3, 65), key: b(32, 2), sig: b(64, 3) }], from: view % 4, sig: b(64, 1) },
  prepares: [1, 2].map((from) => ({ kind: 'prepare' as const, view, seq, digest: b(32, fill), from, sig: b(64, from) })),
  commits: [],
});
async function persist(store: Store, records: PersistRecord[]): Promise<void> {
  await store.persistBatch(toStoreRecords(records, 3, store));
}

describe('persist records', () => {
  it('restores the prepared certificates above the checkpoint, the highest view per seq', async () => {
    const { store, dir } = open();
    await persist(store, [
      { kind: 'vote', vote: { kind: 'prepare', view: 0, seq: 1, digest: b(32, 1) } },
      { kind: 'prepared', cert: cert(0, 1, 1) },
      { kind: 'prepared', cert: cert(0, 2, 2) },
    ]);
    await persist(store, [{ kind: 'view', view: 1, justification: null }, { kind: 'prepared', cert: cert(1, 2, 2) }]);
    await store.close();
    stores.length = 0;
    const again = open(dir).store;
    const r = loadRestoredState(again)!;
    expect(r.view).toBe(1);
    expect(r.votes).toEqual([{ kind: 'prepare', view: 0, seq: 1, digest: b(32, 1) }]);
    expect(r.prepared).toEqual([cert(0, 1, 1), cert(1, 2, 2)]);
  });

  it('restores the timeout certificate persisted with the view record, and reads the older u53-only record', async () => {
    const { store } = open();
    const tc = { kind: 'timeout-cert' as const, view: 4, timeouts: [0, 1, 2].map((from) => ({ kind: 'timeout' as const, view: 4, from, sig: b(64, from + 1) })), from: 3 };
    await persist(store, [{ kind: 'view', view: 5, justification: tc }]);
    expect(loadRestoredState(store)).toMatchObject({ view: 5, justification: tc });
    await persist(store, [{ kind: 'view', view: 6, justification: null }]);
    expect(loadRestoredState(store)).toMatchObject({ view: 6, justification: null });
    const old = new Uint8Array(8);
    old[7] = 9; // the layout before issue 14: the view alone
    await store.persistBatch([{ kind: 'safety', key: 'view', value: old }]);
    expect(loadRestoredState(store)).toMatchObject({ view: 9, justification: null });
    await store.persistBatch([{ kind: 'safety', key: 'view', value: new Uint8Array([...old, 0xff]) }]);
    expect(() => loadRestoredState(store)).toThrow(CodecError);
  });

  it('a stable checkpoint deletes the certificates it covers', async () => {
    const { store } = open();
    await persist(store, [1, 2, 3, 4].map((s) => ({ kind: 'prepared', cert: cert(0, s, s) })));
    const checkpoint = { seq: 2, stateDigest: b(32, 9), snapshot: b(4, 7), proof: [] };
    await persist(store, [{ kind: 'checkpoint', checkpoint }]);
    expect(store.range('cert', { limit: 100 }).map((e) => e.key)).toEqual([3, 4]);
    expect(loadRestoredState(store)!.prepared.map((c) => c.prePrepare.seq)).toEqual([3, 4]);
  });

  it('a corrupt certificate record is a clear error, not a wrong restore', async () => {
    const { store } = open();
    await store.persistBatch([{ kind: 'cert', key: 5, value: b(10, 0xff) }]);
    expect(() => loadRestoredState(store)).toThrow(CodecError);
  });
});
