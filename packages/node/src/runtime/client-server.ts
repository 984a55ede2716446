// The client port of a validator: plain TCP, length-prefixed frames carrying canonical
// ClientRequest messages in and signed Reply messages out.
//
// Trust model: replies are Ed25519-signed by the replica, and a client accepts a result only
// when f+1 validators sent matching signed replies, so the reply path needs no link security.
// Requests carry their client's signature, which the core checks (kit/client-auth.ts); replies
// go to the connection that last sent a request of their session ("<clientId>@<hex key>"), and
// another connection cannot claim a session that is bound and open (a replayed request would
// otherwise divert a client's replies). Anything malformed closes the connection and is counted.

import net from 'node:net';
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

export interface ClientServerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits?: Partial<ClientServerLimits>;
  readonly onRequest: (request: ClientRequest) => void;
  readonly onReject?: (reason: 'malformed' | 'too-large' | 'not-request' | 'client-id-taken' | 'too-many-connections' | 'slow-reader') => void;
}

interface ClientConn {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;
  /** The session its requests run in (bound by the first request). */
  session: string | undefined;
  corked: boolean;
}

export class ClientServer {
  readonly limits: ClientServerLimits;
  private readonly server: net.Server;
  private readonly conns = new Set<ClientConn>();
  private readonly byClient = new Map<string, ClientConn>();

  constructor(private readonly opts: ClientServerOptions) {
    this.limits = { ...DEFAULT_CLIENT_SERVER_LIMITS, ...opts.limits };
    this.server = net.createServer((s) => this.accept(s));
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
    const conn: ClientConn = { socket, decoder: new FrameDecoder(this.limits.frameBytesMax), session: undefined, corked: false };
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
