// What a replica's persisted records leave on disk, and what it restarts from (issue 11's
// replica kit): one reducer for the simulator, the scenario harness and any runtime that keeps
// its records in memory, so that every one of them restores the same state from the same
// writes. The node keeps its records in LMDB (packages/node/src/runtime/records.ts) under keys
// that give the same restore for what PBFT writes, with two differences left for the protocol
// descriptor to remove: vote records below the checkpoint stay (harmless: the watermarks keep
// them from mattering), and a 'view' record replaces the last one (PBFT writes one per view, in
// increasing order, so the rules agree on its writes).
//
// Rules:
// - 'vote': appended (SafetyRules' record of what it signed, written before reservations; read
//   back from older logs).
// - 'reservation': the highest (view, upTo) wins; a checkpoint does not prune it.
// - 'view': the highest view wins; its timeout certificate is kept with it, and a second record
//   for the same view fills a certificate the first lacked but never erases one.
// - 'prepared': per seq, the certificate from the highest view wins.
// - 'committed': per seq.
// - 'checkpoint': a higher one replaces the old and prunes what it covers (committed batches,
//   prepared certificates and vote records at or below its seq: the watermarks keep a replica
//   from signing there again, and a view-change reports only seqs above it).

import type { CommittedBatch, PersistRecord, PreparedCert, RestoredState, StableCheckpoint, TimeoutCert, VoteRecord } from '../consensus/types.js';

export class DurableState {
  votes: VoteRecord[] = [];
  view = 0;
  justification: TimeoutCert | null = null;
  reservation: { view: number; upTo: number } | null = null;
  readonly prepared = new Map<number, PreparedCert>();
  checkpoint: StableCheckpoint | null = null;
  readonly committed = new Map<number, CommittedBatch>();

  apply(records: readonly PersistRecord[]): void {
    for (const rec of records) {
      switch (rec.kind) {
        case 'vote':
          this.votes.push(rec.vote);
          break;
        case 'reservation': {
          const r = this.reservation;
          if (r === null || rec.view > r.view || (rec.view === r.view && rec.upTo > r.upTo)) this.reservation = { view: rec.view, upTo: rec.upTo };
          break;
        }
        case 'view':
          if (rec.view > this.view || (rec.view === this.view && this.justification === null)) this.justification = rec.justification;
          this.view = Math.max(this.view, rec.view);
          break;
        case 'prepared': {
          const pp = rec.cert.prePrepare;
          const prior = this.prepared.get(pp.seq);
          if (prior === undefined || prior.prePrepare.view < pp.view) this.prepared.set(pp.seq, rec.cert);
          break;
        }
        case 'committed':
          this.committed.set(rec.batch.seq, rec.batch);
          break;
        case 'checkpoint':
          if (this.checkpoint === null || rec.checkpoint.seq > this.checkpoint.seq) {
            const seq = rec.checkpoint.seq;
            this.checkpoint = rec.checkpoint;
            for (const s of [...this.committed.keys()]) if (s <= seq) this.committed.delete(s);
            this.votes = this.votes.filter((v) => v.seq > seq);
            for (const s of [...this.prepared.keys()]) if (s <= seq) this.prepared.delete(s);
          }
          break;
        default: {
          const never: never = rec;
          throw new Error(`unknown persist record ${(never as { kind: string }).kind}`);
        }
      }
    }
  }

  /** The state a replica restarts from: committed batches contiguous above the checkpoint, and
   *  the prepared certificates above it in seq order. */
  restored(): RestoredState {
    const from = this.checkpoint?.seq ?? 0;
    const committed: CommittedBatch[] = [];
    for (let s = from + 1; this.committed.has(s); s++) committed.push(this.committed.get(s)!);
    const prepared = [...this.prepared.keys()].filter((s) => s > from).sort((a, b) => a - b).map((s) => this.prepared.get(s)!);
    return { votes: this.votes, view: this.view, justification: this.justification, reservation: this.reservation, prepared, checkpoint: this.checkpoint, committed };
  }
}
