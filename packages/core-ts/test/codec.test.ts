// Canonical codec: round trips for every message kind, strict rejection of malformed frames,
// and a fuzz test (random and mutated frames: never a crash, never a different value accepted).
import { describe, expect, it } from 'vitest';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { CodecError, CODEC_LIMITS, decodeMessage, decodePreparedCert, encodeMessage, encodePreparedCert, jsBackend, requestPayload, sessionOf, signRequest, type Message } from '@bpci/core';
import { Prng } from '../src/testing/prng.js';
import { encodeWith } from '../src/codec/wire.js';

const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const req = (c: string, s: number, op: string): Message & { kind: 'request' } => ({
  kind: 'request',
  clientId: c,
  requestSeq: s,
  op: new Uint8Array([...op].map((ch) => ch.charCodeAt(0))),
  key: b(32, 4),
  sig: b(64, 5),
});
const pp = { kind: 'pre-prepare', view: 3, seq: 17, digest: b(32, 1), batch: [req('alice', 1, 'add x 1'), req('bob', 9, '')], from: 2, sig: b(64, 7) } as const;
const prep = { kind: 'prepare', view: 3, seq: 17, digest: b(32, 1), from: 1, sig: b(64, 8) } as const;
const cp = { kind: 'checkpoint', seq: 64, stateDigest: b(32, 3), from: 0, sig: b(64, 9) } as const;
const vc = {
  kind: 'view-change',
  newView: 4,
  stableSeq: 64,
  stableDigest: b(32, 3),
  checkpointProof: [cp, { ...cp, from: 1 }],
  prepared: [
    { prePrepare: pp, prepares: [prep, { ...prep, from: 3 }], commits: [] },
    { prePrepare: { ...pp, seq: 18 }, prepares: [], commits: [{ ...prep, seq: 18, kind: 'commit' }] },
  ],
  from: 1,
  sig: b(64, 10),
} as const;

const reply = {
  kind: 'reply',
  view: 4,
  batchSeq: 18,
  root: b(32, 6),
  proof: { index: 4, leafCount: 5, siblings: [b(32, 13)] },
  seq: 17,
  session: `alice@${'ab'.repeat(32)}`,
  requestSeq: 1,
  result: b(3, 49),
  from: 2,
  sig: b(64, 12),
} as const;

export const SAMPLES: Message[] = [
  req('client-é', Number.MAX_SAFE_INTEGER, 'set k v'),
  pp,
  prep,
  { ...prep, kind: 'commit' },
  cp,
  vc,
  { kind: 'new-view', view: 4, viewChanges: [vc], prePrepares: [{ ...pp, view: 4 }], from: 0, sig: b(64, 11) },
  reply,
  { ...reply, proof: { index: 0, leafCount: 1, siblings: [] } },
  { kind: 'fetch', nextSeq: 65, from: 3 },
  { kind: 'state', checkpoint: { seq: 64, stateDigest: b(32, 3), snapshot: b(10, 5), proof: [cp] }, batches: [{ prePrepare: pp, commits: [{ ...prep, kind: 'commit' }] }], newView: null, from: 2 },
  { kind: 'state', checkpoint: null, batches: [], newView: null, from: 0 },
  { kind: 'timeout', view: 7, from: 1, sig: b(64, 14) },
  { kind: 'timeout-cert', view: 7, timeouts: [{ kind: 'timeout', view: 7, from: 1, sig: b(64, 14) }, { kind: 'timeout', view: 7, from: 3, sig: b(64, 15) }], from: 3 },
  { kind: 'blocks-request', fromSeq: 1, toSeq: 256, from: 2 },
  { kind: 'blocks', batches: [{ prePrepare: pp, commits: [{ ...prep, kind: 'commit' }] }], from: 1 },
  { kind: 'blocks', batches: [], from: 0 },
];

describe('codec', () => {
  it('rejects a blocks-request range that is empty, starts at 0 or is wider than a transfer', () => {
    for (const [fromSeq, toSeq] of [[0, 3], [5, 4], [1, 257]]) {
      expect(() => encodeMessage({ kind: 'blocks-request', fromSeq: fromSeq!, toSeq: toSeq!, from: 0 })).toThrow(/blocks-request/);
    }
    const ok = encodeMessage({ kind: 'blocks-request', fromSeq: 1, toSeq: 2, from: 0 });
    const wide = ok.slice();
    wide[16] = 0xff; // toSeq's low byte: 1..255+ beyond the transfer bound
    wide[15] = 0x01;
    expect(() => decodeMessage(wide)).toThrow(/blocks-request/);
  });

  it.each(SAMPLES.map((m) => [m.kind, m] as const))('round-trips %s', (_k, m) => {
    const bytes = encodeMessage(m);
    const back = decodeMessage(bytes);
    expect(back).toEqual(m);
    expect(encodeMessage(back)).toEqual(bytes); // one encoding per value
  });

  it('encodes through the shared scratch buffer without aliasing, nesting or sticking after a throw', () => {
    const all = SAMPLES.map((m) => encodeMessage(m));
    const copies = all.map((x) => x.slice());
    all.forEach((x, i) => expect(x.buffer).not.toBe(all[(i + 1) % all.length]!.buffer));
    SAMPLES.forEach((m) => encodeMessage(m)); // later encodes do not overwrite earlier results
    expect(all).toEqual(copies);
    // Nested: an encode inside an encode gets its own buffer; both results are right.
    let inner: Uint8Array | null = null;
    const outer = encodeWith(64, (w) => {
      w.u16(0xabcd);
      inner = encodeMessage(SAMPLES[0]!);
      w.u16(0x1234);
    });
    expect(outer).toEqual(new Uint8Array([0xab, 0xcd, 0x12, 0x34]));
    expect(inner).toEqual(copies[0]);
    // A throw mid-encode frees the scratch buffer: the next encodes are still right.
    expect(() => encodeWith(64, (w) => {
      w.u32(7);
      throw new CodecError('too-large', 'planted');
    })).toThrow(CodecError);
    expect(SAMPLES.map((m) => encodeMessage(m))).toEqual(copies);
    // Larger than the scratch buffer: grows like any writer.
    const big = encodeWith(32, (w) => w.bytes(new Uint8Array(40_000).fill(9), 1 << 20));
    expect(big.length).toBe(40_004);
    expect(big[40_003]).toBe(9);
  });

  it('rejects truncation at every length and trailing bytes', () => {
    for (const m of SAMPLES) {
      const bytes = encodeMessage(m);
      for (let len = 0; len < bytes.length; len++) {
        expect(() => decodeMessage(bytes.subarray(0, len)), `${m.kind} cut at ${len}`).toThrow(CodecError);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decodeMessage(longer)).toThrow(expect.objectContaining({ code: 'trailing-bytes' }));
    }
  });

  it('round-trips a prepared certificate on its own (the persisted record) and rejects it cut or padded', () => {
    for (const c of vc.prepared) {
      const bytes = encodePreparedCert(c);
      expect(decodePreparedCert(bytes)).toEqual(c);
      for (let len = 0; len < bytes.length; len++) expect(() => decodePreparedCert(bytes.subarray(0, len))).toThrow(CodecError);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decodePreparedCert(longer)).toThrow(expect.objectContaining({ code: 'trailing-bytes' }));
    }
  });

  it('rejects unknown tags, oversized fields and out-of-range integers', () => {
    expect(() => decodeMessage(new Uint8Array([0]))).toThrow(expect.objectContaining({ code: 'bad-tag' }));
    expect(() => decodeMessage(new Uint8Array([200]))).toThrow(expect.objectContaining({ code: 'bad-tag' }));
    // request with an op length prefix above opBytesMax: rejected before allocating (key and sig follow the op)
    const big = encodeMessage(req('a', 1, ''));
    const view = new DataView(big.buffer);
    view.setUint32(big.length - 4 - 32 - 64, CODEC_LIMITS.opBytesMax + 1);
    expect(() => decodeMessage(big)).toThrow(expect.objectContaining({ code: 'too-large' }));
    // requestSeq above 2^53-1
    const seq = encodeMessage(req('a', 1, ''));
    seq[1 + 4 + 1] = 0xff;
    expect(() => decodeMessage(seq)).toThrow(expect.objectContaining({ code: 'bad-value' }));
    // batch count far above what the frame can hold
    const ppBytes = encodeMessage(pp);
    new DataView(ppBytes.buffer).setUint32(1 + 8 + 8 + 32, 4000);
    expect(() => decodeMessage(ppBytes)).toThrow(CodecError);
    // encoder refuses values it could not decode
    expect(() => encodeMessage(req('x'.repeat(65), 1, ''))).toThrow(CodecError);
    expect(() => encodeMessage({ ...prep, digest: b(31, 0) })).toThrow(CodecError);
    expect(() => encodeMessage({ ...prep, seq: -1 })).toThrow(CodecError);
  });

  it('rejects reply proofs that cannot belong to a batch', () => {
    const at = 1 + 8 + 8 + 32; // leafCount, then index
    const withProof = (leafCount: number, index: number): Uint8Array => {
      const m = encodeMessage(reply);
      new DataView(m.buffer).setUint32(at, leafCount);
      new DataView(m.buffer).setUint32(at + 4, index);
      return m;
    };
    expect(decodeMessage(withProof(5, 4))).toEqual(reply);
    expect(() => decodeMessage(withProof(5, 5))).toThrow(expect.objectContaining({ code: 'bad-value' }));
    expect(() => decodeMessage(withProof(0, 0))).toThrow(expect.objectContaining({ code: 'bad-value' }));
    expect(() => decodeMessage(withProof(CODEC_LIMITS.batchRequestsMax + 1, 0))).toThrow(expect.objectContaining({ code: 'bad-value' }));
    const deep = encodeMessage(reply);
    new DataView(deep.buffer).setUint32(at + 8, 13); // 13 siblings: deeper than any batch tree
    expect(() => decodeMessage(deep)).toThrow(expect.objectContaining({ code: 'too-large' }));
    expect(() => encodeMessage({ ...reply, proof: { index: 5, leafCount: 5, siblings: [] } })).toThrow(CodecError);
    expect(() => encodeMessage({ ...reply, proof: { index: 0, leafCount: 1, siblings: Array(13).fill(b(32, 0)) } })).toThrow(CodecError);
  });

  it('rejects non-canonical UTF-8 (overlong, surrogate, invalid)', () => {
    const base = encodeMessage(req('ab', 1, ''));
    for (const bad of [
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0], // would start a surrogate (and is truncated)
      [0xff, 0x41],
    ]) {
      const m = base.slice();
      m[5] = bad[0]!;
      m[6] = bad[1]!;
      expect(() => decodeMessage(m)).toThrow(CodecError);
    }
  });

  it('fuzz: random and mutated frames never crash and never decode to a different value', () => {
    const rng = new Prng(0xc0dec);
    const frames = SAMPLES.map((m) => encodeMessage(m));
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      let input: Uint8Array;
      if (i % 4 === 0) {
        input = rng.bytes(rng.int(0, 200));
        if (input.length > 0) input[0] = rng.int(0, 11);
      } else {
        input = rng.pick(frames).slice();
        const mutations = rng.int(1, 4);
        for (let k = 0; k < mutations; k++) {
          const op = rng.int(0, 2);
          if (op === 0 && input.length > 0) input[rng.int(0, input.length - 1)] = rng.int(0, 255);
          else if (op === 1) input = input.subarray(0, rng.int(0, input.length));
          else {
            const extra = rng.bytes(rng.int(1, 8));
            const merged = new Uint8Array(input.length + extra.length);
            merged.set(input);
            merged.set(extra, input.length);
            input = merged;
          }
        }
      }
      let m: Message;
      try {
        m = decodeMessage(input);
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
        continue;
      }
      accepted++;
      // Whatever is accepted re-encodes to exactly the input: no two encodings of one value.
      expect(encodeMessage(m)).toEqual(input);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

// Issue 10: what a client in another language must produce. The layout is frozen here; the
// signature is plain Ed25519 (RFC 8032) over the payload, checked against node:crypto's
// (OpenSSL's) implementation, not only ours.
describe('client request signing vector', () => {
  const seed = new Uint8Array(32).fill(1);
  const op = new TextEncoder().encode('add x 1');
  const hex = (x: Uint8Array) => Buffer.from(x).toString('hex');
  it('payload = domain "bpci/request/v1" | u32 len + clientId | u64 requestSeq | u32 len + op', () => {
    expect(hex(requestPayload('alice', 1, op))).toBe('627063692f726571756573742f7631' + '00000005616c696365' + '0000000000000001' + '0000000761646420782031');
  });
  it('request frame = tag 1 | clientId | requestSeq | op | key (32) | sig (64); session = clientId@hex(key)', () => {
    const r = signRequest(jsBackend(), seed, 'alice', 1, op);
    expect(hex(r.key)).toBe('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c');
    expect(hex(r.sig)).toBe('b8765b59d72dfe533ffc6f23ae05a39cd9dc635dd8563f4044204214fc6372826815b72d84eb59426d1fb687ddbd053f5aa916a6d4429e54bc5199e7ccc3b50a');
    expect(hex(encodeMessage(r))).toBe('01' + '00000005616c696365' + '0000000000000001' + '0000000761646420782031' + hex(r.key) + hex(r.sig));
    expect(sessionOf(r)).toBe(`alice@${hex(r.key)}`);
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]);
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(hex(nodeSign(null, requestPayload('alice', 1, op), key))).toBe(hex(r.sig));
    expect(nodeVerify(null, requestPayload('alice', 1, op), createPublicKey(key), r.sig)).toBe(true);
  });
});
