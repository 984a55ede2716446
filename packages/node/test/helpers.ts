// Test helpers: identity keys, polling for a condition (bounded, never asserting time), and a
// hand-driven link client that speaks the handshake byte by byte so tests can misbehave on purpose.
import net from 'node:net';
import { jsBackend, type CryptoBackend } from '@bpci/core';
import { FrameDecoder, encodeFrame } from '../src/transport/frame.js';
import {
  HELLO_BYTES,
  authMessage,
  decodeHello,
  deriveLinkKeys,
  encodeHello,
  newEphemeral,
  newNonce,
  sealWireFrame,
  transcriptHash,
  type LinkKeys,
} from '../src/transport/link-crypto.js';

export const crypto: CryptoBackend = jsBackend();

export function identity(i: number): { seed: Uint8Array; publicKey: Uint8Array } {
  const seed = new Uint8Array(32).fill(0);
  seed[0] = 0xa0;
  seed[31] = i + 1;
  return { seed, publicKey: crypto.ed25519PublicKey(seed) };
}

/**
 * `count` distinct loopback ports that were free a moment ago, chosen by the OS. A random base
 * in 20000-50000 overlaps Linux's ephemeral range (32768-60999), where other tests' outbound
 * connections live: an oversize test once failed with EADDRINUSE that way in CI.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
      servers.push(s);
      ports.push((s.address() as net.AddressInfo).port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  return ports;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A base port for a local cluster (`runLocalCluster`: transport base + i, client base + 500 + i,
 * API `apiOffset` + i) whose ports are free now. Drawn below Linux's ephemeral range
 * (32768-60999), so other tests' outbound connections cannot take them.
 */
export async function freeBase(validators = 4, apiOffset = 100): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 11_000);
    const ports = [0, 500, apiOffset].flatMap((o) => Array.from({ length: validators }, (_, i) => base + o + i));
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free port range below 32768');
}

/** GET (or, with a body, POST as JSON) and parse the JSON answer: the tests' API calls. */
export async function fetchJson(url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = body === undefined ? await fetch(url) : await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

export async function waitFor(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw TCP client to a transport's port; records whether the server closed it. */
export class RawClient {
  readonly socket: net.Socket;
  closed = false;
  readonly decoder = new FrameDecoder(1 << 20);
  readonly frames: Uint8Array[] = [];
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      for (const f of this.decoder.push(c)) this.frames.push(f);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Runs the dialer side of the handshake claiming `fromId`, signing with `seed` (which may be the
   * wrong key). Returns the link keys if the server answered with its hello + auth.
   */
  async handshake(fromId: number, toId: number, seed: Uint8Array): Promise<LinkKeys> {
    const eph = newEphemeral();
    const mine = encodeHello(fromId, toId, newNonce(), eph.publicRaw);
    this.write(encodeFrame(mine.bytes));
    await waitFor(() => this.frames.length >= 2 || this.closed, 'server hello + auth');
    if (this.frames.length < 2) throw new Error('server closed during handshake');
    const theirs = decodeHello(this.frames[0]!.slice(0, HELLO_BYTES));
    const th = transcriptHash(crypto, mine, theirs);
    const keys = deriveLinkKeys(crypto, 0, eph, theirs.ephemeralPublic, th);
    this.write(encodeFrame(crypto.ed25519Sign(seed, authMessage(0, th))));
    return keys;
  }

  sendSealed(keys: LinkKeys, counter: number, payload: Uint8Array): Uint8Array {
    const wire = sealWireFrame(crypto, keys.sendKey, keys.sendDirection, counter, payload);
    this.write(wire);
    return wire;
  }
}
