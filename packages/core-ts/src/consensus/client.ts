// Client side of exactly-once requests: collect signed replies for one request and accept a
// result once validators holding a weak quorum of stake (f+1 for equal stakes) signed the same
// (seq, result). At least one of them is honest, so the result is the committed one.

import type { CryptoBackend } from '../crypto/backend.js';
import { signingPayload } from '../codec/codec.js';
import type { Reply, ValidatorId } from './types.js';
import type { ValidatorSet } from './validators.js';

export interface AcceptedResult {
  readonly seq: number;
  readonly result: Uint8Array;
  readonly signers: readonly ValidatorId[];
}

export class ReplyCollector {
  private readonly votes = new Map<string, Set<ValidatorId>>();
  private readonly voted = new Set<ValidatorId>();
  private accepted: AcceptedResult | null = null;

  constructor(
    private readonly validators: ValidatorSet,
    private readonly crypto: Pick<CryptoBackend, 'ed25519VerifyBatch'>,
    readonly clientId: string,
    readonly requestSeq: number,
  ) {}

  get result(): AcceptedResult | null {
    return this.accepted;
  }

  /** Add one reply; returns the accepted result once there is one. Bad replies are ignored. */
  add(reply: Reply): AcceptedResult | null {
    if (this.accepted !== null) return this.accepted;
    if (reply.clientId !== this.clientId || reply.requestSeq !== this.requestSeq) return null;
    if (!this.validators.has(reply.from) || this.voted.has(reply.from)) return null;
    const ok = this.crypto.ed25519VerifyBatch([
      { publicKey: this.validators.publicKey(reply.from), message: signingPayload(reply), signature: reply.sig },
    ]);
    if (ok[0] !== 1) return null;
    this.voted.add(reply.from);
    let k = `${reply.seq}:`;
    for (const b of reply.result) k += b.toString(16).padStart(2, '0');
    let set = this.votes.get(k);
    if (set === undefined) this.votes.set(k, (set = new Set()));
    set.add(reply.from);
    if (this.validators.isWeakQuorum(set)) {
      this.accepted = { seq: reply.seq, result: reply.result, signers: [...set].sort((a, b) => a - b) };
    }
    return this.accepted;
  }
}
