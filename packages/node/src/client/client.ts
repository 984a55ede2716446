// A bpci client: connects to every validator's client port, sends each request to all of them
// (so a silent primary is noticed by the backups' timers) and accepts a result once f+1
// validators sent matching replies that verify (a Merkle proof up to a root each validator
// signed once for the whole batch; see Reply in @bpci/core). One request in flight per client
// id keeps (clientId, requestSeq) exactly-once simple; run many clients for throughput, and
// give the clients of one process one ReplySignatureCache so a batch's signature is checked once.
//
// Every request is signed with the client's Ed25519 key (`seed32`; a fresh random one when not
// given): validators check it, so no validator can invent or alter this client's requests. The
// exactly-once session is (key, clientId): a client that restarts and wants its old session
// (setNextRequestSeq) must come back with the same seed.

import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { encodeMessage, decodeMessage, equalBytes, ReplySignatureCache, sessionId, signRequest, verifyReplies, type ClientRequest, type CryptoBackend, type Reply } from '@bpci/core';
import { FrameDecoder, encodeFrame } from '../transport/frame.js';
import { clientAuthFrame } from '../runtime/client-server.js';

export interface ClientValidator {
  readonly host: string;
  readonly port: number;
  readonly publicKey: Uint8Array;
  /** Voting power (default 1). */
  readonly stake?: number;
}

export interface ClientOptions {
  readonly clientId: string;
  /** The client's Ed25519 seed (32 bytes); default: random, so a new session per client object. */
  readonly seed32?: Uint8Array;
  readonly validators: readonly ClientValidator[];
  readonly crypto: CryptoBackend;
  /** Resend the request to everyone after this long without a result. */
  readonly retryMs?: number;
  /** Give up after this long. */
  readonly timeoutMs?: number;
  /** Verify reply signatures before accepting (default true). */
  readonly verifyReplies?: boolean;
  /** Verified reply-root signatures, shared by the clients of one process (default: this client's own). */
  readonly replyCache?: ReplySignatureCache;
  /**
   * Connect with TLS (a client port with node.client_port.tls): `ca` is the trust anchor (PEM)
   * for a certificate no public CA signed, e.g. the cluster CA of `bpci config init`.
   */
  readonly tls?: { readonly ca?: string | Uint8Array; readonly servername?: string };
  /** The client port's token (node.client_port.token_file), sent as each connection's first frame. */
  readonly token?: string;
}

export interface SubmitResult {
  readonly result: Uint8Array;
  /** Sequence number of the batch that executed the request. */
  readonly seq: number;
  readonly requestSeq: number;
  /** Validators whose signed replies made up the accepted set. */
  readonly signers: readonly number[];
}

export class ClientTimeoutError extends Error {
  constructor(clientId: string, requestSeq: number, ms: number) {
    super(`client ${clientId}: request ${requestSeq} not accepted by f+1 validators within ${ms} ms`);
    this.name = 'ClientTimeoutError';
  }
}

interface Pending {
  readonly requestSeq: number;
  readonly frame: Uint8Array;
  readonly replies: Map<number, Reply>;
  resolve(r: SubmitResult): void;
  reject(e: Error): void;
  retry: NodeJS.Timeout | undefined;
  deadline: NodeJS.Timeout;
}

const REPLY_FRAME_BYTES_MAX = 80 * 1024;

export class BpciClient {
  readonly clientId: string;
  /** The client's public key and its session, "<clientId>@<hex key>" (sessionOf in @bpci/core). */
  readonly publicKey: Uint8Array;
  readonly session: string;
  private readonly seed32: Uint8Array;
  private readonly sockets: (net.Socket | undefined)[];
  private readonly weakQuorum: number;
  private readonly stakes: number[];
  private readonly dialing = new Set<number>();
  private nextSeq = 1;
  private pending: Pending | undefined;
  private closed = false;
  private readonly replyCache: ReplySignatureCache;

  private constructor(private readonly opts: ClientOptions) {
    this.clientId = opts.clientId;
    if (opts.seed32 !== undefined && opts.seed32.length !== 32) throw new RangeError(`client ${opts.clientId}: seed32 must be 32 bytes, got ${opts.seed32.length}`);
    this.seed32 = opts.seed32 ?? new Uint8Array(randomBytes(32));
    this.publicKey = opts.crypto.ed25519PublicKey(this.seed32);
    this.session = sessionId(opts.clientId, this.publicKey);
    this.replyCache = opts.replyCache ?? new ReplySignatureCache(256);
    this.sockets = opts.validators.map(() => undefined);
    this.stakes = opts.validators.map((v) => v.stake ?? 1);
    const total = this.stakes.reduce((a, b) => a + b, 0);
    // f+1 in power: more than the faulty bound floor((T-1)/3).
    this.weakQuorum = Math.floor((total - 1) / 3) + 1;
  }

  /** Connects to every validator it can reach (at least f+1 are needed). */
  static async connect(opts: ClientOptions): Promise<BpciClient> {
    const c = new BpciClient(opts);
    await Promise.all(opts.validators.map((_, i) => c.dial(i).catch(() => undefined)));
    const up = c.sockets.filter((s) => s !== undefined).length;
    if (up === 0) throw new Error(`client ${opts.clientId}: no validator reachable`);
    return c;
  }

  /** Sets the next request sequence (a restarted client continues after its last one). */
  setNextRequestSeq(n: number): void {
    this.nextSeq = n;
  }

  private dial(i: number): Promise<void> {
    const v = this.opts.validators[i]!;
    return new Promise((resolve, reject) => {
      const t = this.opts.tls;
      const s: net.Socket = t
        ? tls.connect({
            host: v.host,
            port: v.port,
            ...(t.ca !== undefined ? { ca: typeof t.ca === 'string' ? t.ca : Buffer.from(t.ca) } : {}),
            ...(t.servername !== undefined ? { servername: t.servername } : net.isIP(v.host) === 0 ? { servername: v.host } : {}),
          })
        : net.connect({ host: v.host, port: v.port });
      s.setNoDelay(true);
      const decoder = new FrameDecoder(REPLY_FRAME_BYTES_MAX);
      s.once(t ? 'secureConnect' : 'connect', () => {
        if (this.opts.token !== undefined) s.write(encodeFrame(clientAuthFrame(this.opts.token)));
        this.sockets[i] = s;
        resolve();
      });
      s.on('error', (e) => {
        if (this.sockets[i] !== s) reject(e);
      });
      s.on('close', () => {
        if (this.sockets[i] === s) this.sockets[i] = undefined;
      });
      s.on('data', (chunk: Buffer) => {
        let frames: Uint8Array[];
        try {
          frames = decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } catch {
          s.destroy();
          return;
        }
        for (const f of frames) this.onFrame(i, f);
      });
    });
  }

  private onFrame(i: number, f: Uint8Array): void {
    let m;
    try {
      m = decodeMessage(f);
    } catch {
      return; // a validator sent garbage: ignore it, f+1 honest ones still answer
    }
    const p = this.pending;
    if (m.kind !== 'reply' || p === undefined || m.session !== this.session || m.requestSeq !== p.requestSeq || m.from !== i) return;
    p.replies.set(i, m);
    this.tryAccept(p);
  }

  private tryAccept(p: Pending): void {
    // Group replies by (seq, result); accept the first group reaching f+1 power with valid signatures.
    const groups = new Map<string, Reply[]>();
    for (const r of p.replies.values()) {
      const k = `${r.seq}:${Buffer.from(r.result).toString('base64')}`;
      const g = groups.get(k) ?? [];
      g.push(r);
      groups.set(k, g);
    }
    for (const g of groups.values()) {
      const power = g.reduce((a, r) => a + this.stakes[r.from]!, 0);
      if (power < this.weakQuorum) continue;
      if (this.opts.verifyReplies !== false) {
        const ok = verifyReplies(g, (id) => this.opts.validators[id]?.publicKey, this.opts.crypto, this.replyCache);
        let validPower = 0;
        g.forEach((r, j) => {
          if (ok[j] === 1) validPower += this.stakes[r.from]!;
          else p.replies.delete(r.from); // a forged or unproven reply: forget it, wait for an honest one
        });
        if (validPower < this.weakQuorum) continue;
      }
      const first = g[0]!;
      if (!g.every((r) => equalBytes(r.result, first.result))) continue;
      this.finish(p);
      p.resolve({ result: first.result, seq: first.seq, requestSeq: p.requestSeq, signers: g.map((r) => r.from) });
      return;
    }
  }

  private finish(p: Pending): void {
    clearTimeout(p.retry);
    clearTimeout(p.deadline);
    if (this.pending === p) this.pending = undefined;
  }

  /** The request this client sends for (requestSeq, op): signing is deterministic. */
  signedRequest(requestSeq: number, op: Uint8Array): ClientRequest {
    return signRequest(this.opts.crypto, this.seed32, this.clientId, requestSeq, op, this.publicKey);
  }

  /** Submits one op; resolves with the result f+1 validators agree on. */
  submit(op: Uint8Array): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new Error('client closed'));
    if (this.pending !== undefined) return Promise.reject(new Error('one request at a time per client'));
    const requestSeq = this.nextSeq++;
    const frame = encodeFrame(encodeMessage(this.signedRequest(requestSeq, op)));
    return new Promise<SubmitResult>((resolve, reject) => {
      const retryMs = this.opts.retryMs ?? 1000;
      const timeoutMs = this.opts.timeoutMs ?? 30_000;
      const p: Pending = {
        requestSeq,
        frame,
        replies: new Map(),
        resolve,
        reject,
        retry: undefined,
        deadline: setTimeout(() => {
          this.finish(p);
          reject(new ClientTimeoutError(this.clientId, requestSeq, timeoutMs));
        }, timeoutMs),
      };
      const resend = (): void => {
        this.broadcast(p.frame);
        p.retry = setTimeout(resend, retryMs);
      };
      this.pending = p;
      this.broadcast(frame);
      p.retry = setTimeout(resend, retryMs);
    });
  }

  private broadcast(frame: Uint8Array): void {
    this.sockets.forEach((s, i) => {
      if (s === undefined || s.destroyed) {
        if (!this.closed && !this.dialing.has(i)) {
          this.dialing.add(i);
          this.dial(i).then(
            () => this.sockets[i]?.write(frame),
            () => undefined,
          ).finally(() => this.dialing.delete(i));
        }
        return;
      }
      s.write(frame);
    });
  }

  close(): void {
    this.closed = true;
    if (this.pending) {
      const p = this.pending;
      this.finish(p);
      p.reject(new Error('client closed'));
    }
    for (const s of this.sockets) s?.destroy();
  }
}
