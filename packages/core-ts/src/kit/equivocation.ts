// Equivocation bookkeeping, for any protocol (issue 11's replica kit): the first statement of
// each (signer, kind, view, seq) is remembered; a second one with another digest is checked
// (both signatures) and, when both are valid, reported once as a slash event with transferable
// evidence. A forged first statement (bad signature on a link-authenticated frame from a
// Byzantine peer relaying it) must not shadow a later valid pair.

import type { Digest, Evidence, ValidatorId } from '../consensus/types.js';
import { bytesEqual } from '../consensus/safety-rules.js';
import type { Outbox } from './outbox.js';
import type { Verifier } from './verifier.js';

/** What equivocation is judged on: two statements with the same coordinates and other digests. */
export interface StatementCoordinates {
  readonly from: ValidatorId;
  readonly kind: string;
  readonly view: number;
  readonly seq: number;
  readonly digest: Digest;
}

export class EquivocationStore<S extends object> {
  private readonly seen = new Map<string, { s: S; seq: number }>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly verifier: Verifier<S>,
    private readonly outbox: Outbox,
    private readonly coordinates: (s: S) => StatementCoordinates,
    private readonly evidence: (a: S, b: S) => Evidence,
  ) {}

  /** Returns false when `m` conflicts with an earlier statement (then evidence is checked). */
  note(m: S): boolean {
    const c = this.coordinates(m);
    const key = `${c.from}:${c.kind}:${c.view}:${c.seq}`;
    const prior = this.seen.get(key)?.s;
    if (prior === undefined) {
      this.seen.set(key, { s: m, seq: c.seq });
      return true;
    }
    if (bytesEqual(this.coordinates(prior).digest, c.digest)) return true;
    if (!this.reported.has(key)) {
      this.verifier.verifyThen([prior, m], (bad) => {
        if (this.reported.has(key)) return;
        if (bad.length === 0) {
          this.reported.add(key);
          this.outbox.event({
            kind: 'slash',
            reason: 'Equivocation',
            validator: c.from,
            detail: `two ${c.kind} statements for view ${c.view} seq ${c.seq}`,
            evidence: this.evidence(prior, m),
          });
        } else {
          for (const b of bad) {
            const bc = this.coordinates(b);
            this.outbox.slash('InvalidVote', bc.from, `bad signature on ${bc.kind} seq ${bc.seq}`);
          }
          // A forged first statement must not shadow a later valid pair: replace it and re-check.
          if (bad.includes(prior) && !bad.includes(m)) {
            if (this.seen.get(key)?.s === prior) this.seen.set(key, { s: m, seq: c.seq });
            else this.note(m);
          }
        }
      });
    }
    return false;
  }

  /** Forgets statements at or below `seq` (a stable checkpoint covers them). */
  prune(seq: number): void {
    for (const [k, e] of this.seen) if (e.seq <= seq) this.seen.delete(k);
  }
}
