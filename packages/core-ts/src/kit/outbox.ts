// The output a replica builds during one step, for any protocol (issue 11's replica kit).
//
// A replica never does IO: each step returns one Output, and the runtime carries it out in a
// fixed order (persist, then sendAfterPersist; send at once; commits and replies after the
// write). The Outbox is the one place that builds it, so every protocol follows the same rule
// for what may leave before the write: a message that carries any signature of this replica
// (new, or made earlier and resent) goes in sendAfterPersist; only messages without one (a
// fetch), and a new signature whose promise SafetyRules reports already durable (`covered`: a
// durable reservation covers its view and seq), go in send.

import { encodeMessage } from '../codec/codec.js';
import type { CommittedBatch, Destination, Envelope, Message, Output, PersistRecord, ReplicaEvent, SlashReason, ValidatorId, VerifyJob } from '../consensus/types.js';

export function emptyOutput(): Output {
  return { persist: [], sendAfterPersist: [], send: [], commit: [], replies: [], verify: [], events: [] };
}

function destination(to: ValidatorId | undefined): Destination {
  return to === undefined ? { kind: 'broadcast' } : { kind: 'replica', to };
}

export class Outbox {
  private out: Output = emptyOutput();
  private nextPersistToken = 1;

  /** The Output built since the last take (a persist token is assigned when it writes). */
  take(): Output {
    const out = this.out;
    if (out.persist.length > 0) out.persistToken = this.nextPersistToken++;
    this.out = emptyOutput();
    return out;
  }

  /** Drops what was built so far (a step whose output the runtime discards). */
  reset(): void {
    this.out = emptyOutput();
  }

  envelope(dest: Destination, message: Message): Envelope {
    return { dest, message, bytes: encodeMessage(message) };
  }

  /**
   * A message signed now: leaves after `persist` (and every write issued before it) is durable,
   * or at once when `covered` (its promise is durable already; `persist` is then written
   * without anything waiting for it).
   */
  sendSigned(message: Message, persist: readonly PersistRecord[], to?: ValidatorId, covered = false): void {
    this.out.persist.push(...persist);
    (covered ? this.out.send : this.out.sendAfterPersist).push(this.envelope(destination(to), message));
  }

  /** A message without any signature of this replica in it (a fetch): leaves at once. */
  send(message: Message, to?: ValidatorId): void {
    this.out.send.push(this.envelope(destination(to), message));
  }

  /**
   * A message that carries signatures of this replica made earlier (a retransmission, our
   * view-change, a state transfer holding our new-view or our commits): it leaves only after
   * every write issued so far is durable, like the original did. Sent at once, it could let a
   * signature escape whose record a crash then loses, and the restarted validator would sign a
   * conflicting statement (crash-heavy seed 9818: a state transfer carried a new-view whose
   * pre-prepares were not durable yet).
   */
  resend(message: Message, to?: ValidatorId): void {
    this.sendSigned(message, [], to);
  }

  persist(record: PersistRecord): void {
    this.out.persist.push(record);
  }

  commit(batch: CommittedBatch): void {
    this.out.commit.push(batch);
  }

  reply(session: string, message: Message): void {
    this.out.replies.push(this.envelope({ kind: 'client', session }, message));
  }

  verify(job: VerifyJob): void {
    this.out.verify.push(job);
  }

  event(e: ReplicaEvent): void {
    this.out.events.push(e);
  }

  slash(reason: SlashReason, validator: ValidatorId, detail: string): void {
    this.event({ kind: 'slash', reason, validator, detail });
  }

  drop(from: ValidatorId | 'client', reason: string): void {
    this.event({ kind: 'dropped', from, reason });
  }
}
