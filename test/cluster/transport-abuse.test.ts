// Malformed frames and unauthenticated peers against a running validator process (issue 4,
// section 9): raw garbage, a huge length prefix, a Hello from an unknown validator id, and a full
// handshake that claims validator 0 but signs with a key that is not validator 0's. Each one gets
// its connection closed and counted in bpci_transport_frames_rejected_total{reason}; garbage on the
// client port is closed and counted too; the validator never crashes and keeps committing requests
// from real clients the whole time.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '@bpci/node/transport/frame';
import { HELLO_BYTES, authMessage, decodeHello, encodeHello, newEphemeral, newNonce, transcriptHash } from '@bpci/node/transport/link-crypto';
import { Cluster, crypto, ensureBuilt, metricSum, startLoad, until, type Load } from './harness.js';

const TARGET = 2; // a backup: it accepts links from validators 0 and 1
let cluster: Cluster;
let load: Load | undefined;

beforeAll(async () => {
  ensureBuilt();
  cluster = await Cluster.create({ label: 'transport-abuse', phaseTimeoutSeconds: 1 });
  for (const m of cluster.members) cluster.start(m.index);
  await cluster.waitHealthy([0, 1, 2, 3]);
  load = await startLoad(cluster, 2, 'abuse');
  await cluster.waitHeight([0, 1, 2, 3], 5, 60_000);
}, 180_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await cluster?.stopAll();
  cluster?.cleanup();
});

interface Session {
  readonly socket: net.Socket;
  /** Everything the server sent so far. */
  received: Buffer;
  readonly closed: Promise<void>;
}

function open(port: number): Promise<Session> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const s: Session = {
      socket,
      received: Buffer.alloc(0),
      closed: new Promise<void>((r) => socket.once('close', () => r())),
    };
    socket.on('data', (d: Buffer) => (s.received = Buffer.concat([s.received, d])));
    socket.on('error', () => undefined); // a reset by the server is an expected way to be closed
    socket.once('connect', () => resolve(s));
    socket.once('error', reject);
  });
}

/** Resolves when the server closed the connection; fails after `ms` (the server must close it). */
async function closedByServer(s: Session, ms = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([s.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejected(reason: string): Promise<number> {
  return metricSum(await cluster.metrics(TARGET), 'bpci_transport_frames_rejected_total', `reason="${reason}"`);
}

/** The reject counter for `reason` at TARGET reaches `before + 1` (polling; the close may land first). */
async function counted(reason: string, before: number): Promise<void> {
  await until(`bpci_transport_frames_rejected_total{reason="${reason}"} > ${before}`, 15_000, async () => ((await rejected(reason)) > before ? true : undefined), async () => String(await rejected(reason)));
}

describe('malformed frames and unauthenticated peers against a validator process', () => {
  it('closes and counts raw garbage (a frame that is no Hello)', async () => {
    const before = await rejected('malformed_hello');
    const s = await open(cluster.members[TARGET]!.port);
    s.socket.write(encodeFrame(new Uint8Array(randomBytes(HELLO_BYTES)).fill(0x41, 0, 4))); // "AAAA", not "BPCL"
    await closedByServer(s);
    await counted('malformed_hello', before);
  });

  it('closes and counts a huge length prefix without buffering it', async () => {
    const before = await rejected('frame_too_large');
    const s = await open(cluster.members[TARGET]!.port);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_fff0, 0);
    s.socket.write(Buffer.concat([header, randomBytes(1024)]));
    await closedByServer(s);
    await counted('frame_too_large', before);
  });

  it('closes and counts a Hello from a validator id that is not in the set', async () => {
    const before = await rejected('unknown_peer');
    const s = await open(cluster.members[TARGET]!.port);
    s.socket.write(encodeFrame(encodeHello(77, TARGET, newNonce(), newEphemeral().publicRaw).bytes));
    await closedByServer(s);
    await counted('unknown_peer', before);
  });

  it('closes and counts a handshake that claims validator 0 but signs with an unknown key', async () => {
    const before = await rejected('bad_signature');
    const s = await open(cluster.members[TARGET]!.port);
    const mine = encodeHello(0, TARGET, newNonce(), newEphemeral().publicRaw);
    s.socket.write(encodeFrame(mine.bytes));
    // The acceptor answers with its Hello and its own signature; we answer with a signature by a
    // key the validator set does not know, over the right transcript.
    await until('the acceptor Hello', 15_000, () => (s.received.length >= 4 + HELLO_BYTES ? true : undefined), () => `${s.received.length} bytes`);
    const theirs = decodeHello(new Uint8Array(s.received.subarray(4, 4 + HELLO_BYTES)));
    expect(theirs.fromId).toBe(TARGET);
    const th = transcriptHash(crypto, mine, theirs);
    const impostorSeed = new Uint8Array(randomBytes(32));
    s.socket.write(encodeFrame(crypto.ed25519Sign(impostorSeed, authMessage(0, th))));
    await closedByServer(s);
    await counted('bad_signature', before);
  });

  it('closes garbage on the client port and counts it', async () => {
    const port = cluster.members[TARGET]!.clientPort;
    const count = async () => metricSum(await cluster.metrics(TARGET), 'bpci_client_connections_rejected_total');
    const before = await count();
    const a = await open(port);
    a.socket.write(encodeFrame(new Uint8Array(randomBytes(200)).fill(0xff, 0, 8)));
    await closedByServer(a);
    const b = await open(port);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0x7fff_ffff, 0);
    b.socket.write(header);
    await closedByServer(b);
    await until('two client-port rejections counted', 15_000, async () => ((await count()) >= before + 2 ? true : undefined), async () => String(await count()));
  });

  it('keeps its links and keeps committing client requests through all of it', async () => {
    const h0 = (await cluster.state(TARGET)).last_committed_sequence;
    const c0 = load!.count();
    await cluster.waitHeight([0, 1, 2, 3], h0 + 10, 60_000);
    await until('clients still accepted', 60_000, () => (load!.count() > c0 + 10 ? true : undefined), () => `${load!.count()}`);
    const st = await cluster.state(TARGET);
    expect(st.peers.every((p) => p.connected)).toBe(true);
    expect(cluster.running(TARGET)).toBe(true);
    expect(load!.failures).toBe(0);
  }, 150_000);
});
