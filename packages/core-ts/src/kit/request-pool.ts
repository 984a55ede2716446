// Client requests waiting at a replica, for any protocol (issue 11's replica kit): the pending
// set (bounded by the caller), which of them a proposal of the current view/round already
// carries, and the adaptive batching rule that picks the next batch from the rest.

import type { ClientRequest } from '../consensus/types.js';
import { sessionOf } from './client-auth.js';

export interface PendingRequest {
  readonly request: ClientRequest;
  /** Logical tick at which it arrived. */
  readonly tick: number;
}

/**
 * Fairness bookkeeping of a pending request (see RequestPool.overdue): when its wait started (in
 * ticks and in batches executed), how many requests were pending before it then, and whether it
 * was relayed to the leader already.
 */
interface Wait {
  tick: number;
  batches: number;
  ahead: number;
  relayed: boolean;
}

/** How many of the oldest pending requests `overdue` looks at per call (bounded work per tick). */
const OVERDUE_SCAN = 8;

export function requestKey(r: ClientRequest): string {
  return `${sessionOf(r)}#${r.requestSeq}`;
}

/** Approximate encoded size of a request, for batchBytesMax. */
export function requestSize(r: ClientRequest): number {
  return r.op.length + r.clientId.length + 112;
}

/** Requests not yet proposed, in arrival order (so the first is the oldest), with their total size. */
class RequestQueue {
  private readonly m = new Map<string, PendingRequest>();
  bytes = 0;

  get size(): number {
    return this.m.size;
  }

  set(key: string, p: PendingRequest): void {
    this.delete(key);
    this.m.set(key, p);
    this.bytes += requestSize(p.request);
  }

  delete(key: string): boolean {
    const old = this.m.get(key);
    if (old === undefined) return false;
    this.bytes -= requestSize(old.request);
    return this.m.delete(key);
  }

  clear(): void {
    this.m.clear();
    this.bytes = 0;
  }

  first(): PendingRequest | undefined {
    return this.m.values().next().value;
  }

  [Symbol.iterator](): IterableIterator<[string, PendingRequest]> {
    return this.m.entries();
  }
}

export interface BatchLimits {
  readonly batchSizeMax: number;
  readonly batchBytesMax: number;
  /** With proposals in flight, wait up to this many ticks for a fuller batch. */
  readonly batchDelayTicks: number;
}

export class RequestPool {
  private readonly pending = new Map<string, PendingRequest>();
  /** Keys of pending requests in a batch proposed (or re-proposed) in the current view. */
  private readonly proposed = new Set<string>();
  /** Pending requests not in any such batch, in arrival order (what the leader batches next). */
  private readonly unproposed = new RequestQueue();
  /** Per pending request, in arrival order: its fairness wait (see overdue). */
  private readonly waits = new Map<string, Wait>();
  /** Batches executed in order in the normal case (batchExecuted), the fairness clock. */
  private executedBatches = 0;

  get size(): number {
    return this.pending.size;
  }

  has(r: ClientRequest): boolean {
    return this.pending.has(requestKey(r));
  }

  /** Adds a request (the caller checked it is fresh, new and within its bound). */
  add(r: ClientRequest, tick: number): void {
    const key = requestKey(r);
    const p = { request: r, tick };
    this.waits.set(key, { tick, batches: this.executedBatches, ahead: this.pending.size, relayed: false });
    this.pending.set(key, p);
    this.unproposed.set(key, p);
  }

  /** One batch executed in order in the normal case (not by state transfer): the fairness clock. */
  batchExecuted(): void {
    this.executedBatches++;
  }

  /**
   * A pending request the leader is passing over, or null. A request is overdue when it has
   * waited at least `minTicks` AND at least 2 x (inflightMax + ceil((ahead + 1) / batchSizeMax))
   * + 2 batches executed since it arrived, `ahead` being the requests pending before it then: a
   * leader taking requests in arrival order includes it well before that however loaded it is,
   * so one that keeps committing others while this one waits is censoring it (or never got it).
   * The first time, the answer is `{ relay: true }` (send it to the leader, which may have missed
   * it) and its wait starts again; the second time `{ relay: false }`: time the view out. Looks at
   * the OVERDUE_SCAN oldest requests only.
   */
  overdue(now: number, minTicks: number, limits: { readonly inflightMax: number; readonly batchSizeMax: number }): { request: ClientRequest; relay: boolean } | null {
    let seen = 0;
    for (const [key, w] of this.waits) {
      if (seen++ >= OVERDUE_SCAN) break;
      const allowance = 2 * (limits.inflightMax + Math.ceil((w.ahead + 1) / limits.batchSizeMax)) + 2;
      if (now - w.tick < minTicks || this.executedBatches - w.batches < allowance) continue;
      const p = this.pending.get(key)!;
      if (w.relayed) return { request: p.request, relay: false };
      w.relayed = true;
      w.tick = now;
      w.batches = this.executedBatches;
      return { request: p.request, relay: true };
    }
    return null;
  }

  /**
   * The next batch for a leader to propose, or null. Requests `isFresh` rejects (executed
   * meanwhile) leave the queue. Adaptive batching: an idle pipeline (`busy` false) proposes at
   * once (latency); a busy one waits for a full batch or for batchDelayTicks (throughput).
   */
  nextBatch(now: number, busy: boolean, limits: BatchLimits, isFresh: (r: ClientRequest) => boolean): ClientRequest[] | null {
    // Busy pipeline, not a full batch yet, oldest request still young: nothing to do (without
    // this early exit every arriving request would rescan the queue).
    if (busy && this.unproposed.size < limits.batchSizeMax && this.unproposed.bytes < limits.batchBytesMax) {
      const first = this.unproposed.first();
      if (first === undefined || now - first.tick < limits.batchDelayTicks) return null;
    }
    const batch: ClientRequest[] = [];
    let bytes = 0;
    let oldest = Infinity;
    for (const [key, p] of this.unproposed) {
      if (!isFresh(p.request)) {
        this.unproposed.delete(key);
        continue;
      }
      const size = requestSize(p.request);
      if (batch.length > 0 && bytes + size > limits.batchBytesMax) break;
      batch.push(p.request);
      bytes += size;
      oldest = Math.min(oldest, p.tick);
      if (batch.length >= limits.batchSizeMax) break;
    }
    if (batch.length === 0) return null;
    const full = batch.length >= limits.batchSizeMax || bytes >= limits.batchBytesMax;
    if (busy && !full && now - oldest < limits.batchDelayTicks) return null;
    return batch;
  }

  /** These requests are in a proposal of the current view. */
  markProposed(batch: readonly ClientRequest[]): void {
    for (const r of batch) {
      const key = requestKey(r);
      this.proposed.add(key);
      this.unproposed.delete(key);
    }
  }

  /** These requests executed: they leave the pool. */
  executed(batch: readonly ClientRequest[]): void {
    for (const r of batch) {
      const key = requestKey(r);
      this.pending.delete(key);
      this.waits.delete(key);
      this.proposed.delete(key);
      this.unproposed.delete(key);
    }
  }

  /** A new view/round re-proposes `batches`: requests proposed before but not re-proposed go
   *  back into the queue. */
  newView(batches: readonly (readonly ClientRequest[])[], now = 0): void {
    this.proposed.clear();
    for (const b of batches) for (const r of b) this.proposed.add(requestKey(r));
    this.unproposed.clear();
    for (const [key, p] of this.pending) if (!this.proposed.has(key)) this.unproposed.set(key, p);
    // A new leader gets a fresh allowance for everything pending.
    let ahead = 0;
    for (const w of this.waits.values()) {
      w.tick = now;
      w.batches = this.executedBatches;
      w.ahead = ahead++;
      w.relayed = false;
    }
  }

  /** Drops pending requests `isFresh` rejects (a state transfer executed them elsewhere). */
  dropStale(isFresh: (r: ClientRequest) => boolean): void {
    for (const k of [...this.pending.keys()]) {
      if (isFresh(this.pending.get(k)!.request)) continue;
      this.pending.delete(k);
      this.waits.delete(k);
      this.unproposed.delete(k);
    }
  }
}
