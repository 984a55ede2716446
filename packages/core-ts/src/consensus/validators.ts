// Validator set and stake-weighted quorum math: a pure leaf module (no protocol state).
//
// Contract: with total voting power T, a quorum is any set whose power Q satisfies 3Q > 2T
// (strictly more than two thirds); a "weak" quorum (at least one honest member when the faulty
// hold less than a third) satisfies 3W > T. For n equal stakes with n = 3f+1 these are 2f+1 and
// f+1. The protocol tolerates faulty validators holding at most `faultyPowerMax` = floor((T-1)/3).

export interface Validator {
  readonly id: number;
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Voting power, a positive safe integer. */
  readonly stake: number;
}

export class ValidatorSetError extends Error {
  override readonly name = 'ValidatorSetError';
}

/** Largest validator count the codec and quorum bitmaps accept. */
export const VALIDATORS_MAX = 256;

export class ValidatorSet {
  readonly validators: readonly Validator[];
  readonly totalPower: number;
  /** Minimum power of a quorum (3Q > 2T). */
  readonly quorumPower: number;
  /** Minimum power of a weak quorum (3W > T): contains an honest validator. */
  readonly weakQuorumPower: number;
  readonly faultyPowerMax: number;

  constructor(validators: readonly { publicKey: Uint8Array; stake?: number }[]) {
    if (validators.length < 1 || validators.length > VALIDATORS_MAX) {
      throw new ValidatorSetError(`validator count must be in [1, ${VALIDATORS_MAX}], got ${validators.length}`);
    }
    const seen = new Set<string>();
    let total = 0;
    this.validators = validators.map((v, id) => {
      const stake = v.stake ?? 1;
      if (!Number.isSafeInteger(stake) || stake < 1) {
        throw new ValidatorSetError(`validator ${id}: stake must be a positive integer, got ${stake}`);
      }
      if (!(v.publicKey instanceof Uint8Array) || v.publicKey.length !== 32) {
        throw new ValidatorSetError(`validator ${id}: publicKey must be 32 bytes`);
      }
      const key = Array.from(v.publicKey).join(',');
      if (seen.has(key)) throw new ValidatorSetError(`validator ${id}: duplicate public key`);
      seen.add(key);
      total += stake;
      return { id, publicKey: v.publicKey, stake };
    });
    if (!Number.isSafeInteger(total * 3)) throw new ValidatorSetError(`total stake ${total} too large`);
    this.totalPower = total;
    this.quorumPower = quorumPowerFor(total);
    this.weakQuorumPower = weakQuorumPowerFor(total);
    this.faultyPowerMax = Math.floor((total - 1) / 3);
  }

  get size(): number {
    return this.validators.length;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.validators.length;
  }

  publicKey(id: number): Uint8Array {
    const v = this.validators[id];
    if (v === undefined) throw new ValidatorSetError(`unknown validator ${id}`);
    return v.publicKey;
  }

  stake(id: number): number {
    return this.validators[id]?.stake ?? 0;
  }

  /** Round-robin primary of a view. */
  primary(view: number): number {
    return view % this.validators.length;
  }

  /** Power of a set of distinct validator ids (unknown ids count 0). */
  power(ids: Iterable<number>): number {
    let p = 0;
    for (const id of ids) p += this.stake(id);
    return p;
  }

  isQuorum(ids: Iterable<number>): boolean {
    return this.power(ids) >= this.quorumPower;
  }

  isWeakQuorum(ids: Iterable<number>): boolean {
    return this.power(ids) >= this.weakQuorumPower;
  }
}

/** Smallest Q with 3Q > 2T. */
export function quorumPowerFor(totalPower: number): number {
  return Math.floor((2 * totalPower) / 3) + 1;
}

/** Smallest W with 3W > T. */
export function weakQuorumPowerFor(totalPower: number): number {
  return Math.floor(totalPower / 3) + 1;
}

/** Faulty validators tolerated with n equal stakes: f = floor((n-1)/3). */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}
