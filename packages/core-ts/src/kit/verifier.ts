// Signature verification through VerifyJobs, for any protocol (issue 11's replica kit).
//
// A replica does not verify signatures itself: it asks the runtime (a worker pool, the
// simulator) with a VerifyJob in its Output and continues when the answer arrives as a
// 'verified' input. The Verifier keeps the jobs in flight and which message objects are known
// to carry a valid signature (by identity: a message object is immutable once decoded).

import type { SignedItemRef } from '../consensus/types.js';
import type { Outbox } from './outbox.js';

export type Priority = 'critical' | 'background';

export class Verifier<M extends object> {
  private readonly jobs = new Map<number, (valid: Uint8Array) => void>();
  private nextJobId = 1;
  private readonly verified = new WeakSet<object>();

  constructor(
    private readonly outbox: Outbox,
    /** The public key, signed payload and signature of a message. */
    private readonly item: (m: M) => SignedItemRef,
  ) {}

  has(m: M): boolean {
    return this.verified.has(m);
  }

  /** Marks a message as verified: our own, or checked some other way. */
  add<T extends M>(m: T): T {
    this.verified.add(m);
    return m;
  }

  /** Verify what is not verified yet; call `then` with the messages whose signature failed. */
  verifyThen<T extends M>(msgs: readonly T[], then: (bad: T[]) => void, priority: Priority = 'critical'): void {
    const todo = msgs.filter((m) => !this.verified.has(m));
    if (todo.length === 0) {
      then([]);
      return;
    }
    const jobId = this.nextJobId++;
    this.outbox.verify({ jobId, items: todo.map((m) => this.item(m)), priority });
    this.jobs.set(jobId, (valid) => {
      const bad: T[] = [];
      todo.forEach((m, i) => {
        if (valid[i] === 1) this.verified.add(m);
        else bad.push(m);
      });
      then(bad);
    });
  }

  /** The runtime's answer to a job (unknown job ids are ignored: a job from before a restart). */
  onVerified(jobId: number, valid: Uint8Array): void {
    const k = this.jobs.get(jobId);
    if (k === undefined) return;
    this.jobs.delete(jobId);
    k(valid);
  }
}
