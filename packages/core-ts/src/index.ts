// @bpci/core public surface. No IO, no clocks, no randomness, no node:* imports.
export * from './crypto/backend.js';
export * from './crypto/args.js';
export { jsBackend } from './crypto/js.js';
export {
  verifyMerkleProof,
  verifyMerkleProofWith,
  merkleHashers,
  merkleLevels,
  merkleLevelsBatched,
  merkleLevelsPacked,
  merkleProofFromLevels,
  merkleLeafHash,
  type NodeHasher,
  merkleNodeHash,
  merkleRootFromHashes,
  merkleProofFromHashes,
  equalBytes,
  checkMerkleArgs,
  MERKLE_LEAF_PREFIX,
  MERKLE_NODE_PREFIX,
} from './crypto/merkle.js';
export { checkPowArgs, meetsTarget, writeNonce, powSearchWith } from './crypto/pow.js';
export { ED25519_RULE, ED25519_RULE_OPTIONS, checkSignedItems } from './crypto/ed25519-rule.js';

// Consensus (PBFT), codec, validator set, simulator support. Appended by the consensus owner.
export * from './consensus/types.js';
export * from './consensus/validators.js';
export * from './codec/codec.js';
// The codec's byte reader and writer (the types of its helpers' parameters).
export type { Reader, Writer } from './codec/wire.js';
export * from './consensus/config.js';
export * from './consensus/safety-rules.js';
export * from './consensus/evidence.js';
export * from './consensus/state.js';
export * from './consensus/kv-app.js';
export * from './consensus/pbft.js';
export * from './consensus/client.js';

// The replica kit: parts every protocol shares (issue 11).
export * from './kit/outbox.js';
export * from './kit/verifier.js';
export * from './kit/equivocation.js';
export * from './kit/certificate.js';
export * from './kit/durable.js';
export * from './kit/request-pool.js';
export * from './kit/replies.js';
export * from './kit/client-auth.js';

// The ledger application (issue 12 §2): accounts, signed transactions with nonces, limits.
export * from './apps/ledger/limits.js';
export * from './apps/ledger/reasons.js';
export * from './apps/ledger/tx.js';
export * from './apps/ledger/genesis.js';
export * from './apps/ledger/app.js';
export * from './apps/ledger/client.js';
// The Tranverse auction inside the ledger's state (issue 12 §3): commit-reveal bundle rounds.
export * from './apps/auction/limits.js';
export * from './apps/auction/reasons.js';
export * from './apps/auction/tx.js';
export * from './apps/auction/auction.js';
export * from './apps/auction/client.js';
