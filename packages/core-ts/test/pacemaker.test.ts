// The pacemaker rules of issue 14, as unit tests on one replica: a timeout is a report that
// keeps the replica in its view; only a quorum of timeouts (a timeout certificate) moves it into
// a view change, and that certificate travels with the view-change; bad certificates and
// Byzantine timeouts for far views neither move a view nor grow memory.
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, statementPayload, timeoutPayload } from '../src/codec/codec.js';
import { KvApp } from '../src/consensus/kv-app.js';
import { PbftReplica } from '../src/consensus/pbft.js';
import type { Input, Message, Output, Timeout, TimeoutCert } from '../src/consensus/types.js';
import { ValidatorSet } from '../src/consensus/validators.js';
import { utf8Encode } from '../src/codec/wire.js';
import { cachingCrypto } from '../src/testing/sim-crypto.js';
import { validatorSeed } from '../src/testing/sim.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';
import { signedRequest } from './helpers/requests.js';

const crypto = cachingCrypto(nodeEd25519Backend());
const seeds = [0, 1, 2, 3].map(validatorSeed);
const vs = new ValidatorSet(seeds.map((s) => ({ publicKey: crypto.ed25519PublicKey(s) })));
const TIMEOUT_TICKS = 5;

function replica(id = 1): PbftReplica {
  return new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto), config: { viewChangeTimeoutTicks: TIMEOUT_TICKS, verify: 'lazy' } });
}

function timeout(view: number, from: number): Timeout {
  return { kind: 'timeout', view, from, sig: crypto.ed25519Sign(seeds[from]!, timeoutPayload(view, from)) };
}

/** Steps the replica, runs every verify job at once, and returns all outputs concatenated. */
function drive(r: PbftReplica, input: Input): Output[] {
  const outs: Output[] = [];
  const queue: Input[] = [input];
  while (queue.length > 0) {
    const out = r.step(queue.shift()!);
    outs.push(out);
    for (const job of out.verify) queue.push({ kind: 'verified', jobId: job.jobId, valid: crypto.ed25519VerifyBatch(job.items) });
  }
  return outs;
}

function sent(outs: Output[]): Message[] {
  return outs.flatMap((o) => [...o.sendAfterPersist, ...o.send]).map((e) => decodeMessage(e.bytes));
}

function deliver(r: PbftReplica, from: number, m: Message): Output[] {
  return drive(r, { kind: 'message', from, message: decodeMessage(encodeMessage(m)) });
}

const request = signedRequest('c1', 1, 'set k v');

describe('pacemaker: timeouts and timeout certificates', () => {
  it('a replica whose timer fires alone reports a timeout and stays in its view, in normal mode', () => {
    const r = replica();
    drive(r, { kind: 'request', request });
    const outs: Output[] = [];
    for (let i = 0; i < TIMEOUT_TICKS * 4; i++) outs.push(...drive(r, { kind: 'tick' }));
    const msgs = sent(outs);
    expect(msgs.filter((m) => m.kind === 'timeout').every((m) => m.kind === 'timeout' && m.view === 0)).toBe(true);
    expect(msgs.some((m) => m.kind === 'timeout')).toBe(true);
    expect(msgs.some((m) => m.kind === 'view-change')).toBe(false);
    expect(outs.flatMap((o) => o.events).filter((e) => e.kind === 'timed-out')).toEqual([{ kind: 'timed-out', view: 0 }]);
    expect(r.status()).toMatchObject({ view: 0, mode: 'normal' });
  });

  it('f+1 timeouts from peers make it time out too; a quorum makes a certificate and a view-change that carries it', () => {
    const r = replica(1);
    const first = sent(deliver(r, 2, timeout(0, 2)));
    expect(first.some((m) => m.kind === 'timeout')).toBe(false); // one peer (f) is not enough
    const second = deliver(r, 3, timeout(0, 3)); // f+1 peers: join the timeout; with ours, a quorum
    const msgs = sent(second);
    expect(msgs.some((m) => m.kind === 'timeout' && m.from === 1 && m.view === 0)).toBe(true);
    const tc = msgs.find((m) => m.kind === 'timeout-cert') as TimeoutCert | undefined;
    expect(tc?.view).toBe(0);
    expect(tc?.timeouts.map((t) => t.from)).toEqual([1, 2, 3]);
    const vc = msgs.find((m) => m.kind === 'view-change');
    expect(vc).toMatchObject({ kind: 'view-change', newView: 1, from: 1 });
    // The certificate goes out before the view-change, and the view record persists it.
    expect(msgs.findIndex((m) => m.kind === 'timeout-cert')).toBeLessThan(msgs.findIndex((m) => m.kind === 'view-change'));
    const viewRecord = second.flatMap((o) => o.persist).find((p) => p.kind === 'view');
    expect(viewRecord).toMatchObject({ kind: 'view', view: 1, justification: { kind: 'timeout-cert', view: 0 } });
    expect(r.status()).toMatchObject({ view: 1, mode: 'view-change' });
  });

  it('a valid timeout certificate from any peer moves a replica that never timed out', () => {
    const r = replica(3);
    const tc: TimeoutCert = { kind: 'timeout-cert', view: 4, timeouts: [timeout(4, 0), timeout(4, 1), timeout(4, 2)], from: 2 };
    const msgs = sent(deliver(r, 2, tc));
    expect(msgs.find((m) => m.kind === 'view-change')).toMatchObject({ newView: 5 });
    // It relays the certificate under its own id (a container must come from the link it is on).
    expect(msgs.find((m) => m.kind === 'timeout-cert')).toMatchObject({ view: 4, from: 3 });
    expect(r.status()).toMatchObject({ view: 5, mode: 'view-change' });
  });

  it.each([
    ['short of a quorum', { kind: 'timeout-cert', view: 0, timeouts: [timeout(0, 0), timeout(0, 2)], from: 2 }],
    ['a duplicated signer', { kind: 'timeout-cert', view: 0, timeouts: [timeout(0, 0), timeout(0, 2), timeout(0, 2)], from: 2 }],
    ['a timeout of another view', { kind: 'timeout-cert', view: 0, timeouts: [timeout(0, 0), timeout(1, 2), timeout(0, 3)], from: 2 }],
    ['a forged signature', { kind: 'timeout-cert', view: 0, timeouts: [timeout(0, 0), { ...timeout(0, 2), sig: timeout(0, 3).sig }, timeout(0, 3)], from: 2 }],
  ] as [string, TimeoutCert][])('drops a timeout certificate with %s and stays in view 0', (_what, tc) => {
    const r = replica(1);
    const outs = deliver(r, 2, tc);
    expect(sent(outs).some((m) => m.kind === 'view-change')).toBe(false);
    expect(outs.flatMap((o) => o.events).some((e) => e.kind === 'dropped' && e.from === 2)).toBe(true);
    expect(r.status()).toMatchObject({ view: 0, mode: 'normal' });
  });

  it('a Byzantine validator announcing timeouts for ever higher views moves nothing and is kept once', () => {
    const r = replica(1);
    for (let v = 1; v <= 200; v++) deliver(r, 0, timeout(v * 1_000_003, 0));
    // And a lower one after the higher: stale, ignored.
    deliver(r, 0, timeout(5, 0));
    const timeouts = (r as unknown as { timeouts: Map<number, Map<number, Timeout>> }).timeouts;
    expect([...timeouts.values()].reduce((n, m) => n + m.size, 0)).toBe(1);
    expect(r.status()).toMatchObject({ view: 0, mode: 'normal' });
  });

  it('commits from f+1 peers for a seq it cannot follow keep its timer quiet and make it fetch', () => {
    const r = replica(3);
    drive(r, { kind: 'request', request });
    const digest = crypto.blake3(utf8Encode('batch'));
    const outs: Output[] = [];
    for (let i = 1; i <= TIMEOUT_TICKS * 3; i++) {
      // Every few ticks the others commit a new seq in view 0 (its pre-prepares never reach r3).
      if (i % 2 === 0) {
        for (const from of [1, 2]) {
          const seq = i / 2;
          const payload = { kind: 'commit', view: 0, seq, digest, from, sig: new Uint8Array(64) } as const;
          const sig = crypto.ed25519Sign(seeds[from]!, statementPayload('commit', 0, seq, digest, from));
          outs.push(...deliver(r, from, { ...payload, sig }));
        }
      }
      outs.push(...drive(r, { kind: 'tick' }));
    }
    const msgs = sent(outs);
    expect(msgs.some((m) => m.kind === 'timeout')).toBe(false);
    expect(msgs.some((m) => m.kind === 'fetch')).toBe(true);
    expect(r.status().standing.behindSeqs).toBeGreaterThan(0);
  });
});

// The fairness rule (RequestPool.overdue): the idle timer restarts on any progress, so before it
// a primary that kept committing other clients' requests could starve one client forever.
describe('pacemaker: a primary that passes over one client', () => {
  /** Four replicas; requests to replica 0 (the primary of view 0) are dropped for client `ignored`. */
  function cluster(ignored: string) {
    const rs = [0, 1, 2, 3].map((id) => new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto), config: { viewChangeTimeoutTicks: TIMEOUT_TICKS, verify: 'lazy' } }));
    const queue: { to: number; input: Input }[] = [];
    const executed: string[][] = [[], [], [], []];
    const handle = (id: number, out: Output): void => {
      for (const e of [...out.sendAfterPersist, ...out.send]) {
        const targets = e.dest.kind === 'replica' ? [e.dest.to] : [0, 1, 2, 3].filter((t) => t !== id);
        for (const to of targets) {
          const message = decodeMessage(e.bytes);
          if (to === 0 && message.kind === 'request' && message.clientId === ignored) continue;
          queue.push({ to, input: { kind: 'message', from: id, message } });
        }
      }
      for (const c of out.commit) for (const r of c.requests) executed[id]!.push(`${r.clientId}#${r.requestSeq}`);
      for (const j of out.verify) queue.push({ to: id, input: { kind: 'verified', jobId: j.jobId, valid: crypto.ed25519VerifyBatch(j.items) } });
    };
    const run = (): void => {
      for (let i = 0; i < 100_000 && queue.length > 0; i++) {
        const { to, input } = queue.shift()!;
        handle(to, rs[to]!.step(input));
      }
    };
    const submit = (clientId: string, seq: number): void => {
      const request = signedRequest(clientId, seq, `add ${clientId} 1`);
      for (const to of [0, 1, 2, 3]) if (!(to === 0 && clientId === ignored)) queue.push({ to, input: { kind: 'request', request } });
    };
    const tick = (): void => {
      for (const [id, r] of rs.entries()) handle(id, r.step({ kind: 'tick' }));
    };
    return { rs, executed, run, submit, tick };
  }

  it('is voted out while it keeps committing the others, and the starved request commits', () => {
    const c = cluster('starved');
    c.submit('starved', 1);
    c.run();
    let seq = 0;
    for (let round = 0; round < 300 && !c.executed[1]!.includes('starved#1'); round++) {
      c.submit('busy', ++seq); // steady traffic from another client: the view looks alive
      c.run();
      c.tick();
      c.run();
    }
    for (const id of [1, 2, 3]) expect(c.executed[id], `replica ${id}`).toContain('starved#1');
    expect(c.rs[1]!.status().view).toBeGreaterThanOrEqual(1);
    expect(c.executed[1]!.filter((k) => k.startsWith('busy#')).length).toBeGreaterThan(5); // the others were served all along
  });

  it('a busy honest primary is not voted out: requests ahead in the queue are its allowance', () => {
    const c = cluster('nobody');
    for (let round = 0; round < 60; round++) {
      for (let k = 0; k < 20; k++) c.submit(`client-${k}`, round + 1); // 20 clients, every round
      c.run();
      c.tick();
      c.run();
    }
    expect(c.rs.map((r) => r.status().view)).toEqual([0, 0, 0, 0]);
    expect(c.executed[1]!.length).toBe(20 * 60);
  });
});
