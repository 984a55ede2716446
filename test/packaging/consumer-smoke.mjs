// What a downstream project does with the packed @bpci/* tarballs (issue 13 §1). The test copies
// this file into a temporary project outside the repository, installs the tarballs there and runs
// it with that project as cwd, so every import below resolves to the installed packages.
// It prints one JSON object on stdout; the test asserts on it.
import { jsBackend, verifyMerkleProof, ED25519_RULE } from '@bpci/core';
import { loadWasmBackend } from '@bpci/crypto-wasm';
import { loadNativeBackend, nativeUnavailableReason, nativeAddonPath, platformKey } from '@bpci/native';
import { selectBackend, CryptoPool, powSearchParallel, BpciClient, startNodeFromConfig, writeLocalCluster } from '@bpci/node';
// A subpath import through the "./*" export, as the node README documents.
import { nodeJsBackend } from '@bpci/node/crypto/select';

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (s) => new TextEncoder().encode(s);
const out = { resolved: {}, backends: {}, errors: [] };

for (const spec of ['@bpci/core', '@bpci/crypto-wasm', '@bpci/native', '@bpci/node']) {
  out.resolved[spec] = import.meta.resolve(spec);
}

const backends = [['js', jsBackend()], ['js-node', nodeJsBackend()], ['wasm', await loadWasmBackend()]];
const native = loadNativeBackend();
out.native = { loaded: native !== null, reason: nativeUnavailableReason(), path: nativeAddonPath(), platform: platformKey() };
if (native) {
  backends.push(['native', native]);
  out.native.laneKernel = native.laneKernel;
}

// Ed25519 batch: 8 items signed by 2 keys, item 5's signature corrupted.
const js = jsBackend();
const seeds = [new Uint8Array(32).fill(7), new Uint8Array(32).fill(9)];
const items = Array.from({ length: 8 }, (_, i) => {
  const seed = seeds[i % 2];
  const message = bytes(`consumer message ${i}`);
  const signature = js.ed25519Sign(seed, message);
  if (i === 5) signature[10] ^= 1;
  return { publicKey: js.ed25519PublicKey(seed), message, signature };
});

const leaves = Array.from({ length: 5 }, (_, i) => bytes(`leaf ${i}`));
for (const [name, b] of backends) {
  try {
    const root = b.merkleRoot(leaves);
    const proof = b.merkleProof(leaves, 3);
    out.backends[name] = {
      blake3Empty: hex(b.blake3(new Uint8Array(0))),
      blake3Abc: hex(b.blake3(bytes('abc'))),
      merkleRoot: hex(root),
      proofValid: verifyMerkleProof(root, leaves[3], proof),
      proofWrongLeafValid: verifyMerkleProof(root, leaves[2], proof),
      verdicts: Array.from(b.ed25519VerifyBatch(items)),
    };
  } catch (e) {
    out.errors.push(`${name}: ${e.stack ?? e}`);
  }
}

const lines = [];
const sel = await selectBackend({ log: (l) => lines.push(l) });
out.selected = { name: sel.name, reason: sel.reason, lines };

// The pool and the parallel PoW on the selected backend, one worker.
const pool = await CryptoPool.create({ threads: 1 });
try {
  out.pool = { verdicts: Array.from(await pool.verifyBatchInPool(items, 1)) };
} finally {
  await pool.close();
}
const easy = new Uint8Array(32).fill(0xff); // every hash meets it: the answer is nonceStart
const pow = await powSearchParallel(new Uint8Array(80), easy, 5n, 4096, { threads: 1 });
out.pow = { nonce: String(pow.nonce), via: pow.via };

out.exports = {
  BpciClient: typeof BpciClient?.connect,
  startNodeFromConfig: typeof startNodeFromConfig,
  writeLocalCluster: typeof writeLocalCluster,
};
out.ed25519Rule = typeof ED25519_RULE;
process.stdout.write(JSON.stringify(out));
