// The validator runtime: drives one sans-IO PBFT replica with real IO.
//
//   transport (authenticated TCP) --message--> replica.step --Output--> this runtime
//   client port (TCP)             --request--^                          |
//   tick timer (tickMs)           --tick-----^                          |
//   verify jobs -> crypto pool    --verified-^                          |
//
// For every Output, in the order the replica contract asks (core consensus/types.ts):
// safety records ('vote', 'view', 'prepared') go to the safety log (safety-log.ts, a
// write-ahead log with one fdatasync per group) and sendAfterPersist waits until every safety
// record appended so far is durable; block records ('committed', 'checkpoint', with the tx
// index) join the LMDB group commit, which gates no message (a crash that loses them leaves
// this validator behind, and it catches up; the simulator's disk model is the same); send and
// replies go at once; commits update the block index; verify jobs run in the pool (or inline
// when small). A stable checkpoint durable in LMDB lets the safety log drop what it covers.
// In memory mode (durability 'memory') nothing is written and signed messages leave at once: for
// benchmarks only, and said so at start.
//
// Bounds: the group commit holds at most GROUP_RECORDS_MAX records (beyond, the next flush starts
// as soon as the current one lands), the block index keeps BLOCK_INDEX_MAX recent blocks in
// memory (older ones are read from the store), and every queue in the transport and client
// port is bounded there.
//
// Block back-fill (backfill.ts): 'blocks-request' and 'blocks' messages are the runtime's, not
// the replica's: they are answered from the block store (BlocksServer, rate-limited per peer) and
// fed to BlockBackfill, which the tick drives after the replica's tick and which writes below the
// stable checkpoint only when this group commit leaves room (see writeState()).

import { performance } from 'node:perf_hooks';
import {
  sessionOf,
  signRequest,
  createPbftReplica,
  decodeMessage,
  encodeMessage,
  KvApp,
  ValidatorSet,
  type BlocksRequest,
  type ClientRequest,
  type CommittedBatch,
  type CryptoBackend,
  type Envelope,
  type Input,
  type Message,
  type Output,
  type PbftConfig,
  type PbftReplica,
  type ReplicaEvent,
  type SignedItemRef,
  type StableCheckpoint,
  type StateMachine,
  type VerifyJob,
} from '@bpci/core';
import { Transport, type TransportObserver, type TransportLimits } from '../transport/transport.js';
import type { Store, StoreRecord } from '../storage/store.js';
import type { CryptoPool } from '../crypto/pool.js';
import { silentLogger, type Logger } from '../log.js';
import { ClientServer } from './client-server.js';
import { loadRestoredState, toStoreRecords, type TxIndexing } from './records.js';
import { isSafetyRecord, type SafetyLog, type SafetyRecord } from './safety-log.js';
import { BlockBackfill, BlocksServer, memoryBlockSource, storeBlockSource, type BackfillLimits, type BackfillObserver } from './backfill.js';
import { MAC_BYTES } from '../transport/link-crypto.js';

export interface ValidatorAddress {
  readonly publicKey: Uint8Array;
  readonly stake: number;
  readonly host: string;
  readonly port: number;
  /** The validator's id as in the config (e.g. "validator-003"): how log lines name it. Default: its index. */
  readonly name?: string;
}

/** Hooks for metrics and the API; every one is optional and must not throw. */
export interface NodeObserver extends TransportObserver, BackfillObserver {
  committed?(batch: CommittedBatch, atMs: number): void;
  event?(e: ReplicaEvent): void;
  /** An LMDB group commit (blocks, checkpoints, tx index) landed: `records` in `ms`. */
  persisted?(records: number, ms: number): void;
  /**
   * Safety-log records became durable: `appends` of them in `ms`; `gating` when a signed message
   * waited for them (a synchronous write on the critical path).
   */
  safetySynced?(appends: number, ms: number, gating: boolean): void;
  /** A verify job finished: `signed[i]` was checked, `valid[i]` is 1 when its signature is good. */
  verified?(items: number, invalid: number, ms: number, signed: readonly SignedItemRef[], valid: Uint8Array): void;
  decodeFailed?(from: number, error: string): void;
  clientRejected?(reason: string): void;
  /** Every decoded message from an authenticated peer, before the replica sees it. */
  inbound?(from: number, message: Message): void;
  /** Every envelope this validator sends (after persist, for signed ones). */
  outbound?(e: Envelope): void;
  /** A message was not sent: `bytes` exceed the transport's frame limit. */
  oversizeDropped?(kind: Message['kind'], bytes: number): void;
  /** A peer's blocks request was answered (with `blocks` blocks) or dropped over its rate. */
  blocksServed?(result: 'served' | 'throttled', blocks: number): void;
}

export interface ValidatorNodeOptions {
  readonly index: number;
  /** Active validators by replica index. */
  readonly validators: readonly ValidatorAddress[];
  readonly seed32: Uint8Array;
  readonly crypto: CryptoBackend;
  readonly pool?: CryptoPool | null;
  /** null: memory mode (no persistence, benchmarks only). */
  readonly store: Store | null;
  /**
   * The safety log and the records read back from it (openSafetyLog); required with a store.
   * The node closes it on stop.
   */
  readonly safety?: { readonly log: SafetyLog; readonly records: readonly SafetyRecord[] } | null;
  readonly listen: { readonly host: string; readonly port: number };
  /** Client request port; null: requests come only through step() (the HTTP API). */
  readonly clientListen: { readonly host: string; readonly port: number } | null;
  /** node.client_port: TLS for the client port and the token each connection sends first. */
  readonly clientTls?: { readonly cert: string; readonly key: string };
  readonly clientToken?: string;
  readonly pbft?: Partial<PbftConfig>;
  readonly tickMs?: number;
  /** Longest wait at start for links to a quorum before logical time starts (default 3 s). */
  readonly startupLinkWaitMs?: number;
  readonly transportLimits?: Partial<TransportLimits>;
  readonly logger?: Logger;
  readonly observer?: NodeObserver;
  readonly app?: StateMachine;
  /**
   * Longest wait before block records (blocks, checkpoints' neighbours, the tx index) are group
   * committed to LMDB (default DEFAULT_BLOCK_FLUSH_MS; 0: every turn). Nothing waits for them.
   */
  readonly blockFlushMs?: number;
  /** Block back-fill bounds (backfill.ts BACKFILL_DEFAULTS); back-fill runs only with a store. */
  readonly backfill?: Partial<BackfillLimits>;
  /** Runs after the peer and client ports are bound and before any peer is dialed (the node binds its HTTP API here). */
  readonly beforeLinks?: (node: ValidatorNode) => Promise<void>;
}

const GROUP_RECORDS_MAX = 8192;
export const DEFAULT_BLOCK_FLUSH_MS = 10;
/** Recent committed blocks kept in memory (all a memory-mode validator can serve). */
export const BLOCK_INDEX_MAX = 4096;
export const DEFAULT_TICK_MS = 10;
const STARTUP_LINK_WAIT_MS = 3_000;

export class ValidatorNode {
  readonly index: number;
  readonly validatorSet: ValidatorSet;
  readonly replica: PbftReplica;
  readonly transport: Transport;
  readonly clients: ClientServer | null;
  readonly app: StateMachine;
  /** Fetches blocks missing below a snapshot this validator caught up from; null in memory mode. */
  readonly backfill: BlockBackfill | null;
  private readonly blocksServer: BlocksServer;
  readonly startedAtMs = Date.now();
  private readonly log: Logger;
  private readonly obs: NodeObserver;
  private tickTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Set when a group commit failed (the node then stops: it must not send unpersisted votes). */
  persistError: string | null = null;
  /** Messages not sent because they exceed the transport's frame limit. */
  oversizeDropped = 0;
  private readonly txIndexing: TxIndexing;

  // LMDB group commit state
  private groupRecords: StoreRecord[] = [];
  /** Stable checkpoints in groupRecords: once durable, the safety log may drop what they cover. */
  private groupCheckpoints: StableCheckpoint[] = [];
  private flushing = false;
  private flushScheduled = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly blockFlushMs: number;
  /** Signed messages waiting for the safety log, in order, each with the LSN it waits for. */
  private readonly gated: { lsn: number; envelopes: readonly Envelope[] }[] = [];
  private readonly safetyLog: SafetyLog | null;
  /** Verification jobs waiting for this turn's batch call (see runVerify). */
  private verifyCritical: VerifyJob[] = [];
  private verifyBackground: VerifyJob[] = [];
  private verifyFlushScheduled = false;

  /** Recent committed batches by seq (the API's block view); older ones come from the store. */
  readonly recentBlocks = new Map<number, CommittedBatch>();
  /**
   * The key this validator signs client requests with when it submits them for someone else
   * (the HTTP API): a seed derived from its own, never its validator key. Its sessions are
   * "<clientId>@<hex agentKey>"; the other validators check these signatures like any client's.
   */
  private readonly agentSeed: Uint8Array;
  readonly agentKey: Uint8Array;
  /** Listeners waiting for a (session#requestSeq) to execute at this validator. */
  private readonly waiters = new Map<string, ((b: CommittedBatch, index: number) => void)[]>();
  committedCount = 0;
  requestsCommitted = 0;

  private constructor(private readonly opts: ValidatorNodeOptions) {
    this.index = opts.index;
    this.agentSeed = opts.crypto.blake3(new Uint8Array([...new TextEncoder().encode('bpci/api-agent/v1'), ...opts.seed32]));
    this.agentKey = opts.crypto.ed25519PublicKey(this.agentSeed);
    this.log = opts.logger ?? silentLogger;
    this.obs = opts.observer ?? {};
    this.txIndexing = { crypto: opts.crypto, now: Date.now };
    this.validatorSet = new ValidatorSet(opts.validators.map((v) => ({ publicKey: v.publicKey, stake: v.stake })));
    this.app = opts.app ?? new KvApp(opts.crypto);
    if (opts.store && !opts.safety) throw new Error('a validator with a store needs its safety log (openSafetyLog)');
    this.blockFlushMs = opts.blockFlushMs ?? DEFAULT_BLOCK_FLUSH_MS;
    this.safetyLog = opts.store && opts.safety ? opts.safety.log : null;
    if (this.safetyLog) {
      this.safetyLog.observer = { synced: (appends, ms, gating) => this.obs.safetySynced?.(appends, ms, gating) };
    }
    const restored = opts.store ? loadRestoredState(opts.store, opts.safety?.records ?? []) : null;
    if (restored) {
      this.log.info(
        { view: restored.view, checkpoint: restored.checkpoint?.seq ?? 0, blocks: restored.committed.length, votes: restored.votes.length, prepared: restored.prepared.length },
        'restored from store; catching up before voting',
      );
    }
    this.replica = createPbftReplica({
      id: opts.index,
      validators: this.validatorSet,
      seed32: opts.seed32,
      crypto: opts.crypto,
      app: this.app,
      config: opts.pbft,
      ...(restored ? { restored } : {}),
    });
    const peers = opts.validators
      .map((v, id) => ({ id, host: v.host, port: v.port, publicKey: v.publicKey, ...(v.name !== undefined ? { name: v.name } : {}) }))
      .filter((p) => p.id !== opts.index);
    this.transport = new Transport({
      selfId: opts.index,
      listen: opts.listen,
      peers,
      identitySeed32: opts.seed32,
      crypto: opts.crypto,
      ...(opts.transportLimits ? { limits: opts.transportLimits } : {}),
      onMessage: (from, payload) => this.onPeerMessage(from, payload),
      logger: this.log,
      observer: this.obs,
    });
    this.blocksServer = new BlocksServer({
      self: opts.index,
      source: opts.store ? storeBlockSource(opts.store) : memoryBlockSource(this.recentBlocks),
      frameBytesMax: this.transport.limits.frameBytesMax - MAC_BYTES,
      logger: this.log,
    });
    const store = opts.store;
    this.backfill = store
      ? new BlockBackfill({
          self: opts.index,
          validators: this.validatorSet,
          crypto: opts.crypto,
          store,
          peers: peers.map((p) => p.id),
          connected: (peer) => this.transport.isConnected(peer),
          send: (peer, bytes) => {
            this.transport.send(peer, bytes);
          },
          // The newest stable checkpoint in the store: every block record at or below it was
          // written in the same group commit or an earlier one, so it is in the store now or was
          // never written (covered by a snapshot). Above it, records may still be in flight.
          floor: () => store.lastNumericKey('checkpoint') ?? 0,
          // Not while the replica catches up itself (its state transfer comes first).
          ready: () => this.replica.status().mode === 'normal',
          writeState: () => this.writeState(),
          logger: this.log,
          observer: this.obs,
          ...(opts.backfill ? { limits: opts.backfill } : {}),
        })
      : null;
    this.clients = opts.clientListen
      ? new ClientServer({
          host: opts.clientListen.host,
          port: opts.clientListen.port,
          ...(opts.clientTls ? { tls: opts.clientTls } : {}),
          ...(opts.clientToken !== undefined ? { token: opts.clientToken } : {}),
          onRequest: (request) => this.step({ kind: 'request', request }),
          onReject: (reason) => this.obs.clientRejected?.(reason),
        })
      : null;
  }

  static async start(opts: ValidatorNodeOptions): Promise<ValidatorNode> {
    const node = new ValidatorNode(opts);
    // Every port binds before any link is dialed: a second copy of this validator (its ports
    // taken) fails here, before it dials a peer and replaces the live copy's links (issue 13 §2).
    try {
      await node.transport.listen();
      await node.clients?.start();
      await opts.beforeLinks?.(node);
    } catch (e) {
      await node.stop();
      throw e;
    }
    node.transport.connect();
    // Logical time starts once this validator can hear a quorum (or after a grace period): a
    // replica that ticks while its links are still coming up would time out on a primary it
    // simply cannot hear yet and wander into a view change alone.
    await node.waitForLinks(opts.startupLinkWaitMs ?? STARTUP_LINK_WAIT_MS);
    const tickMs = opts.tickMs ?? DEFAULT_TICK_MS;
    node.tickTimer = setInterval(() => {
      node.step({ kind: 'tick' });
      node.backfill?.tick();
    }, tickMs);
    if (!opts.store) node.log.warn({}, 'memory mode: nothing is persisted; signed messages leave before any write (benchmarks only)');
    const f = faultToleranceOf(node.validatorSet);
    if (f === 0) {
      node.log.warn(
        { validators: opts.validators.length, fault_tolerance: 0 },
        `fault tolerance f = 0: ${opts.validators.length} validator(s) tolerate no faulty or crashed validator (a quorum needs every one of them here); run 3f+1 >= 4 for f >= 1`,
      );
    }
    node.log.info({ index: opts.index, listen: opts.listen, clients: opts.clientListen, crypto: opts.crypto.name }, 'validator started');
    return node;
  }

  /** How log lines name validator `i`: its config id when known, else its index. */
  private peerName(i: number): string | number {
    return this.opts.validators[i]?.name ?? i;
  }

  /** Peers this validator has an authenticated link with. */
  connectedPeers(): number {
    let n = 0;
    for (let id = 0; id < this.opts.validators.length; id++) if (id !== this.index && this.transport.isConnected(id)) n++;
    return n;
  }

  private async waitForLinks(maxMs: number): Promise<void> {
    // Links to peers holding, with our own power, a quorum of voting power.
    const enough = (): boolean => {
      let power = this.validatorSet.validators[this.index]!.stake;
      for (let id = 0; id < this.opts.validators.length; id++) {
        if (id !== this.index && this.transport.isConnected(id)) power += this.validatorSet.validators[id]!.stake;
      }
      return power >= this.validatorSet.quorumPower;
    };
    const end = Date.now() + maxMs;
    while (!enough() && Date.now() < end && !this.stopped) await new Promise((r) => setTimeout(r, 5));
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get durable(): boolean {
    return this.opts.store !== null && this.opts.store.durable;
  }

  get store(): Store | null {
    return this.opts.store;
  }

  /** Feeds one input to the replica and carries out what it asks. */
  step(input: Input): void {
    if (this.stopped) return;
    let out: Output;
    try {
      out = this.replica.step(input);
    } catch (e) {
      // A replica assertion is a bug, not bad input: log loudly and stop feeding this input.
      this.log.error({ err: e instanceof Error ? e.message : String(e), input: input.kind }, 'replica step failed');
      return;
    }
    this.handle(out);
  }

  private handle(out: Output): void {
    const store = this.opts.store;
    const safety = this.safetyLog;
    if (out.persist.length > 0 && store && safety) {
      const blockRecords = out.persist.filter((r) => !isSafetyRecord(r));
      if (blockRecords.length > 0) {
        for (const r of toStoreRecords(blockRecords, this.index, store, this.txIndexing)) this.groupRecords.push(r);
        for (const r of blockRecords) if (r.kind === 'checkpoint') this.groupCheckpoints.push(r.checkpoint);
      }
      if (blockRecords.length < out.persist.length) {
        let lsn: number;
        try {
          lsn = safety.append(out.persist);
        } catch (e) {
          this.failPersist(e);
          return;
        }
        // Tell the replica when this output's safety records are durable (its SafetyRules then
        // lets votes a durable reservation covers leave at once).
        const token = out.persistToken;
        if (token !== undefined) {
          safety.waitFor(lsn).then(
            () => this.step({ kind: 'persisted', token }),
            () => undefined, // the failure is handled where messages wait (failPersist)
          );
        }
      }
    }
    if (out.sendAfterPersist.length > 0) {
      const lsn = safety ? safety.appendedLsn : 0;
      if (safety && (this.gated.length > 0 || lsn > safety.durableLsn)) {
        // Behind every message already waiting, so signed messages leave in the order made.
        this.gated.push({ lsn, envelopes: out.sendAfterPersist });
        safety.waitFor(lsn).then(
          () => this.releaseGated(),
          (e: unknown) => this.failPersist(e),
        );
      } else {
        for (const e of out.sendAfterPersist) this.deliver(e);
      }
    }
    if (this.groupRecords.length > 0) this.scheduleFlush();
    for (const e of out.send) this.deliver(e);
    for (const e of out.replies) this.deliver(e);
    for (const b of out.commit) this.onCommitted(b);
    for (const ev of out.events) this.onEvent(ev);
    for (const job of out.verify) this.runVerify(job);
  }

  /** Delivers the waiting signed messages whose safety records are durable, in order. */
  private releaseGated(): void {
    const safety = this.safetyLog;
    if (!safety || this.stopped) return;
    while (this.gated.length > 0 && this.gated[0]!.lsn <= safety.durableLsn) {
      for (const e of this.gated.shift()!.envelopes) this.deliver(e);
    }
  }

  /** A durable write failed: without its record we must not send what we signed, so stop. */
  private failPersist(e: unknown): void {
    if (this.persistError !== null) return;
    this.persistError = e instanceof Error ? e.message : String(e);
    this.log.error({ err: this.persistError }, 'persist failed; stopping to stay safe');
    this.gated.length = 0;
    void this.stop();
  }

  /** For back-fill writes: 'idle' = no group commit pending or running; 'turn-free' = none queued for this turn. */
  private writeState(): 'idle' | 'turn-free' | 'busy' {
    if (this.groupRecords.length > 0 || this.flushScheduled) return 'busy';
    return this.flushing ? 'turn-free' : 'idle';
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    // Block records gate no message, so their group commit may wait: one LMDB transaction and
    // fsync per blockFlushMs instead of one per turn, so that LMDB's flushes get less in the way
    // of the safety log's fdatasync on the same disk. A checkpoint, or a full group, goes at once
    // (the safety log prunes only what a durable checkpoint covers).
    const now = this.groupCheckpoints.length > 0 || this.groupRecords.length >= GROUP_RECORDS_MAX || this.blockFlushMs === 0;
    if (this.flushScheduled) {
      if (!now || this.flushTimer === null) return;
      clearTimeout(this.flushTimer);
    }
    this.flushScheduled = true;
    const run = (): void => {
      this.flushScheduled = false;
      this.flushTimer = null;
      void this.flush();
    };
    if (now) {
      this.flushTimer = null;
      // setImmediate: let every message already read from the sockets step first.
      setImmediate(run);
    } else {
      this.flushTimer = setTimeout(run, this.blockFlushMs);
    }
  }

  private async flush(): Promise<void> {
    const store = this.opts.store;
    if (!store || this.flushing || this.stopped) return;
    const records = this.groupRecords.splice(0, GROUP_RECORDS_MAX);
    // A checkpoint's records may straddle two groups: it counts as durable with the last one.
    const checkpoints = this.groupRecords.length === 0 ? this.groupCheckpoints.splice(0) : [];
    this.flushing = true;
    const t0 = performance.now();
    try {
      if (records.length > 0) await store.persistBatch(records);
    } catch (e) {
      this.flushing = false;
      this.failPersist(e);
      return;
    }
    this.flushing = false;
    this.obs.persisted?.(records.length, performance.now() - t0);
    for (const cp of checkpoints) this.safetyLog?.checkpointDurable(cp);
    if (this.groupRecords.length > 0) this.scheduleFlush();
  }

  private deliver(e: Envelope): void {
    this.obs.outbound?.(e);
    // A message larger than a link frame (node.transport.frame_bytes_max) cannot be sent: drop it
    // with a log line instead of throwing out of a socket or timer callback (which would kill the
    // process). The protocol treats it as lost; a message that is always too large (a state
    // transfer or view change over big batches) needs a larger frame limit, and the log says so.
    if ((e.dest.kind === 'replica' || e.dest.kind === 'broadcast') && e.bytes.length + MAC_BYTES > this.transport.limits.frameBytesMax) {
      this.oversizeDropped++;
      this.obs.oversizeDropped?.(e.message.kind, e.bytes.length);
      if (this.oversizeDropped === 1 || this.oversizeDropped % 1000 === 0) {
        this.log.error(
          { kind: e.message.kind, bytes: e.bytes.length, frame_bytes_max: this.transport.limits.frameBytesMax, dropped: this.oversizeDropped },
          'message larger than the transport frame limit: not sent (raise node.transport.frame_bytes_max, or lower node.consensus.batch_bytes_max)',
        );
      }
      return;
    }
    switch (e.dest.kind) {
      case 'replica':
        this.transport.send(e.dest.to, e.bytes);
        break;
      case 'broadcast':
        this.transport.broadcast(e.bytes);
        break;
      case 'client':
        this.clients?.send(e.dest.session, e.bytes);
        break;
      default: {
        const never: never = e.dest;
        throw new Error(`unknown destination ${JSON.stringify(never)}`);
      }
    }
  }

  private onPeerMessage(from: number, payload: Uint8Array): void {
    let message;
    try {
      message = decodeMessage(payload);
    } catch (e) {
      // The link is authenticated, so this validator really sent garbage: count it, drop it.
      const msg = e instanceof Error ? e.message : String(e);
      this.obs.decodeFailed?.(from, msg);
      this.log.warn({ peer: this.peerName(from), err: msg }, 'dropped malformed message from an authenticated peer');
      return;
    }
    this.obs.inbound?.(from, message);
    // Block back-fill is served by the runtime from its store; the replica drops these kinds.
    if (message.kind === 'blocks-request') {
      this.serveBlocks(from, message);
      return;
    }
    if (message.kind === 'blocks') {
      this.backfill?.onBlocks(from, message);
      return;
    }
    this.step({ kind: 'message', from, message });
  }

  private serveBlocks(from: number, req: BlocksRequest): void {
    let r;
    try {
      r = this.blocksServer.serve(from, req);
    } catch (e) {
      this.log.warn({ peer: this.peerName(from), err: e instanceof Error ? e.message : String(e) }, 'serving a blocks request failed');
      return;
    }
    this.obs.blocksServed?.(r.kind, r.kind === 'served' ? r.blocks : 0);
    if (r.kind !== 'served') return;
    try {
      this.transport.send(from, r.bytes);
    } catch (e) {
      this.log.warn({ peer: this.peerName(from), err: e instanceof Error ? e.message : String(e) }, 'blocks answer not sent');
    }
  }

  /** Takes a client request that arrived another way (HTTP) and relays it to every peer, as a
   *  client would: backups need it too, to notice a primary that ignores it. */
  submitRequest(request: ClientRequest): void {
    this.transport.broadcast(encodeMessage(request));
    this.step({ kind: 'request', request });
  }

  /**
   * Verification jobs are gathered until the current callback ends (a microtask: the frames of
   * one socket read, the steps of one timer) and checked in one batch call per priority. Waiting
   * for a whole event-loop turn (setImmediate) batched more but added up to three loop turns to
   * a request's critical path: +0.9 ms p50 at one client, memory mode, on the 2-core host.
   */
  private runVerify(job: VerifyJob): void {
    (job.priority === 'background' ? this.verifyBackground : this.verifyCritical).push(job);
    if (this.verifyFlushScheduled) return;
    this.verifyFlushScheduled = true;
    queueMicrotask(() => {
      this.verifyFlushScheduled = false;
      const critical = this.verifyCritical;
      const background = this.verifyBackground;
      this.verifyCritical = [];
      this.verifyBackground = [];
      if (critical.length > 0) this.verifyJobs(critical);
      if (background.length > 0) this.verifyJobs(background);
    });
  }

  private verifyJobs(jobs: readonly VerifyJob[]): void {
    const t0 = performance.now();
    const items = jobs.length === 1 ? jobs[0]!.items : jobs.flatMap((j) => j.items);
    const done = (valid: Uint8Array): void => {
      const ms = performance.now() - t0;
      let at = 0;
      for (const job of jobs) {
        const v = valid.subarray(at, at + job.items.length);
        at += job.items.length;
        let invalid = 0;
        for (const x of v) if (x !== 1) invalid++;
        this.obs.verified?.(v.length, invalid, ms, job.items, v);
        this.step({ kind: 'verified', jobId: job.jobId, valid: v });
      }
    };
    const pool = this.opts.pool;
    if (pool) {
      pool.verifyBatch(items).then(done, (e: unknown) => {
        // Pool failure (queue full, closed): verify inline rather than lose the jobs.
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'pool verify failed; verifying inline');
        done(this.opts.crypto.ed25519VerifyBatch(items));
      });
    } else {
      done(this.opts.crypto.ed25519VerifyBatch(items));
    }
  }


  private onCommitted(b: CommittedBatch): void {
    this.committedCount++;
    this.requestsCommitted += b.requests.length;
    this.recentBlocks.set(b.seq, b);
    if (this.recentBlocks.size > BLOCK_INDEX_MAX) {
      const oldest = this.recentBlocks.keys().next().value;
      if (oldest !== undefined) this.recentBlocks.delete(oldest);
    }
    this.obs.committed?.(b, performance.now());
    b.requests.forEach((r, i) => {
      const key = `${sessionOf(r)}#${r.requestSeq}`;
      const ws = this.waiters.get(key);
      if (ws) {
        this.waiters.delete(key);
        for (const w of ws) w(b, i);
      }
    });
  }

  private onEvent(ev: ReplicaEvent): void {
    this.obs.event?.(ev);
    const line = eventLogLine(ev, (i) => this.peerName(i));
    this.log[line.level](line.fields, line.msg);
  }

  /** A request signed with this validator's agent key (for a submitter without a key of its own). */
  signAsAgent(clientId: string, requestSeq: number, op: Uint8Array): ClientRequest {
    return signRequest(this.opts.crypto, this.agentSeed, clientId, requestSeq, op, this.agentKey);
  }

  /** Resolves when (session, requestSeq) executes here (session as sessionOf), or rejects after timeoutMs. */
  waitForRequest(session: string, requestSeq: number, timeoutMs: number): Promise<{ batch: CommittedBatch; index: number }> {
    const key = `${session}#${requestSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const ws = this.waiters.get(key);
        if (ws) {
          const i = ws.indexOf(cb);
          if (i >= 0) ws.splice(i, 1);
          if (ws.length === 0) this.waiters.delete(key);
        }
        reject(new Error(`request ${key} not committed within ${timeoutMs} ms`));
      }, timeoutMs);
      const cb = (batch: CommittedBatch, index: number): void => {
        clearTimeout(timer);
        resolve({ batch, index });
      };
      const ws = this.waiters.get(key) ?? [];
      ws.push(cb);
      this.waiters.set(key, ws);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    await Promise.allSettled([this.transport.close(), this.clients?.close()]);
    // Let an in-flight group commit (and back-fill write) land before the store closes.
    await this.backfill?.stop();
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
    // Block records still waiting for their (delayed) group commit: write them now, so a clean
    // stop leaves nothing for catch-up to redo.
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const store = this.opts.store;
    if (store && this.persistError === null && this.groupRecords.length > 0) {
      await store.persistBatch(this.groupRecords.splice(0)).catch((e: unknown) => this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'final block write failed'));
    }
    if (this.safetyLog) await this.safetyLog.close().catch(() => undefined);
    if (this.opts.store) await this.opts.store.close();
    if (this.opts.pool) await this.opts.pool.close();
  }
}

/**
 * Faulty validators the set tolerates (f): the largest number whose combined stake stays within
 * the protocol's faulty bound, counting the smallest stakes first. 0 for one or two validators.
 */
export function faultToleranceOf(vs: { readonly validators: readonly { readonly stake: number }[]; readonly faultyPowerMax: number }): number {
  const stakes = vs.validators.map((v) => v.stake).sort((a, b) => a - b);
  let sum = 0;
  let f = 0;
  for (const s of stakes) {
    if (sum + s > vs.faultyPowerMax) break;
    sum += s;
    f++;
  }
  return f;
}

/**
 * How a replica event is logged; `name` turns a replica index into the validator's config id
 * (as peer lines do). The logger puts this node's own id under `validator` on every line, so the
 * validator an event is about goes under `offender` (`replaced_primary`, `peer`, `primary`),
 * never a second `validator` key (JSON parsers keep one of the two). Inactivity (the primary of
 * a view was replaced by a view change: a crash, a restart, a slow link) is not misbehaviour: it
 * is logged at info as a leader replacement, not as a slashing event.
 */
export function eventLogLine(
  ev: ReplicaEvent,
  name: (replica: number) => string | number = (i) => i,
): { level: 'debug' | 'info' | 'warn'; fields: Record<string, unknown>; msg: string } {
  switch (ev.kind) {
    case 'slash':
      if (ev.reason === 'Inactivity') return { level: 'info', fields: { replaced_primary: name(ev.validator), detail: ev.detail }, msg: 'leader replaced (view change)' };
      return { level: 'warn', fields: { reason: ev.reason, offender: name(ev.validator), detail: ev.detail }, msg: 'byzantine behaviour detected (slashing event)' };
    case 'dropped':
      return { level: 'debug', fields: { peer: ev.from === 'client' ? 'client' : name(ev.from), reason: ev.reason }, msg: 'dropped input' };
    case 'new-view':
      return { level: 'info', fields: { view: ev.view, primary: name(ev.primary) }, msg: ev.kind };
    default:
      return { level: 'info', fields: { ...ev }, msg: ev.kind };
  }
}
