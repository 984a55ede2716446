// Authenticated TCP links between validators.
//
// Contract:
// - `start()` listens and dials (`listen()` then `connect()`: a node binds every port it needs
//   before it dials anyone); `send(to, payload)` / `broadcast(payload)` queue opaque bytes for a
//   peer; `onMessage(from, payload)` receives them after their MAC checks; `close()` stops all.
// - Dial rule: the validator with the LOWER id dials the higher one; an acceptor only accepts links
//   from lower ids. So there is exactly one link per pair and no de-duplication race. A new
//   authenticated link from a peer replaces that peer's old one (the peer restarted).
// - Per-peer outbound queue, bounded by `queueFramesMax` and `queueBytesMax`. When full, the OLDEST
//   queued frames are dropped (counted in `framesDropped`): consensus retransmits through its own
//   timers and catch-up, and a fresh vote is worth more than a stale one. Frames queue while a peer
//   is disconnected and go out on the next link, MACed with that link's key. The socket's own buffer
//   is kept under `socketBufferBytesMax`; above it frames wait in our queue until 'drain'.
// - Writes are corked: every send in one synchronous turn goes out as one writev on nextTick.
// - Anything a peer sends that is wrong (unknown id, bad signature, bad MAC, oversized or malformed
//   frame, handshake timeout) closes that connection and counts a `RejectReason`; no socket handler
//   throws. Before authentication a frame may be at most HANDSHAKE_FRAME_BYTES_MAX, so an
//   unauthenticated peer cannot make us buffer more than that.
// - Reconnect: exponential backoff with jitter, delay = min(max, min * 2^attempt) * (0.5 + 0.5 * r),
//   r from the injected `random` (Math.random by default); attempt resets on a good handshake.
// - Log lines name a peer by its validator id (`PeerAddress.name`, as in the config), not by its
//   replica index; the wire and the API still use indices.

import net from 'node:net';
import type { CryptoBackend } from '@bpci/core';
import { FrameDecoder, FrameTooLargeError, encodeFrame } from './frame.js';
import {
  AUTH_BYTES,
  HELLO_BYTES,
  HandshakeError,
  MAC_BYTES,
  authMessage,
  decodeHello,
  deriveLinkKeys,
  encodeHello,
  newEphemeral,
  newNonce,
  openFrame,
  sealWireFrame,
  transcriptHash,
  type Ephemeral,
  type Hello,
  type LinkKeys,
} from './link-crypto.js';
import { silentLogger, type Logger } from '../log.js';

export const HANDSHAKE_FRAME_BYTES_MAX = Math.max(HELLO_BYTES, AUTH_BYTES);

export interface PeerAddress {
  /** Replica index (0..n-1), the same number the consensus core uses. */
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** 32-byte Ed25519 identity public key. */
  readonly publicKey: Uint8Array;
  /** The validator's id as in the config (e.g. "validator-003"): how log lines name this peer. Default: the index. */
  readonly name?: string;
}

export interface TransportLimits {
  /** Largest payload + MAC on an authenticated link. */
  readonly frameBytesMax: number;
  readonly queueFramesMax: number;
  readonly queueBytesMax: number;
  /** Bytes allowed in a socket's userland write buffer before frames wait in our queue. */
  readonly socketBufferBytesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectDelayMsMin: number;
  readonly reconnectDelayMsMax: number;
  /** Unauthenticated inbound connections at once; more are closed on arrival. */
  readonly pendingConnectionsMax: number;
  /**
   * Inbound budget per authenticated peer (token buckets holding 100 ms of each rate). A peer
   * over budget is not dropped: its socket is paused until the bucket refills, so TCP slows the
   * sender and a flooding validator cannot monopolise this node's event loop.
   */
  readonly inboundFramesPerSecond: number;
  readonly inboundBytesPerSecond: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  frameBytesMax: 4 * 1024 * 1024,
  queueFramesMax: 16_384,
  queueBytesMax: 64 * 1024 * 1024,
  socketBufferBytesMax: 8 * 1024 * 1024,
  handshakeTimeoutMs: 5_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 5_000,
  pendingConnectionsMax: 64,
  inboundFramesPerSecond: 200_000,
  inboundBytesPerSecond: 512 * 1024 * 1024,
};

export const REJECT_REASONS = [
  'unknown_peer',
  'wrong_receiver',
  'wrong_direction',
  'bad_signature',
  'bad_mac',
  'frame_too_large',
  'malformed_hello',
  'bad_version',
  'bad_key_agreement',
  'handshake_timeout',
  'too_many_pending',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface TransportObserver {
  frameRejected?(reason: RejectReason, peerId: number | undefined): void;
  framesDropped?(peerId: number, count: number): void;
  /** Reading from this peer paused: it exceeded its inbound budget. */
  inboundThrottled?(peerId: number): void;
  linkUp?(peerId: number): void;
  linkDown?(peerId: number): void;
}

export interface TransportOptions {
  readonly selfId: number;
  readonly listen: { readonly host: string; readonly port: number };
  /** All validators except this one (an entry with selfId is ignored). */
  readonly peers: readonly PeerAddress[];
  /** 32-byte Ed25519 seed of this validator's identity key. */
  readonly identitySeed32: Uint8Array;
  readonly crypto: CryptoBackend;
  readonly limits?: Partial<TransportLimits>;
  readonly onMessage: (from: number, payload: Uint8Array) => void;
  readonly logger?: Logger;
  readonly observer?: TransportObserver;
  /** Uniform [0, 1) source for reconnect jitter (tests inject a seeded one). */
  readonly random?: () => number;
}

export interface PeerStats {
  readonly id: number;
  readonly connected: boolean;
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly framesDropped: number;
  readonly linksEstablished: number;
  /** Times this peer's socket was paused for exceeding its inbound budget. */
  readonly inboundThrottled: number;
}

export interface TransportStats {
  readonly selfId: number;
  readonly peers: readonly PeerStats[];
  readonly rejected: Readonly<Record<RejectReason, number>>;
  readonly pendingConnections: number;
}

/** FIFO of payloads with O(1) push/shift (array + head index, compacted lazily). */
class PayloadQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  bytes = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(p: Uint8Array): void {
    this.items.push(p);
    this.bytes += p.length;
  }
  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined;
    const p = this.items[this.head]!;
    this.items[this.head] = EMPTY;
    this.head++;
    this.bytes -= p.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return p;
  }
}
const EMPTY = new Uint8Array(0);

type ConnState = 'await_hello' | 'await_auth' | 'open' | 'closed';

/** One TCP connection, from connect/accept until close. */
class Connection {
  state: ConnState = 'await_hello';
  peerId: number | undefined;
  readonly decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES_MAX);
  readonly ephemeral: Ephemeral = newEphemeral();
  myHello: Hello | undefined;
  th: Uint8Array | undefined;
  keys: LinkKeys | undefined;
  sendCounter = 0;
  recvCounter = 0;
  handshakeTimer: NodeJS.Timeout | undefined;
  waitingDrain = false;
  /** Paused for the peer's inbound budget; resumed (and its buffered frames read) by this timer. */
  throttleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    /** 0 = we dialed, 1 = we accepted. */
    readonly role: 0 | 1,
    expectedPeer: number | undefined,
  ) {
    this.peerId = expectedPeer;
  }
}

interface PeerState {
  readonly addr: PeerAddress;
  readonly queue: PayloadQueue;
  conn: Connection | undefined; // the open link, if any
  dialing: Connection | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  attempt: number;
  flushScheduled: boolean;
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  framesDropped: number;
  linksEstablished: number;
  /** Inbound token buckets (see TransportLimits.inboundFramesPerSecond); kept across reconnects. */
  readonly inbound: { frames: number; bytes: number; at: number };
  inboundThrottled: number;
}

export class Transport {
  readonly selfId: number;
  readonly limits: TransportLimits;
  private readonly crypto: CryptoBackend;
  private readonly seed: Uint8Array;
  private readonly onMessage: (from: number, payload: Uint8Array) => void;
  private readonly log: Logger;
  private readonly observer: TransportObserver;
  private readonly random: () => number;
  private readonly listenAddr: { host: string; port: number };
  private readonly peers = new Map<number, PeerState>();
  private readonly pending = new Set<Connection>();
  private readonly rejected: Record<RejectReason, number>;
  private server: net.Server | undefined;
  private closed = false;

  constructor(opts: TransportOptions) {
    if (!Number.isInteger(opts.selfId) || opts.selfId < 0 || opts.selfId > 0xffff_ffff) {
      throw new RangeError(`selfId must be a u32, got ${opts.selfId}`);
    }
    if (opts.identitySeed32.length !== 32) throw new RangeError('identitySeed32 must be 32 bytes');
    this.selfId = opts.selfId;
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...opts.limits };
    if (this.limits.frameBytesMax < HANDSHAKE_FRAME_BYTES_MAX + MAC_BYTES) {
      throw new RangeError(`frameBytesMax ${this.limits.frameBytesMax} is too small`);
    }
    if (this.limits.frameBytesMax > 0x7fff_ffff) throw new RangeError('frameBytesMax must be < 2^31');
    this.crypto = opts.crypto;
    this.seed = opts.identitySeed32;
    this.onMessage = opts.onMessage;
    this.log = (opts.logger ?? silentLogger).child({ component: 'transport' });
    this.observer = opts.observer ?? {};
    this.random = opts.random ?? Math.random;
    this.listenAddr = { ...opts.listen };
    this.rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    for (const addr of opts.peers) {
      if (addr.id === this.selfId) continue;
      if (addr.publicKey.length !== 32) throw new RangeError(`peer ${addr.id}: publicKey must be 32 bytes`);
      if (this.peers.has(addr.id)) throw new RangeError(`peer ${addr.id} listed twice`);
      this.peers.set(addr.id, {
        addr,
        queue: new PayloadQueue(),
        conn: undefined,
        dialing: undefined,
        reconnectTimer: undefined,
        attempt: 0,
        flushScheduled: false,
        framesSent: 0,
        framesReceived: 0,
        bytesSent: 0,
        bytesReceived: 0,
        framesDropped: 0,
        linksEstablished: 0,
        inbound: { frames: 0, bytes: 0, at: -1 },
        inboundThrottled: 0,
      });
    }
  }

  /** Listens, then dials every higher-id peer. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const bound = await this.listen();
    this.connect();
    return bound;
  }

  /**
   * Binds the peer port and accepts links, without dialing anyone. A process that cannot bind
   * (EADDRINUSE: another copy of this validator is running) rejects here, before it dialed a peer
   * and replaced the live copy's links. Rejects with the listen error; the transport then holds
   * nothing and `close()` is still safe.
   */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('transport already started');
    if (this.closed) throw new Error('transport is closed');
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(this.listenAddr.port, this.listenAddr.host, () => {
        server.off('error', onError);
        // Errors after the bind (rare: EMFILE on accept) are logged, never thrown.
        server.on('error', (err) => this.log.error({ err: err.message }, 'transport server error'));
        resolve();
      });
    });
    const bound = server.address() as net.AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  /** Dials every higher-id peer (after `listen()`); lower ids dial us. Idempotent. */
  connect(): void {
    if (!this.server || !this.server.listening) throw new Error('transport: connect() before listen()');
    for (const p of this.peers.values()) if (this.selfId < p.addr.id) this.dial(p);
  }

  /** Queues `payload` for peer `to`. Returns false if `to` is not a peer or the transport is closed. */
  send(to: number, payload: Uint8Array): boolean {
    const p = this.peers.get(to);
    if (!p || this.closed) return false;
    if (payload.length + MAC_BYTES > this.limits.frameBytesMax) {
      throw new RangeError(`payload of ${payload.length} bytes exceeds frameBytesMax ${this.limits.frameBytesMax} - MAC`);
    }
    p.queue.push(payload);
    let dropped = 0;
    while (p.queue.length > this.limits.queueFramesMax || (p.queue.bytes > this.limits.queueBytesMax && p.queue.length > 1)) {
      p.queue.shift();
      dropped++;
    }
    if (dropped > 0) {
      p.framesDropped += dropped;
      this.observer.framesDropped?.(to, dropped);
    }
    this.scheduleFlush(p);
    return true;
  }

  /** Queues `payload` for every peer. */
  broadcast(payload: Uint8Array): void {
    for (const id of this.peers.keys()) this.send(id, payload);
  }

  isConnected(peerId: number): boolean {
    return this.peers.get(peerId)?.conn?.state === 'open';
  }

  stats(): TransportStats {
    const peers: PeerStats[] = [];
    for (const p of this.peers.values()) {
      peers.push({
        id: p.addr.id,
        connected: p.conn?.state === 'open',
        queuedFrames: p.queue.length,
        queuedBytes: p.queue.bytes,
        framesSent: p.framesSent,
        framesReceived: p.framesReceived,
        bytesSent: p.bytesSent,
        bytesReceived: p.bytesReceived,
        framesDropped: p.framesDropped,
        linksEstablished: p.linksEstablished,
        inboundThrottled: p.inboundThrottled,
      });
    }
    return { selfId: this.selfId, peers, rejected: { ...this.rejected }, pendingConnections: this.pending.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) {
      if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
      p.reconnectTimer = undefined;
      if (p.conn) this.closeConn(p.conn);
      if (p.dialing) this.closeConn(p.dialing);
    }
    for (const c of [...this.pending]) this.closeConn(c);
    const server = this.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** How log lines name a peer: its validator id when known (PeerAddress.name), else its index. */
  private peerName(id: number | undefined): string | number | undefined {
    if (id === undefined) return undefined;
    return this.peers.get(id)?.addr.name ?? id;
  }

  // ---------------------------------------------------------------- connections

  private dial(p: PeerState): void {
    if (this.closed || p.dialing || p.conn) return;
    const socket = net.connect({ host: p.addr.host, port: p.addr.port });
    const conn = new Connection(socket, 0, p.addr.id);
    p.dialing = conn;
    this.wire(conn);
    socket.once('connect', () => {
      // Dialer speaks first: Hello names the peer it wants, so the acceptor can check it.
      conn.myHello = encodeHello(this.selfId, p.addr.id, newNonce(), conn.ephemeral.publicRaw);
      socket.write(encodeFrame(conn.myHello.bytes));
    });
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.pending.size >= this.limits.pendingConnectionsMax) {
      this.countReject('too_many_pending', undefined);
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, 1, undefined);
    this.pending.add(conn);
    this.wire(conn);
  }

  /** Common socket setup; every handler is exception-safe. */
  private wire(conn: Connection): void {
    const { socket } = conn;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    conn.handshakeTimer = setTimeout(() => this.reject(conn, 'handshake_timeout', 'handshake timed out'), this.limits.handshakeTimeoutMs);
    conn.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(conn, chunk);
      } catch (err) {
        // Never reached by design (onData handles peer errors itself); kept so a bug in a handler
        // closes one connection instead of the process.
        this.log.error({ err: (err as Error).message, peer: this.peerName(conn.peerId) }, 'transport handler failed');
        this.closeConn(conn);
      }
    });
    socket.on('drain', () => {
      conn.waitingDrain = false;
      const p = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
      if (p && p.conn === conn) this.flush(p);
    });
    socket.on('error', (err) => this.log.debug({ err: err.message, peer: this.peerName(conn.peerId) }, 'socket error'));
    socket.on('close', () => this.onClosed(conn));
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.state === 'closed') return;
    conn.decoder.append(chunk);
    this.readFrames(conn);
  }

  private readFrames(conn: Connection): void {
    if (conn.state === 'closed') return;
    // One frame at a time: a handshake step may raise the decoder's bound for the next frame.
    for (;;) {
      // A handler below may have closed or paused the connection (TS cannot see that through the call).
      if ((conn.state as ConnState) === 'closed' || conn.throttleTimer !== undefined) return;
      let body: Uint8Array | undefined;
      try {
        body = conn.decoder.next();
      } catch (err) {
        if (err instanceof FrameTooLargeError) return this.reject(conn, 'frame_too_large', err.message);
        throw err;
      }
      if (body === undefined) return;
      switch (conn.state) {
        case 'await_hello':
          this.onHello(conn, body);
          break;
        case 'await_auth':
          this.onAuth(conn, body);
          break;
        case 'open':
          this.onFrame(conn, body);
          break;
        default: {
          const never: never = conn.state;
          throw new Error(`unreachable state ${String(never)}`);
        }
      }
    }
  }

  private onHello(conn: Connection, body: Uint8Array): void {
    let hello: Hello;
    try {
      hello = decodeHello(body);
    } catch (err) {
      if (err instanceof HandshakeError) return this.reject(conn, err.reason === 'bad_version' ? 'bad_version' : 'malformed_hello', err.message);
      throw err;
    }
    if (hello.toId !== this.selfId) return this.reject(conn, 'wrong_receiver', `hello addressed to ${hello.toId}`);
    const p = this.peers.get(hello.fromId);
    if (!p) return this.reject(conn, 'unknown_peer', `unknown validator id ${hello.fromId}`);
    if (conn.role === 1) {
      if (hello.fromId > this.selfId) return this.reject(conn, 'wrong_direction', `validator ${hello.fromId} must not dial ${this.selfId}`);
      conn.peerId = hello.fromId;
      conn.myHello = encodeHello(this.selfId, hello.fromId, newNonce(), conn.ephemeral.publicRaw);
      conn.th = transcriptHash(this.crypto, hello, conn.myHello);
    } else {
      if (hello.fromId !== conn.peerId) return this.reject(conn, 'unknown_peer', `dialed ${conn.peerId}, answered by ${hello.fromId}`);
      if (!conn.myHello) return this.reject(conn, 'malformed_hello', 'hello before our own');
      conn.th = transcriptHash(this.crypto, conn.myHello, hello);
    }
    try {
      conn.keys = deriveLinkKeys(this.crypto, conn.role, conn.ephemeral, hello.ephemeralPublic, conn.th);
    } catch (err) {
      if (err instanceof HandshakeError) return this.reject(conn, 'bad_key_agreement', err.message);
      throw err;
    }
    const sig = this.crypto.ed25519Sign(this.seed, authMessage(conn.role, conn.th));
    conn.socket.cork();
    if (conn.role === 1) conn.socket.write(encodeFrame(conn.myHello.bytes));
    conn.socket.write(encodeFrame(sig));
    conn.socket.uncork();
    conn.state = 'await_auth';
  }

  private onAuth(conn: Connection, body: Uint8Array): void {
    const p = this.peers.get(conn.peerId!);
    if (!p || !conn.th || !conn.keys) return this.reject(conn, 'malformed_hello', 'auth before hello');
    if (body.length !== AUTH_BYTES) return this.reject(conn, 'bad_signature', `auth must be ${AUTH_BYTES} bytes`);
    const peerRole: 0 | 1 = conn.role === 0 ? 1 : 0;
    const ok = this.crypto.ed25519VerifyBatch([
      { publicKey: p.addr.publicKey, message: authMessage(peerRole, conn.th), signature: body },
    ]);
    if (ok[0] !== 1) return this.reject(conn, 'bad_signature', 'handshake signature does not verify');
    // Authenticated.
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined;
    conn.state = 'open';
    conn.decoder.frameBytesMax = this.limits.frameBytesMax;
    this.pending.delete(conn);
    if (p.dialing === conn) p.dialing = undefined;
    const old = p.conn;
    p.conn = conn;
    if (old && old !== conn) this.closeConn(old);
    p.attempt = 0;
    p.linksEstablished++;
    this.log.info({ peer: this.peerName(p.addr.id), role: conn.role === 0 ? 'dialer' : 'acceptor', replaced: old !== undefined }, 'link up');
    // A replaced link was never reported down (onClosed sees it is no longer p.conn), so the
    // observer hears linkUp only when the peer goes from no link to a link.
    if (!old) this.observer.linkUp?.(p.addr.id);
    this.flush(p);
  }

  private onFrame(conn: Connection, body: Uint8Array): void {
    const p = this.peers.get(conn.peerId!)!;
    const keys = conn.keys!;
    const payload = openFrame(this.crypto, keys.recvKey, keys.recvDirection, conn.recvCounter, body);
    if (payload === null) return this.reject(conn, 'bad_mac', `bad MAC on frame ${conn.recvCounter}`);
    conn.recvCounter++;
    p.framesReceived++;
    p.bytesReceived += body.length + 4;
    this.spendInbound(conn, p, body.length + 4);
    try {
      this.onMessage(p.addr.id, payload);
    } catch (err) {
      this.log.error({ err: (err as Error).message, peer: this.peerName(p.addr.id) }, 'onMessage handler threw');
    }
  }

  /** Takes one frame from the peer's inbound buckets; over budget, pauses the socket until refilled. */
  private spendInbound(conn: Connection, p: PeerState, bytes: number): void {
    const b = p.inbound;
    const fps = this.limits.inboundFramesPerSecond;
    const bps = this.limits.inboundBytesPerSecond;
    const now = performance.now();
    if (b.at < 0) {
      b.frames = fps / 10;
      b.bytes = bps / 10;
    } else {
      const dt = (now - b.at) / 1000;
      b.frames = Math.min(fps / 10, b.frames + dt * fps);
      b.bytes = Math.min(bps / 10, b.bytes + dt * bps);
    }
    b.at = now;
    b.frames -= 1;
    b.bytes -= bytes;
    if (b.frames >= 0 && b.bytes >= 0) return;
    const waitMs = Math.max(1, Math.ceil(1000 * Math.max(-b.frames / fps, -b.bytes / bps)));
    p.inboundThrottled++;
    this.observer.inboundThrottled?.(p.addr.id);
    if (p.inboundThrottled === 1 || p.inboundThrottled % 1000 === 0) {
      this.log.warn({ peer: this.peerName(p.addr.id), waitMs, times: p.inboundThrottled }, 'peer over its inbound budget: reading paused');
    }
    conn.socket.pause();
    conn.throttleTimer = setTimeout(() => {
      conn.throttleTimer = undefined;
      if (conn.state === 'closed') return;
      conn.socket.resume();
      this.readFrames(conn);
    }, waitMs);
  }

  private reject(conn: Connection, reason: RejectReason, detail: string): void {
    this.countReject(reason, conn.peerId);
    this.log.warn({ reason, detail, peer: this.peerName(conn.peerId), remote: conn.socket.remoteAddress }, 'connection rejected');
    this.closeConn(conn);
  }

  private countReject(reason: RejectReason, peerId: number | undefined): void {
    this.rejected[reason]++;
    this.observer.frameRejected?.(reason, peerId);
  }

  private closeConn(conn: Connection): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    if (conn.throttleTimer) clearTimeout(conn.throttleTimer);
    conn.throttleTimer = undefined;
    conn.handshakeTimer = undefined;
    conn.socket.destroy();
    // 'close' fires later; onClosed does the bookkeeping (idempotent).
  }

  private onClosed(conn: Connection): void {
    conn.state = 'closed';
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    this.pending.delete(conn);
    const p = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
    if (!p) return;
    const wasOpen = p.conn === conn;
    if (wasOpen) {
      p.conn = undefined;
      this.log.info({ peer: this.peerName(p.addr.id) }, 'link down');
      this.observer.linkDown?.(p.addr.id);
    }
    if (p.dialing === conn) p.dialing = undefined;
    if ((wasOpen || conn.role === 0) && this.selfId < p.addr.id && !p.conn && !p.dialing) this.scheduleReconnect(p);
  }

  private scheduleReconnect(p: PeerState): void {
    if (this.closed || p.reconnectTimer) return;
    const delayMs = backoffDelayMs(p.attempt, this.limits.reconnectDelayMsMin, this.limits.reconnectDelayMsMax, this.random);
    p.attempt++;
    p.reconnectTimer = setTimeout(() => {
      p.reconnectTimer = undefined;
      this.dial(p);
    }, delayMs);
    p.reconnectTimer.unref();
  }

  // ---------------------------------------------------------------- sending

  private scheduleFlush(p: PeerState): void {
    if (p.flushScheduled || !p.conn) return;
    p.flushScheduled = true;
    process.nextTick(() => {
      p.flushScheduled = false;
      this.flush(p);
    });
  }

  /** Moves queued frames into the socket under one cork, until the queue or the socket bound. */
  private flush(p: PeerState): void {
    const conn = p.conn;
    if (!conn || conn.state !== 'open' || conn.waitingDrain || p.queue.length === 0) return;
    const { socket } = conn;
    const keys = conn.keys!;
    socket.cork();
    try {
      while (p.queue.length > 0) {
        if (socket.writableLength >= this.limits.socketBufferBytesMax) {
          conn.waitingDrain = true;
          break;
        }
        const payload = p.queue.shift()!;
        const wire = sealWireFrame(this.crypto, keys.sendKey, keys.sendDirection, conn.sendCounter, payload);
        conn.sendCounter++;
        p.framesSent++;
        p.bytesSent += wire.length;
        socket.write(wire);
      }
    } finally {
      socket.uncork();
    }
  }
}

/** Exponential backoff with "equal jitter": half fixed, half random, capped at maxMs. */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp * (0.5 + 0.5 * random()));
}
