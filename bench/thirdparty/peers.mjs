// Loads the peer libraries the crypto benchmark compares against. Lives here so that imports
// resolve in bench/thirdparty/node_modules (a separate npm project, not a workspace).
// Each peer loads independently: one that fails to install or load is reported, not fatal.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);

const loaders = {
  '@noble/hashes': async () => ({ blake3: (await import('@noble/hashes/blake3.js')).blake3, sha256: (await import('@noble/hashes/sha2.js')).sha256 }),
  '@noble/curves': async () => ({ ed25519: (await import('@noble/curves/ed25519.js')).ed25519 }),
  'hash-wasm': async () => {
    const m = await import('hash-wasm');
    return { createBLAKE3: m.createBLAKE3 };
  },
  'blake3-wasm': async () => ({ hash: require('blake3-wasm').hash }),
  '@napi-rs/blake-hash': async () => ({ blake3: require('@napi-rs/blake-hash').blake3 }),
  'sodium-native': async () => require('sodium-native'),
  tweetnacl: async () => require('tweetnacl'),
  merkletreejs: async () => ({ MerkleTree: require('merkletreejs').MerkleTree }),
};

export const PEER_NAMES = Object.keys(loaders);

/** { loaded: { name: module }, failed: { name: reason } } */
export async function loadPeers() {
  const loaded = {};
  const failed = {};
  for (const [name, load] of Object.entries(loaders)) {
    try {
      loaded[name] = await load();
    } catch (e) {
      failed[name] = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
  }
  return { loaded, failed };
}

export function peerVersions() {
  const v = {};
  for (const name of PEER_NAMES) {
    try {
      v[name] = JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
    } catch {
      v[name] = null;
    }
  }
  return v;
}
