// The client port of a validator: plain TCP, length-prefixed frames carrying canonical
// ClientRequest messages in and signed Reply messages out.
//
// Trust model: replies are Ed25519-signed by the replica, and a client accepts a result only
// when f+1 validators sent matching signed replies, so the reply path needs no link security.
// Requests carry their client's signature, which the core checks (kit/client-auth.ts); replies
// go to the connection that last sent a request of their session ("<clientId>@<hex key>"), and
// another connection cannot claim a session that is bound and open (a replayed request would
// otherwise divert a client's replies). Anything malformed closes the connection and is counted.
//
// Off loopback the port is protected like the HTTP API (node.client_port): TLS with the
// validator's certificate, and a token the client sends in its first frame, CLIENT_AUTH_MAGIC
// followed by the token's UTF-8 bytes; any other first frame, or a wrong token, closes the
// connection (counted as 'unauthorized').

import net from 'node:net';
import tls from 'node:tls';
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeMessage, sessionOf, type ClientRequest } from '@bpci/core';
import { FrameDecoder, FrameTooLargeError, encodeFrame } from '../transport/frame.js';

export interface ClientServerLimits {
  /** Largest request frame (an op is at most 64 KiB; header room included). */
  readonly frameBytesMax: number;
  readonly connectionsMax: number;
  /** Outbound bytes buffered per connection before we drop the connection (slow reader). */
  readonly writeBufferBytesMax: number;
}

export const DEFAULT_CLIENT_SERVER_LIMITS: ClientServerLimits = {
  frameBytesMax: 80 * 1024,
  connectionsMax: 1024,
  writeBufferBytesMax: 16 * 1024 * 1024,
};

/** First frame of an authenticated client connection: these 16 bytes, then the token (UTF-8). */
export const CLIENT_AUTH_MAGIC = new TextEncoder().encode('bpci-client-auth');

/** The auth frame a client sends first when the port wants a token. */
export function clientAuthFrame(token: string): Uint8Array {
  const t = new TextEncoder().encode(token);
  const f = new Uint8Array(CLIENT_AUTH_MAGIC.length + t.length);
  f.set(CLIENT_AUTH_MAGIC);
  f.set(t, CLIENT_AUTH_MAGIC.length);
  return f;
}

export type ClientRejectReason = 'malformed' | 'too-large' | 'not-request' | 'client-id-taken' | 'too-many-connections' | 'slow-reader' | 'unauthorized';

export interface ClientServerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits?: Partial<ClientServerLimits>;
  /** Serve TLS with this PEM certificate and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Require this token in each connection's first frame (clientAuthFrame). */
  readonly token?: string;
  readonly onRequest: (request: ClientRequest) => void;
  readonly onReject?: (reason: ClientRejectReason) => void;
}

interface ClientConn {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;
  /** The session its requests run in (bound by the first request). */
  session: string | undefined;
  corked: boolean;
  /** The token frame came (or none is required). */
  authed: boolean;
}

export class ClientServer {
  readonly limits: ClientServerLimits;
  private readonly server: net.Server;
  private readonly conns = new Set<ClientConn>();
  private readonly byClient = new Map<string, ClientConn>();
  private readonly tokenDigest: Buffer | null;

  constructor(private readonly opts: ClientServerOptions) {
    this.limits = { ...DEFAULT_CLIENT_SERVER_LIMITS, ...opts.limits };
    this.tokenDigest = opts.token === undefined ? null : createHash('sha256').update(opts.token, 'utf8').digest();
    this.server = opts.tls
      ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    // A failed TLS handshake (tls destroys the socket): counted, nothing else.
    this.server.on('tlsClientError', () => this.opts.onReject?.('unauthorized'));
  }

  /** Constant-time check of an auth frame against the configured token. */
  private tokenMatches(frame: Uint8Array): boolean {
    if (this.tokenDigest === null) return true;
    if (frame.length < CLIENT_AUTH_MAGIC.length) return false;
    for (let i = 0; i < CLIENT_AUTH_MAGIC.length; i++) if (frame[i] !== CLIENT_AUTH_MAGIC[i]) return false;
    const got = createHash('sha256').update(frame.subarray(CLIENT_AUTH_MAGIC.length)).digest();
    return timingSafeEqual(got, this.tokenDigest);
  }

  async start(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Sends reply bytes to the connection bound to the session; false when none is. */
  send(session: string, bytes: Uint8Array): boolean {
    const c = this.byClient.get(session);
    if (c === undefined || c.socket.destroyed) return false;
    if (c.socket.writableLength > this.limits.writeBufferBytesMax) {
      this.opts.onReject?.('slow-reader');
      c.socket.destroy();
      return false;
    }
    if (!c.corked) {
      c.corked = true;
      c.socket.cork();
      process.nextTick(() => {
        c.corked = false;
        c.socket.uncork();
      });
    }
    c.socket.write(encodeFrame(bytes));
    return true;
  }

  private accept(socket: net.Socket): void {
    if (this.conns.size >= this.limits.connectionsMax) {
      this.opts.onReject?.('too-many-connections');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: ClientConn = { socket, decoder: new FrameDecoder(this.limits.frameBytesMax), session: undefined, corked: false, authed: this.tokenDigest === null };
    this.conns.add(conn);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.conns.delete(conn);
      if (conn.session !== undefined && this.byClient.get(conn.session) === conn) this.byClient.delete(conn.session);
    });
  }

  private onData(conn: ClientConn, chunk: Buffer): void {
    let frames: Uint8Array[];
    try {
      frames = conn.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (e) {
      this.opts.onReject?.(e instanceof FrameTooLargeError ? 'too-large' : 'malformed');
      conn.socket.destroy();
      return;
    }
    for (const f of frames) {
      if (!conn.authed) {
        if (!this.tokenMatches(f)) {
          this.opts.onReject?.('unauthorized');
          conn.socket.destroy();
          return;
        }
        conn.authed = true;
        continue;
      }
      let m;
      try {
        m = decodeMessage(f);
      } catch {
        this.opts.onReject?.('malformed');
        conn.socket.destroy();
        return;
      }
      if (m.kind !== 'request') {
        this.opts.onReject?.('not-request');
        conn.socket.destroy();
        return;
      }
      const session = sessionOf(m);
      if (conn.session !== session) {
        const holder = this.byClient.get(session);
        if (holder !== undefined && holder !== conn && !holder.socket.destroyed) {
          this.opts.onReject?.('client-id-taken');
          conn.socket.destroy();
          return;
        }
        if (conn.session !== undefined && this.byClient.get(conn.session) === conn) this.byClient.delete(conn.session);
        conn.session = session;
        this.byClient.set(session, conn);
      }
      this.opts.onRequest(m);
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
