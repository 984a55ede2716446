// The replicated state: the application plus the client session table, which together make
// execution exactly-once by (session, requestSeq); a session is sessionOf(request), the
// client's key and its clientId (kit/client-auth.ts).
//
// Contract: a request executes only when its requestSeq is above the client's last executed
// one; the last one gets its cached result again; older ones get an empty "stale" result.
// The session table is part of the snapshot, so a replica restored from a checkpoint keeps
// the exactly-once guarantee. stateDigest = blake3(snapshot()).
//
// The table is bounded (SESSION_LIMITS: sessions and their bytes), or a client minting fresh ids
// would grow the state until checkpoints no longer fit a state transfer. Over a bound, whole
// groups of sessions last updated by the same batch go, oldest batch first: every replica holds
// the same table, so every replica evicts the same sessions. The price: exactly-once holds for a
// client while its session is kept; a duplicate of an evicted client's request that arrives after
// more than SESSION_LIMITS.sessionsMax newer sessions would execute again.

import type { CryptoBackend } from '../crypto/backend.js';
import { CodecError, Reader, Writer } from '../codec/wire.js';
import { CODEC_LIMITS } from '../codec/codec.js';
import { REPLICA_BOUNDS } from '../kit/bounds.js';
import { sessionOf } from '../kit/client-auth.js';
import type { ClientRequest, Digest, StateMachine } from './types.js';

export interface Session {
  readonly requestSeq: number;
  /** Sequence number of the batch that executed it. */
  readonly seq: number;
  readonly result: Uint8Array;
}

const SESSIONS_MAX = REPLICA_BOUNDS.sessionsDecodeMax;

/** Bounds on the session table. Part of the state machine: identical on every validator. */
export const SESSION_LIMITS = { sessionsMax: 100_000, bytesMax: 32 * 1024 * 1024 } as const;

/** Bytes a session counts against bytesMax (an upper bound of its snapshot encoding). */
function sessionCost(id: string, s: Session): number {
  return 4 + id.length * 3 + 8 + 8 + 4 + s.result.length;
}
const APP_SNAPSHOT_BYTES_MAX = CODEC_LIMITS.snapshotBytesMax;
const STALE = new Uint8Array(0);

export class ReplicatedState {
  /** In order of last update (so by the seq that last updated each session, ascending). */
  private sessions = new Map<string, Session>();
  private sessionBytes = 0;
  /** Sessions evicted by the bounds so far (not part of the state). */
  evictedSessions = 0;

  constructor(
    readonly app: StateMachine,
    private readonly crypto: Pick<CryptoBackend, 'blake3'>,
    private readonly limits: { readonly sessionsMax: number; readonly bytesMax: number } = SESSION_LIMITS,
  ) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The session's last executed request; `session` as sessionOf(request). */
  session(session: string): Session | undefined {
    return this.sessions.get(session);
  }

  /** True when this request would execute (not a duplicate or stale). */
  isFresh(r: ClientRequest): boolean {
    const s = this.sessions.get(sessionOf(r));
    return s === undefined || r.requestSeq > s.requestSeq;
  }

  /**
   * Execute one committed batch at `seq`; one result per request. Requests are taken in batch
   * order: a duplicate of the client's latest request (from an earlier batch or earlier in this
   * one) gets that request's result; anything older gets an empty result.
   */
  execute(seq: number, requests: readonly ClientRequest[]): Uint8Array[] {
    const results = new Array<Uint8Array>(requests.length);
    const freshIdx: number[] = [];
    /** Per client: latest requestSeq so far and where its result comes from (batch index or -1). */
    const latest = new Map<string, { requestSeq: number; index: number }>();
    const dupOf = new Array<number>(requests.length).fill(-2); // -2 fresh/stale, -1 session, >=0 batch index
    const ids = requests.map(sessionOf);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const id = ids[i]!;
      const cur = latest.get(id) ?? { requestSeq: this.sessions.get(id)?.requestSeq ?? 0, index: -1 };
      if (r.requestSeq > cur.requestSeq) {
        freshIdx.push(i);
        latest.set(id, { requestSeq: r.requestSeq, index: i });
      } else if (r.requestSeq === cur.requestSeq) {
        dupOf[i] = cur.index;
      }
    }
    const out = this.app.execute(freshIdx.map((i) => requests[i]!.op));
    if (out.length !== freshIdx.length) {
      throw new Error(`StateMachine.execute returned ${out.length} results for ${freshIdx.length} ops`);
    }
    for (let i = 0; i < requests.length; i++) {
      const dup = dupOf[i]!;
      if (dup === -1) results[i] = this.sessions.get(ids[i]!)!.result;
      else if (dup === -2) results[i] = STALE;
    }
    freshIdx.forEach((i, k) => {
      results[i] = out[k]!;
      const r = requests[i]!;
      const id = ids[i]!;
      const old = this.sessions.get(id);
      if (old !== undefined) {
        this.sessionBytes -= sessionCost(id, old);
        this.sessions.delete(id); // re-inserted at the end: the map stays in seq order
      }
      const s: Session = { requestSeq: r.requestSeq, seq, result: out[k]! };
      this.sessions.set(id, s);
      this.sessionBytes += sessionCost(id, s);
    });
    for (let i = 0; i < requests.length; i++) if (dupOf[i]! >= 0) results[i] = results[dupOf[i]!]!;
    this.evict(seq);
    return results;
  }

  /** Over a bound: drop the sessions of the oldest batch, repeatedly; never the batch at `seq`. */
  private evict(seq: number): void {
    while (this.sessions.size > this.limits.sessionsMax || this.sessionBytes > this.limits.bytesMax) {
      const first = this.sessions.values().next();
      if (first.done === true || first.value.seq >= seq) return;
      const oldest = first.value.seq;
      for (const [id, s] of this.sessions) {
        if (s.seq !== oldest) break;
        this.sessions.delete(id);
        this.sessionBytes -= sessionCost(id, s);
        this.evictedSessions++;
      }
    }
  }

  snapshot(): Uint8Array {
    const ids = [...this.sessions.keys()].sort();
    const w = new Writer(256 + ids.length * 64);
    w.u32(ids.length);
    for (const id of ids) {
      const s = this.sessions.get(id)!;
      w.string(id, CODEC_LIMITS.sessionBytesMax);
      w.u53(s.requestSeq);
      w.u53(s.seq);
      w.bytes(s.result, CODEC_LIMITS.resultBytesMax);
    }
    w.bytes(this.app.snapshot(), APP_SNAPSHOT_BYTES_MAX);
    return w.finish();
  }

  restore(snapshot: Uint8Array): void {
    const r = new Reader(snapshot);
    const n = r.count(SESSIONS_MAX, 4 + 8 + 8 + 4, 'sessions');
    const next = new Map<string, Session>();
    let prev: string | null = null;
    for (let i = 0; i < n; i++) {
      const id = r.string(CODEC_LIMITS.sessionBytesMax, 'session');
      if (prev !== null && !(prev < id)) throw new CodecError('not-canonical', 'session ids must be strictly sorted');
      const requestSeq = r.u53('requestSeq');
      const seq = r.u53('seq');
      const result = r.bytes(CODEC_LIMITS.resultBytesMax, 'result');
      next.set(id, { requestSeq, seq, result });
      prev = id;
    }
    const app = r.bytes(APP_SNAPSHOT_BYTES_MAX, 'app snapshot');
    r.end();
    this.app.restore(app);
    // The snapshot lists sessions by id; the live table keeps them by the seq that last updated
    // them (what eviction walks). Ties within one seq are evicted together, so their order is moot.
    const bySeq = [...next].sort((a, b) => a[1].seq - b[1].seq || (a[0] < b[0] ? -1 : 1));
    this.sessions = new Map(bySeq);
    this.sessionBytes = bySeq.reduce((sum, [id, s]) => sum + sessionCost(id, s), 0);
  }

  digestOf(snapshot: Uint8Array): Digest {
    return this.crypto.blake3(snapshot);
  }
}
