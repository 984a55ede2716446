// LedgerService: what a validator running the ledger app offers the ledger routes
// (api/ledger-routes.ts): submission, transactions by id, accounts, account history.
//
// The audit trail needs no new store record. Results and positions of every transaction are in
// the store's transaction index (kind 'tx', written with its block, so they survive restarts);
// the account-history index and the ledger-tx-id index are DERIVED from the committed blocks:
// rebuilt at start by reading the block log (kind 'block'), then extended by every commit and by
// every batch of blocks back-filled from peers (below a snapshot this validator caught up from:
// the back-fill observer's `stored`, after the write is durable). Both are in memory and
// bounded: ACCOUNT_HISTORY_MAX newest entries per account (older transactions stay retrievable
// by id; only the per-account listing forgets them) and LEDGER_IDS_MAX ledger tx ids (older ones
// are found by the API's transaction id). Which heights are indexed is kept as a few ranges.
//
// Balances are this validator's state at its committed height (`height` in each answer).

import {
  accountsOf,
  decodeLedgerTx,
  ledgerTxId,
  parseOutcome,
  toHex,
  type ClientRequest,
  type CommittedBatch,
  type CryptoBackend,
  type DecodedLedgerTx,
  type LedgerApp,
} from '@bpci/core';
import { CodecError } from '@bpci/core/codec/wire';
import type { LedgerAccountInfo, LedgerAccountProofView, LedgerApiPort, LedgerHistoryPage, LedgerInclusion, LedgerSummary, LedgerTxView } from '../api/ledger-routes.js';
import { ApiError, type NodeApiPort, type TransactionStatus } from '../api/port.js';
import type { Store } from '../storage/store.js';
import { silentLogger, type Logger } from '../log.js';
import { decodeBlock, txIdOf } from './records.js';
import type { NodeObserver, ValidatorNode } from './validator-node.js';

/** Newest entries kept per account in the history index. */
export const ACCOUNT_HISTORY_MAX = 4096;
/** Ledger tx ids remembered (oldest forgotten first). */
export const LEDGER_IDS_MAX = 200_000;
const SCAN_PAGE = 1024;

export interface Position {
  readonly height: number;
  readonly index: number;
}

export interface LedgerServiceOptions {
  readonly app: LedgerApp;
  readonly crypto: Pick<CryptoBackend, 'blake3'>;
  /** The node's store: the block log the index is rebuilt from. null: memory mode. */
  readonly store: Store | null;
  readonly logger?: Logger;
}

export class LedgerService implements LedgerApiPort {
  private node: ValidatorNode | null = null;
  private api!: NodeApiPort;
  /** Account hex -> positions, ascending. */
  private readonly byAccount = new Map<string, Position[]>();
  /** Ledger tx id -> positions, ascending (more than one: replays of the same bytes). */
  private readonly ledgerIds = new Map<string, Position[]>();
  /** Indexed heights as sorted, disjoint, non-adjacent inclusive ranges (usually one or two). */
  private readonly ranges: [number, number][] = [];
  private readonly log: Logger;

  constructor(private readonly opts: LedgerServiceOptions) {
    this.log = opts.logger ?? silentLogger;
    if (opts.store) this.rebuild(opts.store);
  }

  /** Call with the running node and the NodeApiPort (submission, the tx index) before traffic. */
  attach(node: ValidatorNode, api: NodeApiPort): void {
    this.node = node;
    this.api = api;
  }

  /** Wraps an observer so every commit and every back-filled batch also extends the index. */
  observe(inner: NodeObserver): NodeObserver {
    return {
      ...inner,
      committed: (b, at) => {
        inner.committed?.(b, at);
        this.onCommitted(b);
      },
      stored: (blocks) => {
        inner.stored?.(blocks);
        this.onBackfilled();
      },
    };
  }

  /** Indexes the blocks that appeared in the store inside the gaps below the indexed heights. */
  private onBackfilled(): void {
    const store = this.opts.store;
    if (!store) return;
    const gaps: [number, number][] = [];
    let next = 1;
    for (const [from, to] of this.ranges) {
      if (from > next) gaps.push([next, from - 1]);
      next = to + 1;
    }
    for (const [from, to] of gaps) {
      for (let start = from; start <= to; ) {
        const page = store.range('block', { start, end: to + 1, limit: SCAN_PAGE });
        for (const e of page) this.indexRecord(e);
        if (page.length < SCAN_PAGE) break;
        start = Number(page[page.length - 1]!.key) + 1;
      }
    }
  }

  private indexRecord(e: { readonly key: unknown; readonly value: Uint8Array }): boolean {
    try {
      const cert = decodeBlock(e.value);
      this.indexBlock(cert.prePrepare.seq, cert.prePrepare.batch);
      return true;
    } catch (err) {
      this.log.warn({ key: e.key, err: err instanceof Error ? err.message : String(err) }, 'ledger index: skipped an unreadable block record');
      return false;
    }
  }

  private covered(h: number): boolean {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid]![1] < h) lo = mid + 1;
      else hi = mid;
    }
    const r = this.ranges[lo];
    return r !== undefined && r[0] <= h;
  }

  private cover(h: number): void {
    // Find the first range ending at or after h - 1 (it may absorb h).
    let i = 0;
    while (i < this.ranges.length && this.ranges[i]![1] < h - 1) i++;
    const r = this.ranges[i];
    if (r === undefined || r[0] > h + 1) {
      this.ranges.splice(i, 0, [h, h]);
      return;
    }
    r[0] = Math.min(r[0], h);
    r[1] = Math.max(r[1], h);
    const n = this.ranges[i + 1];
    if (n !== undefined && n[0] <= r[1] + 1) {
      r[1] = Math.max(r[1], n[1]);
      this.ranges.splice(i + 1, 1);
    }
  }

  private rebuild(store: Store): void {
    let blocks = 0;
    for (let start = 1; ; ) {
      const page = store.range('block', { start, limit: SCAN_PAGE });
      for (const e of page) if (this.indexRecord(e)) blocks++;
      if (page.length < SCAN_PAGE) break;
      start = Number(page[page.length - 1]!.key) + 1;
    }
    if (blocks > 0) this.log.info({ blocks, accounts: this.byAccount.size, height: this.ranges[this.ranges.length - 1]?.[1] ?? 0 }, 'ledger index rebuilt from the block log');
  }

  private onCommitted(b: CommittedBatch): void {
    this.indexBlock(b.seq, b.requests);
  }

  private indexBlock(height: number, requests: readonly ClientRequest[]): void {
    if (this.covered(height)) return;
    this.cover(height);
    requests.forEach((r, index) => {
      let tx: DecodedLedgerTx;
      try {
        tx = decodeLedgerTx(r.op);
      } catch {
        return; // not a ledger transaction: committed as `malformed`, names no account
      }
      const pos = { height, index };
      for (const k of accountsOf(tx)) {
        const h = toHex(k);
        let list = this.byAccount.get(h);
        if (!list) this.byAccount.set(h, (list = []));
        insertSorted(list, pos);
        if (list.length > ACCOUNT_HISTORY_MAX) list.splice(0, list.length - ACCOUNT_HISTORY_MAX);
      }
      const id = ledgerTxId(this.opts.crypto, r.op);
      const at = this.ledgerIds.get(id);
      if (at) insertSorted(at, pos);
      else {
        this.ledgerIds.set(id, [pos]);
        if (this.ledgerIds.size > LEDGER_IDS_MAX) this.ledgerIds.delete(this.ledgerIds.keys().next().value!);
      }
    });
  }

  // ------------------------------------------------------------------ LedgerApiPort

  checkDecodes(tx: Uint8Array): void {
    try {
      decodeLedgerTx(tx);
    } catch (e) {
      throw new ApiError(400, 'bad_transaction', `body/tx is not a ledger transaction: ${e instanceof CodecError ? e.message : String(e)}`);
    }
  }

  async submit(tx: Uint8Array, opts: { readonly waitForCommit: boolean; readonly timeoutMs: number }): Promise<LedgerTxView> {
    const st = await this.api.submitTransaction({ payload: tx }, opts);
    return this.view(tx, st);
  }

  transaction(id: string): LedgerTxView | undefined {
    const positions = this.ledgerIds.get(id);
    if (positions) {
      const first = positions[0]!;
      const req = this.request(first.height, first.index);
      if (req) {
        const st = this.api.transactionStatus(txIdOf(this.opts.crypto, req));
        const v = this.view(req.op, st ?? { txId: txIdOf(this.opts.crypto, req), status: 'committed', height: first.height, index: first.index });
        return positions.length > 1 ? { ...v, inclusions: positions.map((p) => this.inclusion(p)) } : v;
      }
    }
    // An API transaction id (the request's), from the persisted tx index.
    const st = this.api.transactionStatus(id);
    if (!st) return undefined;
    const req = st.height !== undefined && st.index !== undefined ? this.request(st.height, st.index) : undefined;
    const op = req?.op ?? (st.payloadEncoding === 'hex' && st.payload !== undefined ? new Uint8Array(Buffer.from(st.payload, 'hex')) : undefined);
    if (op === undefined) return undefined;
    try {
      decodeLedgerTx(op);
    } catch {
      return undefined; // a committed transaction, but not a ledger one
    }
    return this.view(op, st);
  }

  account(publicKey: Uint8Array): LedgerAccountInfo | undefined {
    const a = this.opts.app.account(publicKey);
    if (!a) return undefined;
    const balances: Record<string, string> = {};
    const limits: Record<string, { perTxMax: string | null; outflowMax: string | null; outflowLeft: string | null }> = {};
    for (const e of a.assets) {
      balances[e.asset] = e.balance.toString();
      if (e.perTxMax !== null || e.outflowMax !== null) {
        limits[e.asset] = { perTxMax: e.perTxMax?.toString() ?? null, outflowMax: e.outflowMax?.toString() ?? null, outflowLeft: e.outflowLeft?.toString() ?? null };
      }
    }
    return { account: toHex(a.publicKey), nonce: a.nonce, height: this.height(), balances, limits };
  }

  history(publicKey: Uint8Array, opts: { readonly limit: number; readonly before?: Position }): LedgerHistoryPage | undefined {
    const h = toHex(publicKey);
    const list = this.byAccount.get(h);
    if (!list && !this.opts.app.account(publicKey)) return undefined;
    const all = list ?? [];
    // Entries strictly before the cursor, newest first.
    let end = all.length;
    if (opts.before) {
      const b = opts.before;
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const p = all[mid]!;
        if (p.height < b.height || (p.height === b.height && p.index < b.index)) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    const start = Math.max(0, end - opts.limit);
    const transactions: LedgerTxView[] = [];
    for (let i = end - 1; i >= start; i--) {
      const p = all[i]!;
      const req = this.request(p.height, p.index);
      if (!req) continue;
      const st = this.api.transactionStatus(txIdOf(this.opts.crypto, req));
      transactions.push(this.view(req.op, st ?? { txId: txIdOf(this.opts.crypto, req), status: 'committed', height: p.height, index: p.index }));
    }
    const oldest = all[start];
    return { account: h, transactions, ...(start > 0 && oldest ? { nextCursor: `${oldest.height}.${oldest.index}` } : {}), indexed: all.length };
  }

  summary(): LedgerSummary {
    const info = this.opts.app.info;
    return {
      chainId: info.chainId,
      mintAuthority: info.mintAuthority ? toHex(info.mintAuthority) : null,
      accounts: info.accounts,
      height: this.height(),
      stateDigest: toHex(this.opts.app.digest()),
      assets: info.supply.map((s) => ({ asset: s.asset, supply: s.supply.toString() })),
    };
  }

  accountProof(publicKey: Uint8Array): LedgerAccountProofView | undefined {
    const p = this.opts.app.accountProof(publicKey);
    if (!p) return undefined;
    return {
      account: toHex(publicKey),
      height: this.height(),
      stateDigest: toHex(this.opts.app.digest()),
      leaf: toHex(p.leaf),
      proof: { index: p.proof.index, leafCount: p.proof.leafCount, siblings: p.proof.siblings.map(toHex) },
    };
  }

  // ------------------------------------------------------------------ helpers

  private height(): number {
    return this.node?.replica.status().committedHeight ?? 0;
  }

  /** The committed request at (height, index), from memory or the block log. */
  private request(height: number, index: number): ClientRequest | undefined {
    const recent = this.node?.recentBlocks.get(height);
    if (recent) return recent.requests[index];
    const bytes = this.opts.store?.get('block', height);
    if (!bytes) return undefined;
    try {
      return decodeBlock(bytes).prePrepare.batch[index];
    } catch {
      return undefined;
    }
  }

  private inclusion(p: Position): LedgerInclusion {
    const req = this.request(p.height, p.index);
    const txId = req ? txIdOf(this.opts.crypto, req) : '';
    const st = req ? this.api.transactionStatus(txId) : undefined;
    const code = st?.result !== undefined ? (parseOutcome(st.result)?.code ?? null) : null;
    return { txId, height: p.height, index: p.index, code };
  }

  private view(op: Uint8Array, st: TransactionStatus): LedgerTxView {
    const tx = decodeLedgerTx(op);
    const outcome = st.result !== undefined ? parseOutcome(st.result) : null;
    const b = tx.body;
    const legs =
      b.kind === 'transfer' ? b.legs.map((l) => ({ from: toHex(l.from), to: toHex(l.to), asset: l.asset, amount: l.amount.toString() }))
      : b.kind === 'mint' ? b.legs.map((l) => ({ to: toHex(l.to), asset: l.asset, amount: l.amount.toString() }))
      : b.kind === 'burn' ? b.legs.map((l) => ({ from: toHex(tx.signer), asset: l.asset, amount: l.amount.toString() }))
      : [];
    return {
      txId: st.txId,
      ledgerTxId: ledgerTxId(this.opts.crypto, op),
      status: st.status,
      ...(st.height !== undefined ? { height: st.height, index: st.index } : {}),
      ...(st.committedAt !== undefined ? { committedAt: st.committedAt } : {}),
      ...(st.result !== undefined ? { result: st.result } : {}),
      ...(outcome ? { code: outcome.code, detail: outcome.detail } : {}),
      ...(st.resultKnown !== undefined ? { resultKnown: st.resultKnown } : {}),
      kind: b.kind,
      chainId: tx.chainId,
      signer: toHex(tx.signer),
      nonce: tx.nonce,
      cosigners: tx.cosignatures.map((c) => toHex(c.publicKey)),
      legs,
      ...(b.kind === 'configure'
        ? { account: toHex(b.account), limits: b.limits.map((l) => ({ asset: l.asset, perTxMax: l.perTxMax?.toString() ?? null, outflowMax: l.outflowMax?.toString() ?? null })) }
        : {}),
    };
  }
}

/** Inserts p into positions sorted by (height, index); appending is the common case. */
function insertSorted(list: Position[], p: Position): void {
  const before = (a: Position, b: Position): boolean => a.height < b.height || (a.height === b.height && a.index < b.index);
  const last = list[list.length - 1];
  if (last === undefined || before(last, p)) {
    list.push(p);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid]!, p)) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, p);
}
