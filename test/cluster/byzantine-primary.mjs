#!/usr/bin/env node
// A test-only Byzantine validator: runs as validator 0 (the primary of view 0) with validator 0's
// real key over the real authenticated transport (packages/node/dist/transport/transport.js), and
// equivocates: it signs two different pre-prepares for the same (view 0, seq) and sends them to
// different backups. It never votes and never proposes anything else (so the backups must replace
// it by a view change to make progress).
//
//   node byzantine-primary.mjs --config <validator-001.yaml> [--plan split,double,both]
//
// Plan, one slot per step, in view 0:
//   split   seq 1: pre-prepare A to backup 1 only, pre-prepare B to backups 2 and 3.
//   double  seq 2: pre-prepare A to backup 1, then pre-prepare B to backups 1, 2 and 3
//           (backup 1 holds both signed statements itself).
//   both    seq 3: pre-prepare A, then pre-prepare B, to every backup (each holds both).
// Prints one JSON line per equivocation sent ({"sent": ...}) on stdout and "ready" once the links
// are up; stays connected (silent) until SIGTERM/SIGKILL.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBatch, encodeMessage, signingPayload, signRequest } from '@bpci/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (p) => path.join(root, 'packages/node/dist', p);
const { Transport } = await import(dist('transport/transport.js'));
const { loadConfig } = await import(dist('config/config.js'));
const { loadKeyFile } = await import(dist('keys/keyfile.js'));
const { nodeJsBackend } = await import(dist('crypto/select.js'));

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const config = loadConfig(arg('--config'));
const plan = arg('--plan', 'split,double,both').split(',');
const key = loadKeyFile(config.node.keyFile);
const self = config.node.index;
const crypto = nodeJsBackend();
const me = config.activeValidators[self];
const peers = config.activeValidators.map((v, id) => ({ id, host: v.host, port: v.port, publicKey: v.publicKey })).filter((p) => p.id !== self);

const transport = new Transport({
  selfId: self,
  listen: { host: me.host, port: me.port },
  peers,
  identitySeed32: key.seed,
  crypto,
  onMessage: () => {},
});
await transport.start();
const deadline = Date.now() + 30_000;
while (!peers.every((p) => transport.isConnected(p.id))) {
  if (Date.now() > deadline) {
    console.error('byzantine: links to every backup not up within 30 s');
    process.exit(2);
  }
  await new Promise((r) => setTimeout(r, 20));
}
console.log('ready');

const enc = new TextEncoder();
const clientSeed = crypto.blake3(enc.encode('bpci-test/byzantine-client'));
function prePrepare(seq, tag) {
  // Its own client's requests, validly signed (the key byzantine.test.ts knows as
  // BYZANTINE_CLIENT_SEED): honest validators take them, so what they catch is the equivocation.
  const batch = [signRequest(crypto, clientSeed, `byzantine-${tag}`, seq, enc.encode(`add byz${tag} ${seq}`))];
  const unsigned = { kind: 'pre-prepare', view: 0, seq, digest: crypto.blake3(encodeBatch(batch)), batch, from: self, sig: new Uint8Array(64) };
  // The same key signs both: each statement is validly signed, which is what makes it evidence.
  return { ...unsigned, sig: crypto.ed25519Sign(key.seed, signingPayload(unsigned)) };
}
const hex = (b) => Buffer.from(b).toString('hex');

let seq = 0;
for (const step of plan) {
  seq++;
  const a = prePrepare(seq, 'a');
  const b = prePrepare(seq, 'b');
  if (step === 'split') {
    transport.send(1, encodeMessage(a));
    transport.send(2, encodeMessage(b));
    transport.send(3, encodeMessage(b));
  } else if (step === 'double') {
    transport.send(1, encodeMessage(a));
    for (const to of [1, 2, 3]) transport.send(to, encodeMessage(b));
  } else if (step === 'both') {
    for (const to of [1, 2, 3]) transport.send(to, encodeMessage(a));
    for (const to of [1, 2, 3]) transport.send(to, encodeMessage(b));
  } else {
    console.error(`byzantine: unknown plan step ${step}`);
    process.exit(2);
  }
  console.log(JSON.stringify({ sent: step, view: 0, seq, digestA: hex(a.digest), digestB: hex(b.digest) }));
}
process.on('SIGTERM', () => void transport.close().then(() => process.exit(0)));
setInterval(() => {}, 1 << 30);
