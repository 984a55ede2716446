// The one durable-state reducer (kit/durable.ts) that the simulator and the scenario harness
// restore from: its rules, including writes that land out of order.
import { describe, expect, it } from 'vitest';
import { DurableState } from '../src/kit/durable.js';
import type { CommittedBatch, PersistRecord, PreparedCert, StableCheckpoint, TimeoutCert } from '../src/consensus/types.js';

const d = new Uint8Array(32);
const prepared = (seq: number, view: number): PersistRecord => ({
  kind: 'prepared',
  cert: { prePrepare: { kind: 'pre-prepare', view, seq, digest: d, batch: [], from: 0, sig: new Uint8Array(64) }, prepares: [], commits: [] } as PreparedCert,
});
const vote = (seq: number): PersistRecord => ({ kind: 'vote', vote: { kind: 'prepare', view: 0, seq, digest: d } });
const committed = (seq: number): PersistRecord => ({ kind: 'committed', batch: { seq } as unknown as CommittedBatch });
const checkpoint = (seq: number): PersistRecord => ({ kind: 'checkpoint', checkpoint: { seq, stateDigest: d, snapshot: new Uint8Array(0), proof: [] } as StableCheckpoint });
const tc = (view: number): TimeoutCert => ({ kind: 'timeout-cert', view, timeouts: [], from: 1 });

describe('DurableState', () => {
  it('keeps the highest-view prepared certificate per seq, whatever order the writes land in', () => {
    const s = new DurableState();
    s.apply([prepared(3, 2), prepared(3, 1), prepared(4, 0)]);
    expect(s.restored().prepared.map((c) => [c.prePrepare.seq, c.prePrepare.view])).toEqual([
      [3, 2],
      [4, 0],
    ]);
  });

  it('keeps the highest view; a second record for it fills a missing certificate, never erases one', () => {
    const s = new DurableState();
    s.apply([{ kind: 'view', view: 2, justification: null }]);
    s.apply([{ kind: 'view', view: 2, justification: tc(1) }]);
    expect(s.restored().justification?.view).toBe(1);
    s.apply([{ kind: 'view', view: 2, justification: null }, { kind: 'view', view: 1, justification: tc(0) }]);
    expect(s.restored()).toMatchObject({ view: 2, justification: { view: 1 } });
    s.apply([{ kind: 'view', view: 3, justification: null }]);
    expect(s.restored()).toMatchObject({ view: 3, justification: null });
  });

  it('a checkpoint prunes what it covers; a lower one that lands late changes nothing', () => {
    const s = new DurableState();
    s.apply([vote(3), vote(4), vote(5), committed(3), committed(4), committed(5), committed(7), prepared(4, 0), prepared(6, 0)]);
    s.apply([checkpoint(4)]);
    s.apply([checkpoint(2)]);
    const r = s.restored();
    expect(r.checkpoint?.seq).toBe(4);
    expect(r.votes.map((v) => v.seq)).toEqual([5]);
    // committed batches restart contiguously above the checkpoint: 5, not 7 (6 is missing)
    expect(r.committed.map((b) => b.seq)).toEqual([5]);
    expect(r.prepared.map((c) => c.prePrepare.seq)).toEqual([6]);
  });

  it('starts empty', () => {
    expect(new DurableState().restored()).toEqual({ votes: [], view: 0, justification: null, reservation: null, prepared: [], checkpoint: null, committed: [] });
  });

  it('keeps the highest reservation, and a checkpoint does not prune it', () => {
    const d = new DurableState();
    d.apply([
      { kind: 'reservation', view: 1, upTo: 40 },
      { kind: 'reservation', view: 1, upTo: 30 },
      { kind: 'reservation', view: 0, upTo: 90 },
    ]);
    expect(d.restored().reservation).toEqual({ view: 1, upTo: 40 });
    d.apply([{ kind: 'reservation', view: 2, upTo: 5 }, { kind: 'checkpoint', checkpoint: { seq: 64, stateDigest: new Uint8Array(32), snapshot: new Uint8Array(0), proof: [] } }]);
    expect(d.restored().reservation).toEqual({ view: 2, upTo: 5 });
  });
});
