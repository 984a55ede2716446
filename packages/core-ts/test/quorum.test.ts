import { describe, expect, it } from 'vitest';
import { maxFaulty, quorumPowerFor, ValidatorSet, ValidatorSetError, weakQuorumPowerFor } from '@bpci/core';

const key = (i: number): Uint8Array => {
  const k = new Uint8Array(32);
  k[0] = i + 1;
  return k;
};
const set = (stakes: number[]): ValidatorSet => new ValidatorSet(stakes.map((stake, i) => ({ publicKey: key(i), stake })));

describe('quorum math', () => {
  it.each([
    // n, f, quorum (2f+1 when n = 3f+1), weak quorum (f+1)
    [1, 0, 1, 1],
    [2, 0, 2, 1],
    [3, 0, 3, 2],
    [4, 1, 3, 2],
    [5, 1, 4, 2],
    [6, 1, 5, 3],
    [7, 2, 5, 3],
    [10, 3, 7, 4],
    [100, 33, 67, 34],
  ])('n=%i equal stakes: f=%i quorum=%i weak=%i', (n, f, q, w) => {
    const vs = set(Array(n).fill(1));
    expect(maxFaulty(n)).toBe(f);
    expect(vs.faultyPowerMax).toBe(f);
    expect(vs.quorumPower).toBe(q);
    expect(vs.weakQuorumPower).toBe(w);
  });

  it.each([
    // total, quorum (3Q > 2T), weak (3W > T)
    [3, 3, 2],
    [4, 3, 2],
    [9, 7, 4],
    [10, 7, 4],
    [100, 67, 34],
    [101, 68, 34],
  ])('total power %i: quorum %i, weak %i', (t, q, w) => {
    expect(quorumPowerFor(t)).toBe(q);
    expect(weakQuorumPowerFor(t)).toBe(w);
    expect(3 * q > 2 * t && 3 * (q - 1) <= 2 * t).toBe(true);
    expect(3 * w > t && 3 * (w - 1) <= t).toBe(true);
  });

  it('stake-weighted: a heavy validator counts its stake', () => {
    const vs = set([5, 1, 1, 1, 1]); // total 9, quorum 7
    expect(vs.quorumPower).toBe(7);
    expect(vs.isQuorum([0, 1])).toBe(false);
    expect(vs.isQuorum([0, 1, 2])).toBe(true);
    expect(vs.isQuorum([1, 2, 3, 4])).toBe(false);
    expect(vs.isWeakQuorum([0])).toBe(true);
    expect(vs.isWeakQuorum([1, 2, 3])).toBe(false);
  });

  it('any two quorums intersect in more than the faulty power', () => {
    for (const stakes of [[1, 1, 1, 1], [3, 1, 1, 1, 2], [1, 2, 3, 4, 5, 6, 7]]) {
      const vs = set(stakes);
      const n = stakes.length;
      for (let a = 0; a < 1 << n; a++) {
        for (let b = 0; b < 1 << n; b++) {
          const A = [...Array(n).keys()].filter((i) => a & (1 << i));
          const B = [...Array(n).keys()].filter((i) => b & (1 << i));
          if (!vs.isQuorum(A) || !vs.isQuorum(B)) continue;
          const both = A.filter((i) => B.includes(i));
          expect(vs.power(both)).toBeGreaterThan(vs.faultyPowerMax);
        }
      }
    }
  });

  it('primary rotates round-robin', () => {
    const vs = set([1, 1, 1, 1]);
    expect([0, 1, 2, 3, 4, 5].map((v) => vs.primary(v))).toEqual([0, 1, 2, 3, 0, 1]);
  });

  it('rejects bad sets with a typed error', () => {
    expect(() => set([])).toThrow(ValidatorSetError);
    expect(() => set([1, 0])).toThrow(/stake must be a positive integer/);
    expect(() => set([1, 1.5])).toThrow(ValidatorSetError);
    expect(() => new ValidatorSet([{ publicKey: key(0) }, { publicKey: key(0) }])).toThrow(/duplicate public key/);
    expect(() => new ValidatorSet([{ publicKey: new Uint8Array(31) }])).toThrow(/32 bytes/);
  });
});
