// Loopback transport benchmark: two Transports in one process, authenticated link, MAC per frame.
// Measures ping-pong round-trip time (p50/p99) and one-way frames per second for a payload size.
// Both ends share one thread, so the frame rate is a lower bound of what two processes reach.
// Run with `bpci bench transport [--crypto js|wasm|native]`; never used by tests.

import type { CryptoBackend } from '@bpci/core';
import { Transport } from './transport.js';

export interface TransportBenchResult {
  readonly crypto: string;
  readonly payloadBytes: number;
  readonly roundTrips: number;
  readonly rttUsP50: number;
  readonly rttUsP99: number;
  readonly frames: number;
  readonly framesPerSecond: number;
}

export async function measureTransport(
  crypto: CryptoBackend,
  opts: { payloadBytes?: number; roundTrips?: number; frames?: number } = {},
): Promise<TransportBenchResult> {
  const payloadBytes = opts.payloadBytes ?? 200;
  const roundTrips = opts.roundTrips ?? 10_000;
  const frames = opts.frames ?? 100_000;
  const seed = (i: number) => {
    const s = new Uint8Array(32).fill(0x5a);
    s[0] = i;
    return s;
  };
  let onB: (payload: Uint8Array) => void = () => {};
  let onA: () => void = () => {};
  const b = new Transport({
    selfId: 1,
    listen: { host: '127.0.0.1', port: 0 },
    peers: [{ id: 0, host: '127.0.0.1', port: 1, publicKey: crypto.ed25519PublicKey(seed(0)) }],
    identitySeed32: seed(1),
    crypto,
    onMessage: (_f, p) => onB(p),
  });
  const { port } = await b.start();
  const a = new Transport({
    selfId: 0,
    listen: { host: '127.0.0.1', port: 0 },
    peers: [{ id: 1, host: '127.0.0.1', port, publicKey: crypto.ed25519PublicKey(seed(1)) }],
    identitySeed32: seed(0),
    crypto,
    onMessage: () => onA(),
  });
  try {
    await a.start();
    for (let i = 0; !a.isConnected(1) || !b.isConnected(0); i++) {
      if (i > 2_000) throw new Error('link did not come up within 10 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    const payload = new Uint8Array(payloadBytes).fill(7);
    onB = (p) => b.send(0, p);
    const lat: number[] = [];
    for (let i = 0; i < roundTrips; i++) {
      const t = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        onA = resolve;
        a.send(1, payload);
      });
      lat.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    lat.sort((x, y) => x - y);
    let got = 0;
    onB = () => {
      got++;
    };
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      a.send(1, payload);
      // Let the socket drain now and then; the queue bound would drop frames otherwise.
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    while (got < frames) await new Promise((r) => setImmediate(r));
    const seconds = (performance.now() - t0) / 1000;
    return {
      crypto: crypto.name,
      payloadBytes,
      roundTrips,
      rttUsP50: Math.round(lat[lat.length >> 1]! * 10) / 10,
      rttUsP99: Math.round(lat[Math.floor(lat.length * 0.99)]! * 10) / 10,
      frames,
      framesPerSecond: Math.round(frames / seconds),
    };
  } finally {
    await a.close();
    await b.close();
  }
}
