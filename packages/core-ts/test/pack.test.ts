// packMessages: one buffer and offsets for the batch APIs (blake3Many, Merkle roots).
import { describe, expect, it } from 'vitest';
import { packMessages } from '../src/crypto/backend.js';

describe('packMessages', () => {
  it('copies separate arrays into one buffer with offsets', () => {
    const ms = [new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3, 4, 5])];
    const p = packMessages(ms);
    expect([...p.data]).toEqual([1, 2, 3, 4, 5]);
    expect([...p.offsets]).toEqual([0, 2, 2, 5]);
    ms[0]![0] = 9;
    expect(p.data[0]).toBe(1); // a copy
  });

  it('returns consecutive views of one buffer as a view of it, without a copy', () => {
    const big = new Uint8Array(96).map((_, i) => i);
    const views = [0, 1, 2].map((i) => big.subarray(i * 32, i * 32 + 32));
    const p = packMessages(views);
    expect(p.data.buffer).toBe(big.buffer);
    expect([...p.data]).toEqual([...big]);
    expect([...p.offsets]).toEqual([0, 32, 64, 96]);
    // out of order, a gap, or another buffer: copied
    for (const ms of [[views[1]!, views[0]!], [views[0]!, views[2]!], [views[0]!, views[1]!.slice()]]) {
      const q = packMessages(ms);
      expect(q.data.buffer).not.toBe(big.buffer);
      expect([...q.data]).toEqual(ms.flatMap((m) => [...m]));
    }
    expect([...packMessages([]).offsets]).toEqual([0]);
  });
});
