// The replica's fixed bounds in one place (issue 11's replica kit), with the relations between
// them and the codec's limits asserted when the module loads: a violation is a defect of the
// build, not of the input. Bounds a deployment may tune are PbftConfig's (consensus/config.ts,
// which checks their relations at construction); the codec's are CODEC_LIMITS (codec/codec.ts).

import { CODEC_LIMITS } from '../codec/codec.js';
import { VALIDATORS_MAX } from '../consensus/validators.js';

export const REPLICA_BOUNDS = {
  /** Largest validator set (consensus/validators.ts, a leaf module, owns the number). */
  validatorsMax: VALIDATORS_MAX,
  /** Our own past view-changes kept to resend to peers still changing to those views. */
  ownViewChangesKept: 8,
  /** Reservations SafetyRules keeps waiting for a 'persisted' report (older ones: not durable). */
  pendingReservationsMax: 64,
  /** Client sessions a state snapshot may hold when decoded (the table's own bound is lower). */
  sessionsDecodeMax: 1_000_000,
  /** Verified client requests remembered by content (kit/client-auth.ts), at most. */
  knownRequestsMax: 65_536,
  /** ...and their op bytes, at most (an op is up to CODEC_LIMITS.opBytesMax). */
  knownRequestBytesMax: 64 * 1024 * 1024,
} as const;

function assertBound(ok: boolean, what: string): void {
  if (!ok) throw new Error(`replica bounds: ${what}`);
}

assertBound(REPLICA_BOUNDS.validatorsMax <= CODEC_LIMITS.certSignersMax, 'a certificate must be able to carry every validator (validatorsMax <= certSignersMax)');
assertBound(REPLICA_BOUNDS.validatorsMax <= 0xffff, 'validator ids are u16 on the wire');
assertBound(REPLICA_BOUNDS.ownViewChangesKept >= 1 && REPLICA_BOUNDS.pendingReservationsMax >= 1, 'kept-history bounds are positive');
assertBound(CODEC_LIMITS.preparedCertsMax === CODEC_LIMITS.newViewProposalsMax, 'a new-view proposes at most one batch per prepared seq a view-change may report');
