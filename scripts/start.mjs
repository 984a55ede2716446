// Temporary main job until the node package lands: hashes, a Merkle root and a batch of Ed25519
// signatures through the js backend, with timings.
import { jsBackend } from '@bpci/core';
const b = jsBackend();
const t0 = performance.now();
const leaves = Array.from({ length: 4096 }, (_, i) => new TextEncoder().encode(`tx-${i}`));
const root = b.merkleRoot(leaves);
const t1 = performance.now();
const seed = new Uint8Array(32).fill(7);
const items = leaves.slice(0, 64).map((m) => ({ publicKey: b.ed25519PublicKey(seed), message: m, signature: b.ed25519Sign(seed, m) }));
const ok = b.ed25519VerifyBatch(items).every((v) => v === 1);
const t2 = performance.now();
console.log(`merkle root of 4096 leaves: ${Buffer.from(root).toString('hex')} (${(t1 - t0).toFixed(1)} ms)`);
console.log(`64 Ed25519 sign+verify: ${ok ? 'all valid' : 'FAILED'} (${(t2 - t1).toFixed(1)} ms)`);
process.exit(ok ? 0 : 1);
