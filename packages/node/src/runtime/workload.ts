// Closed-loop client workloads against a running cluster, and the cross-validator log check.
// Used by `npm start`, the multi-process benchmark and the cluster tests.

import { performance } from 'node:perf_hooks';
import { ReplySignatureCache, type CryptoBackend } from '@bpci/core';
import { BpciClient, type ClientValidator } from '../client/client.js';

export interface WorkloadOptions {
  readonly validators: readonly ClientValidator[];
  readonly crypto: CryptoBackend;
  readonly clients: number;
  /** Measured requests per client (after warm-up). */
  readonly requestsPerClient: number;
  readonly warmupPerClient?: number;
  /** Client ids are `${clientPrefix}-${i}`; a fresh prefix per run keeps sessions apart. */
  readonly clientPrefix: string;
  /** The op for request k of client c. */
  readonly op?: (client: number, k: number) => Uint8Array;
  /** Whether the agreed result of request k of client c is a success (default: every result is); others count in `rejected`. */
  readonly resultOk?: (client: number, k: number, result: Uint8Array) => boolean;
  readonly verifyReplies?: boolean;
  readonly onProgress?: (done: number) => void;
  readonly timeoutMs?: number;
}

export interface WorkloadResult {
  /** Per-request latency, ms, measured requests only. */
  readonly latenciesMs: Float64Array;
  readonly requests: number;
  readonly seconds: number;
  readonly throughputRps: number;
  readonly failures: number;
  /** Committed, measured requests whose result resultOk refused (e.g. a ledger reason code). */
  readonly rejected: number;
  /** The first refused result, as text, when there is one. */
  readonly firstRejection?: string;
}

const enc = new TextEncoder();
const defaultOp = (c: number, k: number): Uint8Array => enc.encode(k % 4 === 3 ? `transfer acct${c} acct${(c + 1) % 97} 1` : `add acct${c} 10`);

export async function runClosedLoop(o: WorkloadOptions): Promise<WorkloadResult> {
  const op = o.op ?? defaultOp;
  // One client process: its clients share verified batch signatures.
  const replyCache = new ReplySignatureCache(4096);
  const clients = await Promise.all(
    Array.from({ length: o.clients }, (_, i) =>
      BpciClient.connect({ clientId: `${o.clientPrefix}-${i}`, validators: o.validators, crypto: o.crypto, verifyReplies: o.verifyReplies ?? true, timeoutMs: o.timeoutMs ?? 30_000, replyCache }),
    ),
  );
  const warm = o.warmupPerClient ?? 0;
  const lat = new Float64Array(o.clients * o.requestsPerClient);
  let filled = 0;
  let failures = 0;
  let rejected = 0;
  let firstRejection: string | undefined;
  let done = 0;
  try {
    await Promise.all(
      clients.map(async (cl, c) => {
        for (let k = 0; k < warm; k++) await cl.submit(op(c, k));
      }),
    );
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (cl, c) => {
        for (let k = 0; k < o.requestsPerClient; k++) {
          const s = performance.now();
          try {
            const r = await cl.submit(op(c, warm + k));
            lat[filled++] = performance.now() - s;
            if (o.resultOk && !o.resultOk(c, warm + k, r.result)) {
              rejected++;
              firstRejection ??= new TextDecoder().decode(r.result);
            }
          } catch {
            failures++;
          }
          done++;
          if ((done & 63) === 0) o.onProgress?.(done);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    o.onProgress?.(done);
    return { latenciesMs: lat.subarray(0, filled), requests: filled, seconds, throughputRps: filled / seconds, failures, rejected, ...(firstRejection !== undefined ? { firstRejection } : {}) };
  } finally {
    for (const cl of clients) cl.close();
  }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export function summarize(latenciesMs: Float64Array): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(latenciesMs).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return { p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), max: s[s.length - 1] ?? NaN, mean: sum / Math.max(1, s.length) };
}

/** GET /api/v1/blocks/:height answers the block itself (or { block, proof } with ?tx=). */
interface BlockJson {
  digest?: string;
  merkle_root?: string;
}

/**
 * Waits until every API reports the same committed height, then compares every block's digest
 * and Merkle root across validators. Returns the height and the first mismatch, if any.
 *
 * A validator that caught up from a peer's stable checkpoint (after a restart, or after lagging
 * behind the watermark window) restored a snapshot instead of replaying the blocks it covers, so
 * it may lack those blocks (404). That is not a mismatch when the height is at or below its own
 * stable checkpoint; every block must still be held by some validator, and every validator that
 * holds it must hold the same one. opts.retainedBlocks limits the comparison to the last that many
 * heights (memory-mode validators keep only BLOCK_INDEX_MAX recent blocks).
 */
export async function checkSameLog(
  apiUrls: readonly string[],
  opts: { waitMs?: number; concurrency?: number; retainedBlocks?: number } = {},
): Promise<{ height: number; fromHeight: number; mismatch: string | null }> {
  const states = async (): Promise<{ committed: number; stable: number }[]> =>
    Promise.all(
      apiUrls.map(async (u) => {
        const r = await fetch(`${u}/api/v1/consensus/ibft/state`);
        const j = (await r.json()) as { last_committed_sequence?: number; last_stable_checkpoint?: number };
        return { committed: j.last_committed_sequence ?? -1, stable: j.last_stable_checkpoint ?? 0 };
      }),
    );
  const end = Date.now() + (opts.waitMs ?? 10_000);
  let st = await states();
  const differ = (): boolean => new Set(st.map((s) => s.committed)).size > 1;
  while (differ() && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    st = await states();
  }
  if (differ()) return { height: Math.min(...st.map((s) => s.committed)), fromHeight: 1, mismatch: `committed heights differ: ${st.map((s) => s.committed).join(', ')}` };
  const height = st[0]!.committed;
  // Validators without a store (memory mode) serve only their most recent blocks: with
  // retainedBlocks the comparison covers that window, and fromHeight says where it started.
  const fromHeight = opts.retainedBlocks === undefined ? 1 : Math.max(1, height - opts.retainedBlocks + 1);
  let next = fromHeight;
  let mismatch: string | null = null;
  const worker = async (): Promise<void> => {
    while (mismatch === null) {
      const h = next++;
      if (h > height) return;
      const answers = await Promise.all(
        apiUrls.map(async (u) => {
          const r = await fetch(`${u}/api/v1/blocks/${h}`);
          return { status: r.status, json: (await r.json()) as BlockJson & { message?: string } };
        }),
      );
      let first: BlockJson | undefined;
      answers.forEach((a, i) => {
        if (mismatch !== null) return;
        if (a.status === 404 && h <= st[i]!.stable) return; // covered by the snapshot it restored
        if (a.status !== 200 || !a.json.digest) {
          mismatch = `block ${h} missing at ${apiUrls[i]} (${a.status} ${JSON.stringify(a.json).slice(0, 300)})`;
          return;
        }
        first ??= a.json;
        if (a.json.digest !== first.digest || a.json.merkle_root !== first.merkle_root) mismatch = `block ${h} differs at ${apiUrls[i]}`;
      });
      if (mismatch === null && first === undefined) mismatch = `block ${h} held by no validator`;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, worker));
  return { height, fromHeight, mismatch };
}
