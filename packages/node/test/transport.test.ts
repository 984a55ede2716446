import { afterEach, describe, expect, it } from 'vitest';
import { Transport, backoffDelayMs, type PeerAddress, type TransportLimits } from '../src/transport/transport.js';
import { FrameDecoder, FrameTooLargeError, encodeFrame } from '../src/transport/frame.js';
import {
  DIRECTION_ACCEPTOR_TO_DIALER,
  DIRECTION_DIALER_TO_ACCEPTOR,
  openFrame,
  sealWireFrame,
} from '../src/transport/link-crypto.js';
import { RawClient, crypto, identity, waitFor } from './helpers.js';

const open: Transport[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(open.splice(0).map((t) => t.close()));
});

type Inbox = Array<{ from: number; text: string }>;
const enc = new TextEncoder();
const dec = new TextDecoder();

function addr(id: number, port: number): PeerAddress {
  return { id, host: '127.0.0.1', port, publicKey: identity(id).publicKey };
}

async function startNode(
  id: number,
  peers: PeerAddress[],
  inbox: Inbox,
  opts: { port?: number; limits?: Partial<TransportLimits> } = {},
): Promise<{ t: Transport; port: number }> {
  const t = new Transport({
    selfId: id,
    listen: { host: '127.0.0.1', port: opts.port ?? 0 },
    peers,
    identitySeed32: identity(id).seed,
    crypto,
    limits: { reconnectDelayMsMin: 5, reconnectDelayMsMax: 50, ...opts.limits },
    onMessage: (from, payload) => inbox.push({ from, text: dec.decode(payload) }),
    random: () => 0.5,
  });
  open.push(t);
  const { port } = await t.start();
  return { t, port };
}

/** Starts n nodes from the highest id down, so each dialer knows the ports it dials. */
async function mesh(n: number, limits?: Partial<TransportLimits>) {
  const ports: number[] = new Array(n).fill(0);
  const inboxes: Inbox[] = [];
  const nodes: Transport[] = [];
  for (let id = n - 1; id >= 0; id--) {
    const peers = [...Array(n).keys()].filter((j) => j !== id).map((j) => addr(j, ports[j]!));
    inboxes[id] = [];
    const { t, port } = await startNode(id, peers, inboxes[id]!, limits ? { limits } : {});
    ports[id] = port;
    nodes[id] = t;
  }
  return { nodes, inboxes, ports };
}

describe('frame decoder', () => {
  it('reassembles frames split across chunks and joined in one chunk', () => {
    const d = new FrameDecoder(100);
    const a = encodeFrame(enc.encode('hello'));
    const b = encodeFrame(enc.encode('world!'));
    const all = new Uint8Array([...a, ...b]);
    expect(d.push(all.subarray(0, 3))).toEqual([]);
    const out = [...d.push(all.subarray(3, 12)), ...d.push(all.subarray(12))];
    expect(out.map((f) => dec.decode(f))).toEqual(['hello', 'world!']);
    expect(d.buffered).toBe(0);
  });

  it('lets the bound change between frames that arrived in one chunk', () => {
    const d = new FrameDecoder(8);
    d.append(new Uint8Array([...encodeFrame(enc.encode('auth')), ...encodeFrame(new Uint8Array(100))]));
    expect(dec.decode(d.next()!)).toBe('auth');
    d.frameBytesMax = 1000; // authenticated now
    expect(d.next()!.length).toBe(100);
    expect(d.next()).toBeUndefined();
  });

  it('rejects a 2^31-byte announcement from its header alone', () => {
    const d = new FrameDecoder(1 << 20);
    const header = new Uint8Array([0x80, 0, 0, 0, 1, 2]);
    expect(() => d.push(header)).toThrow(FrameTooLargeError);
    expect(d.buffered).toBeLessThanOrEqual(2); // nothing was reserved for the body
  });
});

describe('frame MAC', () => {
  it('fails on a wrong counter, a reflected direction or a flipped bit', () => {
    const key = crypto.blake3(enc.encode('k'));
    const payload = enc.encode('vote');
    const wire = sealWireFrame(crypto, key, DIRECTION_DIALER_TO_ACCEPTOR, 7, payload);
    const body = wire.subarray(4);
    expect(dec.decode(openFrame(crypto, key, DIRECTION_DIALER_TO_ACCEPTOR, 7, body)!)).toBe('vote');
    expect(openFrame(crypto, key, DIRECTION_DIALER_TO_ACCEPTOR, 8, body)).toBeNull();
    expect(openFrame(crypto, key, DIRECTION_ACCEPTOR_TO_DIALER, 7, body)).toBeNull();
    const flipped = body.slice();
    flipped[0]! ^= 1;
    expect(openFrame(crypto, key, DIRECTION_DIALER_TO_ACCEPTOR, 7, flipped)).toBeNull();
  });
});

describe('backoff', () => {
  it('grows exponentially, is capped, and jitters within [half, full]', () => {
    expect(backoffDelayMs(0, 50, 5000, () => 0)).toBe(25);
    expect(backoffDelayMs(0, 50, 5000, () => 0.999999)).toBe(50);
    expect(backoffDelayMs(3, 50, 5000, () => 0.5)).toBe(300);
    expect(backoffDelayMs(40, 50, 5000, () => 0.999999)).toBe(5000);
  });
});

describe('transport over loopback', () => {
  it('4 validators exchange messages over a full mesh, in order per link', async () => {
    const { nodes, inboxes } = await mesh(4);
    // Sent at once, before the links are up: the first data frames travel in the same TCP
    // segment as the handshake's last frame, and are larger than any handshake frame.
    const pad = 'x'.repeat(300);
    for (let i = 0; i < 4; i++) for (let k = 0; k < 20; k++) nodes[i]!.broadcast(enc.encode(`${i}:${k}:${pad}`));
    await waitFor(() => inboxes.every((b) => b.length === 60), 'all 60 messages at each node');
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        if (i === j) continue;
        const got = inboxes[i]!.filter((m) => m.from === j).map((m) => m.text);
        expect(got).toEqual([...Array(20).keys()].map((k) => `${j}:${k}:${pad}`));
      }
      expect(nodes[i]!.stats().peers.every((p) => p.linksEstablished === 1)).toBe(true);
      const st = nodes[i]!.stats();
      expect(st.peers.every((p) => p.connected)).toBe(true);
      expect(Object.values(st.rejected).every((v) => v === 0)).toBe(true);
    }
  });

  it('a peer over its inbound budget is paused, not dropped: everything arrives, in order', async () => {
    // 1,000 frames/s (buckets of 100): 600 frames from 0 must pause 1's reading of that link
    // several times; the others' links are unaffected.
    const { nodes, inboxes } = await mesh(3, { inboundFramesPerSecond: 1000 });
    await waitFor(() => nodes.every((t, i) => [0, 1, 2].every((j) => j === i || t.isConnected(j))), 'mesh up');
    for (let k = 0; k < 600; k++) nodes[0]!.send(1, enc.encode(`f${k}`));
    nodes[2]!.send(1, enc.encode('from-2'));
    await waitFor(() => inboxes[1]!.some((m) => m.from === 2), 'the other peer is heard meanwhile');
    await waitFor(() => inboxes[1]!.filter((m) => m.from === 0).length === 600, 'all 600 frames');
    expect(inboxes[1]!.filter((m) => m.from === 0).map((m) => m.text)).toEqual([...Array(600).keys()].map((k) => `f${k}`));
    const from0 = nodes[1]!.stats().peers.find((p) => p.id === 0)!;
    expect(from0.inboundThrottled).toBeGreaterThan(0);
    expect(from0.connected).toBe(true);
    expect(nodes[1]!.stats().peers.find((p) => p.id === 2)!.inboundThrottled).toBe(0);
    expect(Object.values(nodes[1]!.stats().rejected).every((v) => v === 0)).toBe(true);
  });

  it('reconnects after a peer restarts on the same port and delivers what was queued', async () => {
    const { nodes, inboxes, ports } = await mesh(2);
    nodes[0]!.send(1, enc.encode('before'));
    await waitFor(() => inboxes[1]!.length === 1, 'first message');
    await nodes[1]!.close();
    await waitFor(() => !nodes[0]!.isConnected(1), 'link down');
    nodes[0]!.send(1, enc.encode('while-down'));
    const inbox: Inbox = [];
    await startNode(1, [addr(0, ports[0]!)], inbox, { port: ports[1]! });
    await waitFor(() => inbox.length === 1, 'message after restart');
    expect(inbox[0]).toEqual({ from: 0, text: 'while-down' });
    expect(nodes[0]!.stats().peers[0]!.linksEstablished).toBe(2);
  });

  it('closes and counts a garbage client, a bad magic and a 2^31 length', async () => {
    const { nodes, ports } = await mesh(2);
    const t = nodes[1]!;
    const http = await RawClient.connect(ports[1]!);
    clients.push(http);
    http.write(enc.encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const huge = await RawClient.connect(ports[1]!);
    clients.push(huge);
    huge.write(new Uint8Array([0x80, 0, 0, 0]));
    const badMagic = await RawClient.connect(ports[1]!);
    clients.push(badMagic);
    badMagic.write(encodeFrame(new Uint8Array(77).fill(7)));
    await waitFor(() => http.closed && huge.closed && badMagic.closed, 'server closes all three');
    expect(t.stats().rejected.frame_too_large).toBe(2);
    expect(t.stats().rejected.malformed_hello).toBe(1);
    // The real link is unaffected.
    expect(t.isConnected(0)).toBe(true);
  });

  it('rejects an unknown validator id, a wrong receiver and a higher id dialing', async () => {
    const { nodes, ports } = await mesh(3);
    const t = nodes[1]!;
    for (const [from, to] of [
      [9, 1],
      [0, 2],
      [2, 1],
    ] as const) {
      const c = await RawClient.connect(ports[1]!);
      clients.push(c);
      await expect(c.handshake(from, to, identity(from).seed)).rejects.toThrow();
      await waitFor(() => c.closed, 'closed');
    }
    const r = t.stats().rejected;
    expect([r.unknown_peer, r.wrong_receiver, r.wrong_direction]).toEqual([1, 1, 1]);
  });

  it('rejects a handshake signed with the wrong key', async () => {
    const { nodes, ports } = await mesh(2);
    const c = await RawClient.connect(ports[1]!);
    clients.push(c);
    await c.handshake(0, 1, identity(7).seed); // claims 0, signs with someone else's key
    await waitFor(() => c.closed, 'closed');
    expect(nodes[1]!.stats().rejected.bad_signature).toBe(1);
  });

  it('delivers a correctly MACed frame, replaces a link, then closes on a replayed frame', async () => {
    const inbox: Inbox = [];
    let ups = 0;
    let downs = 0;
    const t = new Transport({
      selfId: 1,
      listen: { host: '127.0.0.1', port: 0 },
      peers: [addr(0, 1)], // peer 0 never listens: it dials
      identitySeed32: identity(1).seed,
      crypto,
      onMessage: (from, payload) => inbox.push({ from, text: dec.decode(payload) }),
      observer: { linkUp: () => ups++, linkDown: () => downs++ },
    });
    open.push(t);
    const { port } = await t.start();
    const c = await RawClient.connect(port);
    clients.push(c);
    const keys = await c.handshake(0, 1, identity(0).seed);
    const wire = c.sendSealed(keys, 0, enc.encode('ok'));
    await waitFor(() => inbox.length === 1, 'first frame');
    // A second authenticated link from the same peer replaces the first (the peer restarted).
    const c2 = await RawClient.connect(port);
    clients.push(c2);
    const keys2 = await c2.handshake(0, 1, identity(0).seed);
    await waitFor(() => c.closed, 'old link closed by the new one');
    expect(ups - downs).toBe(1);
    const wire2 = c2.sendSealed(keys2, 0, enc.encode('ok'));
    expect(wire2).not.toEqual(wire); // a fresh link key
    await waitFor(() => inbox.length === 2, 'frame on the new link');
    expect(inbox[1]).toEqual({ from: 0, text: 'ok' });
    c2.write(wire2); // replay on the same link: the receive counter moved on, so the MAC fails
    await waitFor(() => c2.closed, 'closed');
    expect(t.stats().rejected.bad_mac).toBe(1);
    expect(inbox).toHaveLength(2);
    await waitFor(() => downs === 1, 'link down reported once');
    expect(ups).toBe(1);
  });

  it('rejects a frame MACed with the key of the other direction (reflection)', async () => {
    const inbox: Inbox = [];
    const { t, port } = await startNode(1, [addr(0, 1)], inbox);
    const c = await RawClient.connect(port);
    clients.push(c);
    const keys = await c.handshake(0, 1, identity(0).seed);
    c.write(sealWireFrame(crypto, keys.recvKey, keys.recvDirection, 0, enc.encode('reflected')));
    await waitFor(() => c.closed, 'closed');
    expect(t.stats().rejected.bad_mac).toBe(1);
    expect(inbox).toHaveLength(0);
  });

  it('keeps the per-peer queue within its bound, dropping the oldest', async () => {
    const inbox: Inbox = [];
    // Peer 1 is not up yet: everything queues.
    const reserve = await startNode(1, [addr(0, 1)], []);
    const port1 = reserve.port;
    await reserve.t.close();
    const { t } = await startNode(0, [addr(1, port1)], [], { limits: { queueFramesMax: 10, reconnectDelayMsMax: 20 } });
    for (let k = 0; k < 100; k++) t.send(1, enc.encode(`m${k}`));
    const st = t.stats().peers[0]!;
    expect(st.queuedFrames).toBe(10);
    expect(st.framesDropped).toBe(90);
    await startNode(1, [addr(0, 1)], inbox, { port: port1 });
    await waitFor(() => inbox.length === 10, 'queued frames delivered');
    expect(inbox.map((m) => m.text)).toEqual([...Array(10).keys()].map((k) => `m${k + 90}`));
  });

  it('closes a silent connection at the handshake timeout and bounds pending connections', async () => {
    const { t, port } = await startNode(1, [addr(0, 1)], [], { limits: { handshakeTimeoutMs: 50, pendingConnectionsMax: 2 } });
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await waitFor(() => t.stats().pendingConnections === 2, 'two pending');
    const c = await RawClient.connect(port);
    clients.push(a, b, c);
    await waitFor(() => a.closed && b.closed && c.closed, 'all closed');
    expect(t.stats().rejected.too_many_pending).toBe(1);
    expect(t.stats().rejected.handshake_timeout).toBe(2);
    expect(t.stats().pendingConnections).toBe(0);
  });

  it('closes every connection that sends random bytes and still accepts a real peer', async () => {
    // Seeded xorshift so a failure replays.
    let x = 0x9e3779b9;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    const inbox: Inbox = [];
    const { t, port } = await startNode(1, [addr(0, 1)], inbox, { limits: { handshakeTimeoutMs: 200 } });
    const junk: RawClient[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await RawClient.connect(port);
      clients.push(c);
      junk.push(c);
      const body = new Uint8Array(1 + Math.floor(rnd() * 120)).map(() => Math.floor(rnd() * 256));
      // Half of them wrap the junk in a well-formed length prefix, so it reaches the hello parser.
      c.write(i % 2 === 0 ? encodeFrame(body) : body);
    }
    await waitFor(() => junk.every((c) => c.closed), 'all junk connections closed');
    const r = t.stats().rejected;
    expect(Object.values(r).reduce((a, b) => a + b, 0)).toBe(30);
    const c = await RawClient.connect(port);
    clients.push(c);
    const keys = await c.handshake(0, 1, identity(0).seed);
    c.sendSealed(keys, 0, enc.encode('still here'));
    await waitFor(() => inbox.length === 1, 'real peer delivered');
  });

  it('survives an onMessage handler that throws', async () => {
    let calls = 0;
    const t1 = new Transport({
      selfId: 1,
      listen: { host: '127.0.0.1', port: 0 },
      peers: [addr(0, 1)],
      identitySeed32: identity(1).seed,
      crypto,
      onMessage: () => {
        calls++;
        throw new Error('handler bug');
      },
    });
    open.push(t1);
    const { port } = await t1.start();
    const inbox: Inbox = [];
    const { t: t0 } = await startNode(0, [addr(1, port)], inbox);
    t0.send(1, enc.encode('a'));
    t0.send(1, enc.encode('b'));
    await waitFor(() => calls === 2, 'both delivered despite the throw');
    expect(t1.isConnected(0)).toBe(true);
  });

  it('refuses a payload larger than frameBytesMax at the sender', async () => {
    const { t } = await startNode(0, [addr(1, 1)], [], { limits: { frameBytesMax: 1024 } });
    expect(() => t.send(1, new Uint8Array(2000))).toThrow(RangeError);
    expect(t.send(5, new Uint8Array(1))).toBe(false);
  });
});

describe('log lines (issue 13 §2)', () => {
  it('name peers by validator id, not by index', async () => {
    const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const capture = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
    const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error'), child: () => logger };
    const named = (id: number, port: number): PeerAddress => ({ ...addr(id, port), name: `validator-00${id + 1}` });
    const t1 = new Transport({ selfId: 1, listen: { host: '127.0.0.1', port: 0 }, peers: [named(0, 0)], identitySeed32: identity(1).seed, crypto, onMessage: () => {} });
    open.push(t1);
    const { port } = await t1.start();
    const t0 = new Transport({
      selfId: 0,
      listen: { host: '127.0.0.1', port: 0 },
      peers: [named(1, port)],
      identitySeed32: identity(0).seed,
      crypto,
      limits: { reconnectDelayMsMin: 5, reconnectDelayMsMax: 50 },
      onMessage: () => {},
      logger,
    });
    open.push(t0);
    await t0.start();
    await waitFor(() => t0.isConnected(1), 'link 0 -> 1');
    await t1.close();
    await waitFor(() => lines.some((l) => l.msg === 'link down'), 'link down logged');
    const up = lines.find((l) => l.msg === 'link up');
    const down = lines.find((l) => l.msg === 'link down');
    expect(up?.obj.peer).toBe('validator-002');
    expect(down?.obj.peer).toBe('validator-002');
    for (const l of lines) if ('peer' in l.obj && l.obj.peer !== undefined) expect(typeof l.obj.peer, JSON.stringify(l)).toBe('string');
  });
});
