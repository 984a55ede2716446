// The fast crypto alone, as a downstream package uses it (issue 13 §1):
//   node examples/crypto.mjs
// Picks the fastest backend this machine has (native -> wasm -> js), hashes, builds a Merkle
// root over a million leaves in the packed form, proves one leaf and checks the proof, and
// verifies a batch of Ed25519 signatures with one bad one in it.
import { selectBackend } from '@bpci/node';
import { packMessages, verifyMerkleProof } from '@bpci/core';

const { backend, name, reason } = await selectBackend({ log: false });
console.log(`backend: ${name} (${reason})`);

const hex = (b) => Buffer.from(b).toString('hex');
console.log(`blake3("abc") = ${hex(backend.blake3(new TextEncoder().encode('abc')))}`);

// 2^20 leaves of 32 bytes in one buffer: the packed form is the fast one; the array form accepts
// views of that buffer without copying them.
const n = 1 << 20;
const buf = new Uint8Array(n * 32);
for (let i = 0; i < n; i++) new DataView(buf.buffer, i * 32, 4).setUint32(0, i);
const leaves = Array.from({ length: n }, (_, i) => buf.subarray(i * 32, i * 32 + 32));
let t0 = performance.now();
const root = backend.merkleRootPacked ? backend.merkleRootPacked(packMessages(leaves)) : backend.merkleRoot(leaves);
console.log(`merkle root of ${n} leaves: ${hex(root)} in ${(performance.now() - t0).toFixed(1)} ms`);
const proof = backend.merkleProof(leaves.slice(0, 1024), 7);
const root1024 = backend.merkleRoot(leaves.slice(0, 1024));
console.log(`proof for leaf 7 of 1024: ${proof.siblings.length} siblings, verifies: ${verifyMerkleProof(root1024, leaves[7], proof)}, for another leaf: ${verifyMerkleProof(root1024, leaves[8], proof)}`);

// A batch of 64 signatures, number 5 tampered with.
const items = [];
for (let i = 0; i < 64; i++) {
  const seed = backend.blake3(new TextEncoder().encode(`example key ${i}`));
  const message = new TextEncoder().encode(`message ${i}`);
  const signature = backend.ed25519Sign(seed, message);
  if (i === 5) signature[0] ^= 1;
  items.push({ publicKey: backend.ed25519PublicKey(seed), message, signature });
}
t0 = performance.now();
const valid = backend.ed25519VerifyBatch(items);
const bad = [...valid].flatMap((v, i) => (v ? [] : [i]));
console.log(`verified ${items.length} signatures in ${(performance.now() - t0).toFixed(2)} ms; invalid: [${bad.join(', ')}]`);
if (bad.length !== 1 || bad[0] !== 5) process.exit(1);
