// Runs a peer library on several worker threads, so the 2-core rows of ours have 2-core peer
// rows beside them. This is the harness a user would write: each thread takes an equal share of
// the work, and one iteration is "post go to every thread, wait for every done" (that includes
// the message round trip, as our CryptoPool rows do).
//
// Ops: 'verify' (sodium-native or node:crypto, per-item loop over the thread's share) and 'pow'
// (hash-wasm loop over the thread's share of the nonces).

import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';

const TP = new URL('../thirdparty/peers.mjs', import.meta.url);

/** Starts `threads` workers for `op` with `peer`; `shares[i]` is thread i's payload. */
export async function startPeerThreads(op, peer, shares) {
  const workers = shares.map(() => new Worker(new URL(import.meta.url)));
  const once = (w) => new Promise((resolve, reject) => {
    const onMsg = (m) => { w.off('error', onErr); m?.error ? reject(new Error(m.error)) : resolve(m); };
    const onErr = (e) => { w.off('message', onMsg); reject(e); };
    w.once('message', onMsg);
    w.once('error', onErr);
  });
  await Promise.all(workers.map((w, i) => { const p = once(w); w.postMessage({ type: 'setup', op, peer, payload: shares[i] }); return p; }));
  return {
    async run() {
      await Promise.all(workers.map((w) => { const p = once(w); w.postMessage({ type: 'go' }); return p; }));
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

if (!isMainThread) {
  const { loadPeers } = await import(TP.href);
  const { loaded } = await loadPeers();
  let job = null;

  const setup = async (op, peer, payload) => {
    if (op === 'verify' && peer === 'sodium-native') {
      const s = loaded['sodium-native'];
      const items = payload.map((it) => ({ pk: Buffer.from(it.publicKey), m: Buffer.from(it.message), sig: Buffer.from(it.signature) }));
      return () => { for (const it of items) if (!s.crypto_sign_verify_detached(it.sig, it.m, it.pk)) throw new Error('sodium rejected a valid signature'); };
    }
    if (op === 'verify' && peer === 'node:crypto') {
      const prefix = Buffer.from('302a300506032b6570032100', 'hex');
      const keys = new Map();
      const items = payload.map((it) => {
        const id = Buffer.from(it.publicKey).toString('hex');
        if (!keys.has(id)) keys.set(id, createPublicKey({ key: Buffer.concat([prefix, it.publicKey]), format: 'der', type: 'spki' }));
        return { key: keys.get(id), m: it.message, sig: it.signature };
      });
      return () => { for (const it of items) if (!nodeVerify(null, it.m, it.key, it.sig)) throw new Error('node:crypto rejected a valid signature'); };
    }
    if (op === 'pow' && peer === 'hash-wasm') {
      const h = await loaded['hash-wasm'].createBLAKE3();
      const buf = Uint8Array.from(payload.header);
      const view = new DataView(buf.buffer);
      const { start, count } = payload;
      return () => {
        for (let i = 0; i < count; i++) {
          view.setUint32(72, start + i, true);
          h.init(); h.update(buf);
          const d = h.digest('binary');
          if (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 && d[4] === 0 && d[5] === 0) return;
        }
      };
    }
    throw new Error(`peer-threads: no ${op} for ${peer}`);
  };

  parentPort.on('message', async (m) => {
    try {
      if (m.type === 'setup') {
        job = await setup(m.op, m.peer, m.payload);
        parentPort.postMessage({ ok: true });
      } else if (m.type === 'go') {
        job();
        parentPort.postMessage({ ok: true });
      }
    } catch (e) {
      parentPort.postMessage({ error: e instanceof Error ? e.message : String(e) });
    }
  });
}
