// SafetyRules, evidence, verification modes and exactly-once execution, as unit tests.
import { describe, expect, it } from 'vitest';
import {
  CODEC_LIMITS,
  ConfigError,
  DurableState,
  encodeBatch,
  KvApp,
  makeEvidence,
  PbftReplica,
  ReplicatedState,
  ReplyCollector,
  ReplySignatureCache,
  sessionOf,
  signRequest,
  KnownRequests,
  decodeMessage,
  encodeMessage,
  verifyReplies,
  type Reply,
  SafetyError,
  SafetyRules,
  toStatement,
  ValidatorSet,
  verifyEvidence,
  verifyCommitCertificate,
  type Message,
  type Output,
  type Prepare,
  type PreparedCert,
} from '@bpci/core';
import { cachingCrypto } from '../src/testing/sim-crypto.js';
import { validatorSeed } from '../src/testing/sim.js';
import { utf8Decode, utf8Encode } from '../src/codec/wire.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';
import { clientSession, signedRequest } from './helpers/requests.js';

const crypto = cachingCrypto(nodeEd25519Backend());
const seeds = [0, 1, 2, 3].map(validatorSeed);
const vs = new ValidatorSet(seeds.map((s) => ({ publicKey: crypto.ed25519PublicKey(s) })));
const d = (x: number): Uint8Array => new Uint8Array(32).fill(x);
/** A prepared certificate for (view, seq, digest); SafetyRules reads only its pre-prepare header. */
const cert = (view: number, seq: number, digest: Uint8Array): PreparedCert => ({
  prePrepare: { kind: 'pre-prepare', view, seq, digest, batch: [], from: view % 4, sig: new Uint8Array(64) },
  prepares: [],
  commits: [],
});

describe('SafetyRules', () => {
  it('never signs two digests for one slot, and reserves the slots it signs in', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto);
    const a = sr.signPrepare(0, 5, d(1));
    // The first vote of a view reserves a stride (default 64) ahead, and waits for that write.
    expect(a.persist).toEqual([{ kind: 'reservation', view: 0, upTo: 69 }]);
    expect(a.covered).toBe(false);
    expect(sr.signPrepare(0, 5, d(1)).persist).toEqual([]); // inside the reservation: nothing new to write
    expect(() => sr.signPrepare(0, 5, d(2))).toThrow(SafetyError);
    expect(() => sr.signPrepare(0, 5, d(2))).toThrow(expect.objectContaining({ code: 'conflicting-vote' }));
    const other = sr.signPrepare(1, 5, d(2)); // another view is another slot, and another reservation
    expect(other.message.view).toBe(1);
    expect(other.persist).toEqual([{ kind: 'reservation', view: 1, upTo: 69 }]);
    // never back to a view below the reservation's (it is the highest that survives a restart)
    expect(() => sr.signPrepare(0, 6, d(3))).toThrow(expect.objectContaining({ code: 'stale-view' }));
  });

  it('a vote leaves at once only when a durable reservation covers it; renewals go half a stride ahead', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto, undefined, { stride: 8 });
    const first = sr.signPrepare(0, 1, d(1));
    expect(first.persist).toEqual([{ kind: 'reservation', view: 0, upTo: 9 }]);
    sr.noteIssued(7, first.persist);
    // issued but not yet durable: still not covered
    expect(sr.signPrepare(0, 2, d(2))).toMatchObject({ persist: [], covered: false });
    sr.persisted(6); // another output's token: nothing changes
    expect(sr.signPrepare(0, 3, d(3)).covered).toBe(false);
    sr.persisted(7);
    expect(sr.signPrepare(0, 4, d(4))).toMatchObject({ persist: [], covered: true });
    // within half a stride of upTo: renewed ahead while the vote itself is covered
    const renew = sr.signPrepare(0, 6, d(6));
    expect(renew).toMatchObject({ persist: [{ kind: 'reservation', view: 0, upTo: 17 }], covered: true });
    sr.noteIssued(8, renew.persist);
    expect(sr.signPrepare(0, 10, d(10)).covered).toBe(false); // beyond the durable one
    sr.persisted(8);
    expect(sr.signPrepare(0, 11, d(11)).covered).toBe(true);
    // a seq past everything issued reserves from itself
    expect(sr.signPrepare(0, 40, d(40)).persist).toEqual([{ kind: 'reservation', view: 0, upTo: 48 }]);
    // commits always wait: their prepared certificate must be durable first
    expect(sr.signCommit(cert(0, 11, d(11)))).toMatchObject({ covered: false });
  });

  it('after a restart it signs nothing where its reservation says it may have signed', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto, { votes: [], view: 2, reservation: { view: 3, upTo: 20 } });
    expect(sr.highestView).toBe(3);
    expect(sr.mutedAfterRestart(3, 20)).toBe(true);
    expect(sr.mutedAfterRestart(3, 21)).toBe(false);
    expect(sr.canVote('prepare', 3, 20, d(1))).toBe(false);
    expect(() => sr.signPrepare(3, 12, d(1))).toThrow(expect.objectContaining({ code: 'after-restart' }));
    expect(() => sr.signPrePrepare(2, 30, d(1), [])).toThrow(SafetyError); // a lower view: never
    expect(sr.signPrepare(3, 21, d(1)).persist).toEqual([{ kind: 'reservation', view: 3, upTo: 85 }]);
    expect(sr.signPrepare(4, 1, d(1)).message.view).toBe(4); // the next view is free
    // with the planted bug it writes nothing and claims every vote covered
    const bug = new SafetyRules(1, seeds[1]!, crypto, undefined, { skipReservation: true });
    expect(bug.signPrepare(0, 1, d(1))).toMatchObject({ persist: [], covered: true });
  });

  it('keeps at most 64 reservations waiting for a durable report (a runtime that never reports)', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto, undefined, { stride: 2 });
    for (let i = 0; i < 200; i++) sr.noteIssued(i + 1, sr.signPrepare(0, 1 + i * 10, d(1)).persist);
    sr.persisted(1); // forgotten: stays not durable (conservative)
    expect(sr.signPrepare(0, 2, d(2)).covered).toBe(false);
    sr.persisted(200);
    expect(sr.signPrepare(0, 1992, d(2)).covered).toBe(true);
  });

  it('signs a commit only for the digest its own prepare or pre-prepare bound, and persists the prepared certificate', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto);
    sr.signPrepare(0, 5, d(1));
    const c = cert(0, 5, d(1));
    const signed = sr.signCommit(c);
    expect(signed.persist).toEqual([{ kind: 'prepared', cert: c }]);
    expect(signed.message).toMatchObject({ kind: 'commit', view: 0, seq: 5, digest: d(1), from: 1 });
    expect(sr.signCommit(c).persist).toEqual([{ kind: 'prepared', cert: c }]); // re-signing writes it again: harmless
    expect(sr.canVote('commit', 0, 5, d(2))).toBe(false);
    expect(() => sr.signCommit(cert(0, 5, d(2)))).toThrow(expect.objectContaining({ code: 'unbound-commit' }));
    expect(() => sr.signCommit(cert(0, 6, d(1)))).toThrow(expect.objectContaining({ code: 'unbound-commit' })); // no prepare at all
    sr.signPrePrepare(1, 7, d(3), []);
    expect(sr.signCommit(cert(1, 7, d(3))).message.kind).toBe('commit'); // the primary is bound by its pre-prepare
    // after a restart from the persisted prepare record the binding still holds
    const again = new SafetyRules(1, seeds[1]!, crypto, { votes: [{ kind: 'prepare', view: 0, seq: 5, digest: d(1) }], view: 0 });
    expect(() => again.signCommit(cert(0, 5, d(2)))).toThrow(SafetyError);
    expect(again.signCommit(cert(0, 5, d(1))).message.digest).toEqual(d(1));
  });

  it('keeps its promises across a restart from its persisted records', () => {
    const sr = new SafetyRules(1, seeds[1]!, crypto);
    const records = [...sr.signPrepare(0, 5, d(1)).persist, ...sr.signViewChange({ kind: 'view-change', newView: 2, stableSeq: 0, stableDigest: d(0), checkpointProof: [], prepared: [] }, null).persist];
    const durable = new DurableState();
    durable.apply(records);
    const again = new SafetyRules(1, seeds[1]!, crypto, durable.restored());
    expect(() => again.signPrepare(0, 5, d(2))).toThrow(SafetyError);
    // after a view-change for view 2 it never votes in a lower view
    expect(() => again.signPrepare(1, 6, d(3))).toThrow(expect.objectContaining({ code: 'stale-view' }));
    expect(again.signPrepare(2, 6, d(3)).persist).toHaveLength(1);
    // the reservation alone (no view-change) also keeps it from voting again in view 0
    const onlyVote = new DurableState();
    onlyVote.apply(new SafetyRules(1, seeds[1]!, crypto).signPrepare(0, 5, d(1)).persist);
    const third = new SafetyRules(1, seeds[1]!, crypto, onlyVote.restored());
    expect(() => third.signPrepare(0, 5, d(2))).toThrow(expect.objectContaining({ code: 'after-restart' }));
    // and a runtime that forgot the records would sign the conflict: the simulator's planted bug
    expect(() => new SafetyRules(1, seeds[1]!, crypto).signPrepare(0, 5, d(2))).not.toThrow();
  });

  it('signatures verify under the validator key', () => {
    const sr = new SafetyRules(2, seeds[2]!, crypto);
    sr.signPrepare(3, 9, d(7));
    const m = sr.signCommit(cert(3, 9, d(7))).message;
    sr.signPrepare(4, 9, d(7));
    const ev = makeEvidence(toStatement(m), toStatement(sr.signCommit(cert(4, 9, d(7))).message));
    expect(verifyEvidence(ev, vs, crypto)).toEqual({ ok: false, reason: 'statements are not about the same slot by the same validator' });
  });
});

describe('evidence', () => {
  const byz = (digest: Uint8Array) => {
    // a Byzantine validator signs directly, bypassing SafetyRules
    const unsigned = { kind: 'prepare' as const, view: 0, seq: 1, digest, from: 3, sig: new Uint8Array(64) };
    const sr = new SafetyRules(3, seeds[3]!, crypto);
    return { ...unsigned, sig: sr.signPrepare(0, 1, digest).message.sig };
  };
  it('two validly signed conflicting statements are equivocation', () => {
    expect(verifyEvidence(makeEvidence(toStatement(byz(d(1))), toStatement(byz(d(2)))), vs, crypto)).toEqual({ ok: true, validator: 3 });
  });
  it('an identical duplicate is not', () => {
    expect(verifyEvidence(makeEvidence(toStatement(byz(d(1))), toStatement(byz(d(1)))), vs, crypto).ok).toBe(false);
  });
  it('a forged signature is not', () => {
    const b = byz(d(2));
    const sig = b.sig.slice();
    sig[5]! ^= 4;
    expect(verifyEvidence(makeEvidence(toStatement(byz(d(1))), toStatement({ ...b, sig })), vs, crypto)).toEqual({ ok: false, reason: 'a signature does not verify' });
  });
});

describe('replicated state', () => {
  it('executes each (client, requestSeq) once and replays the cached result', () => {
    const st = new ReplicatedState(new KvApp(crypto), crypto);
    const r = (seq: number) => signedRequest('c', seq, 'add n 1');
    const txt = (xs: Uint8Array[]) => xs.map((x) => utf8Decode(x, 'r'));
    // duplicates are not executed: the latest request's result comes back, older ones are empty
    expect(txt(st.execute(1, [r(1), r(1), r(2)]))).toEqual(['1', '1', '2']);
    expect(txt(st.execute(2, [r(2), r(1), r(3)]))).toEqual(['2', '', '3']);
    const snap = st.snapshot();
    const copy = new ReplicatedState(new KvApp(crypto), crypto);
    copy.restore(snap);
    expect(copy.snapshot()).toEqual(snap);
    expect(txt(copy.execute(3, [r(3), r(4)]))).toEqual(['3', '4']);
  });

  it('bounds the session table: sessions of the oldest batches go, the same ones on every replica', () => {
    const limits = { sessionsMax: 5, bytesMax: 1 << 20 };
    const req = (c: string, seq = 1) => signedRequest(c, seq, `add ${c} 1`);
    const a = new ReplicatedState(new KvApp(crypto), crypto, limits);
    a.execute(1, [req('a'), req('b')]);
    a.execute(2, [req('c'), req('d')]);
    a.execute(3, [req('a', 2)]); // a moves to batch 3; b stays with batch 1
    expect(a.sessionCount).toBe(4);
    a.execute(4, [req('e'), req('f')]); // 6 > 5: batch 1's remaining session (b) goes
    expect([a.sessionCount, a.evictedSessions, a.session(clientSession('b')), a.session(clientSession('a'))?.requestSeq]).toEqual([5, 1, undefined, 2]);
    // A replica restored from this state evicts exactly what the original evicts next.
    const b = new ReplicatedState(new KvApp(crypto), crypto, limits);
    b.restore(a.snapshot());
    for (const st of [a, b]) st.execute(5, [req('g'), req('c', 2)]); // c moves to batch 5; 6 sessions: batch 2's d goes
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(['a', 'c', 'd', 'e', 'f', 'g'].map((c) => a.session(clientSession(c)) !== undefined)).toEqual([true, true, false, true, true, true]);
    expect(b.evictedSessions).toBe(1);
    // Kept sessions still deduplicate; an evicted client's old request runs again (the documented price).
    expect(utf8Decode(a.execute(6, [req('e')])[0]!, 'r')).toBe('1');
    expect(utf8Decode(a.execute(7, [req('d')])[0]!, 'r')).toBe('2');
    // One batch larger than the bound is never evicted by itself.
    const big = new ReplicatedState(new KvApp(crypto), crypto, limits);
    big.execute(1, ['p', 'q', 'r', 's', 't', 'u', 'v'].map((c) => req(c)));
    expect(big.sessionCount).toBe(7);
    // The byte bound works the same way.
    const small = new ReplicatedState(new KvApp(crypto), crypto, { sessionsMax: 100, bytesMax: 150 });
    for (let i = 1; i <= 6; i++) small.execute(i, [req(`client-${i}`)]);
    expect(small.sessionCount).toBeLessThan(6);
    expect(small.session(clientSession('client-6'))).toBeDefined();
    expect(small.session('client-1')).toBeUndefined();
  });

  it('the KV app rejects bad ops with an error result, never a throw', () => {
    const app = new KvApp(crypto);
    const run = (op: string) => utf8Decode(app.execute([utf8Encode(op)])[0]!, 'r');
    expect(run('set a hello world')).toBe('ok');
    expect(run('get a')).toBe('hello world');
    expect(run('add b 10')).toBe('10');
    expect(run('transfer b c 4')).toBe('ok');
    expect(run('transfer b c 7')).toBe('insufficient');
    expect(run('get c')).toBe('4');
    expect(run('frobnicate')).toMatch(/^error/);
    expect(run('add b 1e3')).toMatch(/^error/);
    expect(() => app.restore(new Uint8Array([0, 0, 0, 9]))).toThrow();
  });
});

describe('verification modes', () => {
  const make = (id: number, verify: 'lazy' | 'eager') =>
    new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto), config: { verify } });
  const request = signedRequest('c', 1, 'add x 1');
  /** A backup that got the client's request first (clients send to every validator) and checked it. */
  const backup = (id: number, verify: 'lazy' | 'eager'): PbftReplica => {
    const r = make(id, verify);
    const job = r.step({ kind: 'request', request }).verify[0]!;
    r.step({ kind: 'verified', jobId: job.jobId, valid: crypto.ed25519VerifyBatch(job.items) });
    return r;
  };
  const prePrepareFrom0 = (): Message => {
    const r0 = make(0, 'lazy');
    const job = r0.step({ kind: 'request', request }).verify[0]!; // the client's signature first
    const out = r0.step({ kind: 'verified', jobId: job.jobId, valid: crypto.ed25519VerifyBatch(job.items) });
    return out.sendAfterPersist[0]!.message;
  };
  const prepareFrom = (id: number, pp: Message & { kind: 'pre-prepare' }, corrupt = false): Prepare => {
    const p = new SafetyRules(id, seeds[id]!, crypto).signPrepare(pp.view, pp.seq, pp.digest).message as Prepare;
    if (!corrupt) return p;
    const sig = p.sig.slice();
    sig[0]! ^= 1;
    return { ...p, sig };
  };

  it('eager: every signature is verified before the message counts', () => {
    const r = backup(1, 'eager');
    const pp = prePrepareFrom0() as Message & { kind: 'pre-prepare' };
    const out = r.step({ kind: 'message', from: 0, message: pp });
    expect(out.verify).toHaveLength(1);
    expect(out.sendAfterPersist).toHaveLength(0); // no prepare before the pre-prepare is verified
    const after = r.step({ kind: 'verified', jobId: out.verify[0]!.jobId, valid: new Uint8Array([1]) });
    expect(after.sendAfterPersist.map((e) => e.message.kind)).toEqual(['prepare']);
    expect(after.persist.map((p) => p.kind)).toEqual(['reservation']);
  });

  it('eager: a bad signature is never counted and is reported', () => {
    const r = backup(1, 'eager');
    const pp = prePrepareFrom0() as Message & { kind: 'pre-prepare' };
    const o1 = r.step({ kind: 'message', from: 0, message: pp });
    r.step({ kind: 'verified', jobId: o1.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(o1.verify[0]!.items) });
    const bad = prepareFrom(2, pp, true);
    const o2 = r.step({ kind: 'message', from: 2, message: bad });
    const o3 = r.step({ kind: 'verified', jobId: o2.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(o2.verify[0]!.items) });
    expect(o3.events).toEqual([expect.objectContaining({ kind: 'slash', reason: 'InvalidVote', validator: 2 })]);
    expect(r.status().slots[0]!.prepares).toBe(1); // only its own
  });

  it('lazy: votes count at once; the prepared certificate is verified in one job before the commit', () => {
    const r = backup(1, 'lazy');
    const pp = prePrepareFrom0() as Message & { kind: 'pre-prepare' };
    const o1 = r.step({ kind: 'message', from: 0, message: pp });
    expect(o1.verify).toHaveLength(0);
    expect(o1.sendAfterPersist.map((e) => e.message.kind)).toEqual(['prepare']);
    const o2 = r.step({ kind: 'message', from: 2, message: prepareFrom(2, pp) });
    // quorum reached (primary + 1 + 2): one job covers the pre-prepare and the peer's prepare
    expect(o2.verify).toHaveLength(1);
    expect(o2.verify[0]!.items).toHaveLength(2);
    expect(o2.sendAfterPersist).toHaveLength(0);
    const o3 = r.step({ kind: 'verified', jobId: o2.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(o2.verify[0]!.items) });
    expect(o3.sendAfterPersist.map((e) => e.message.kind)).toEqual(['commit']);
  });

  it('lazy: a forged vote in the certificate is dropped and reported; the commit waits for a valid quorum', () => {
    const r = backup(1, 'lazy');
    const pp = prePrepareFrom0() as Message & { kind: 'pre-prepare' };
    r.step({ kind: 'message', from: 0, message: pp });
    const o2 = r.step({ kind: 'message', from: 3, message: prepareFrom(3, pp, true) });
    const o3 = r.step({ kind: 'verified', jobId: o2.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(o2.verify[0]!.items) });
    expect(o3.events).toEqual([expect.objectContaining({ kind: 'slash', reason: 'InvalidVote', validator: 3 })]);
    expect(o3.sendAfterPersist).toHaveLength(0);
    const o4 = r.step({ kind: 'message', from: 2, message: prepareFrom(2, pp) });
    const o5 = r.step({ kind: 'verified', jobId: o4.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(o4.verify[0]!.items) });
    expect(o5.sendAfterPersist.map((e) => e.message.kind)).toEqual(['commit']);
  });

  it('drops a message whose signer is not the authenticated link', () => {
    const r = make(1, 'lazy');
    const pp = prePrepareFrom0() as Message & { kind: 'pre-prepare' };
    const out: Output = r.step({ kind: 'message', from: 2, message: pp });
    expect(out.events).toEqual([expect.objectContaining({ kind: 'dropped', from: 2 })]);
  });
});

describe('commit certificate', () => {
  it('a committed batch carries a certificate anyone can verify; tampering breaks it', () => {
    const rs = [0, 1, 2, 3].map((id) => new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto) }));
    const queue: { to: number; from: number; message: Message }[] = [];
    const commits: { id: number; cert: unknown }[] = [];
    const handle = (id: number, out: Output): void => {
      for (const e of [...out.sendAfterPersist, ...out.send]) for (let to = 0; to < 4; to++) if (to !== id) queue.push({ to, from: id, message: e.message });
      for (const c of out.commit) commits.push({ id, cert: c.cert });
      for (const j of out.verify) handle(id, rs[id]!.step({ kind: 'verified', jobId: j.jobId, valid: crypto.ed25519VerifyBatch(j.items) }));
    };
    const request = signedRequest('c', 1, 'add x 1');
    handle(0, rs[0]!.step({ kind: 'request', request }));
    while (queue.length > 0) {
      const m = queue.shift()!;
      handle(m.to, rs[m.to]!.step({ kind: 'message', from: m.from, message: m.message }));
    }
    expect(commits).toHaveLength(4);
    const cert = commits[0]!.cert as Parameters<typeof verifyCommitCertificate>[0];
    expect(verifyCommitCertificate(cert, vs, crypto)).toEqual({ ok: true });
    expect(verifyCommitCertificate({ ...cert, commits: cert.commits.slice(0, 2) }, vs, crypto).ok).toBe(false);
    const forged = { ...cert.commits[0]!, sig: cert.commits[0]!.sig.map((x, i) => (i === 9 ? x ^ 1 : x)) };
    expect(verifyCommitCertificate({ ...cert, commits: [forged, ...cert.commits.slice(1)] }, vs, crypto).ok).toBe(false);
    const otherBatch = { ...cert.prePrepare, batch: [] };
    expect(verifyCommitCertificate({ ...cert, prePrepare: otherBatch }, vs, crypto)).toEqual({ ok: false, reason: 'digest does not match batch' });
  });
});

describe('replies', () => {
  it('one signature per batch covers every reply; a proof binds each result; the cache saves verifications', () => {
    const rs = [0, 1, 2, 3].map((id) => new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto), config: { inflightMax: 1 } }));
    const queue: { to: number; from: number; message: Message }[] = [];
    const replies: Reply[] = [];
    const handle = (id: number, out: Output): void => {
      for (const e of [...out.sendAfterPersist, ...out.send]) for (let to = 0; to < 4; to++) if (to !== id) queue.push({ to, from: id, message: e.message });
      for (const e of out.replies) if (e.message.kind === 'reply') replies.push(e.message);
      for (const j of out.verify) handle(id, rs[id]!.step({ kind: 'verified', jobId: j.jobId, valid: crypto.ed25519VerifyBatch(j.items) }));
    };
    // inflightMax 1: a batch of one, then the other two wait and go together.
    const requests = ['a', 'b', 'c'].map((c) => signedRequest(c, 1, `add ${c} 5`));
    for (const request of requests) handle(0, rs[0]!.step({ kind: 'request', request }));
    for (let i = 0; i < 1000 && queue.length > 0; i++) {
      const m = queue.shift()!;
      handle(m.to, rs[m.to]!.step({ kind: 'message', from: m.from, message: m.message }));
    }
    expect(replies).toHaveLength(12);
    const shared = replies.filter((r) => r.proof.leafCount === 2);
    expect(shared).toHaveLength(8);
    for (const r of shared) {
      const sibling = shared.find((o) => o.from === r.from && o !== r)!;
      expect(sibling.sig).toEqual(r.sig); // one signature per validator per batch
      expect(sibling.root).toEqual(r.root);
    }
    const pk = (id: number): Uint8Array | undefined => (vs.has(id) ? vs.publicKey(id) : undefined);
    expect([...verifyReplies(replies, pk, crypto)]).toEqual(replies.map(() => 1));
    const r0 = shared[0]!;
    const sibling = shared.find((o) => o.from === r0.from && o !== r0)!;
    const bad: Reply[] = [
      { ...r0, result: utf8Encode('999') }, // a result the root does not cover
      { ...r0, proof: sibling.proof }, // another leaf's proof
      { ...r0, sig: r0.sig.map((x, i) => (i === 3 ? x ^ 1 : x)) },
      { ...r0, from: (r0.from + 1) % 4 }, // another validator's name on this signature
      { ...r0, from: 9 },
      { ...r0, proof: { ...r0.proof, siblings: [] } },
    ];
    expect([...verifyReplies(bad, pk, crypto)]).toEqual(bad.map(() => 0));
    // A memo of proven replies skips re-hashing an identical claim from another validator, and
    // nothing else: every bad reply still fails with r0 in the memo.
    let hashes = 0;
    const counting = { ed25519VerifyBatch: crypto.ed25519VerifyBatch.bind(crypto), blake3: (b: Uint8Array) => (hashes++, crypto.blake3(b)) };
    expect([...verifyReplies(bad, pk, counting, undefined, [r0])]).toEqual(bad.map(() => 0));
    const twin = replies.find((o) => o.session === r0.session && o.from !== r0.from)!;
    hashes = 0;
    expect([...verifyReplies([twin], pk, counting, undefined, [r0])]).toEqual([1]);
    expect(hashes).toBe(0);
    expect([...verifyReplies([twin], pk, counting)]).toEqual([1]);
    expect(hashes).toBeGreaterThan(0);

    // The cache: the second request of the batch costs no verification, a different signature
    // under a cached key is still checked (and fails).
    const cache = new ReplySignatureCache(8);
    for (const c of ['b', 'c']) {
      const col = new ReplyCollector(vs, crypto, clientSession(c), 1, cache);
      let accepted = null;
      for (const r of shared.filter((x) => x.session === clientSession(c))) accepted = col.add(r) ?? accepted;
      expect(accepted?.result).toEqual(utf8Encode('5'));
      expect(accepted?.signers.length).toBeGreaterThanOrEqual(2);
    }
    expect([cache.hits, cache.misses]).toEqual([2, 2]); // each collector stops at f+1 = 2 replies
    expect([...verifyReplies([{ ...sibling, sig: sibling.sig.map((x, i) => (i === 3 ? x ^ 1 : x)) }], pk, crypto, cache)]).toEqual([0]);
    const col = new ReplyCollector(vs, crypto, r0.session, 1, cache);
    expect(col.add({ ...r0, result: utf8Encode('999') })).toBeNull();
  });
});

describe('client request signatures (issue 10: a Byzantine primary can neither invent nor alter a request)', () => {
  const make = (id: number) => new PbftReplica({ id, validators: vs, seed32: seeds[id]!, crypto, app: new KvApp(crypto), config: { verify: 'lazy' } });
  /** Step and answer every verification job the step asks for; all outputs, in order. */
  const drive = (r: PbftReplica, input: Parameters<PbftReplica['step']>[0]): Output[] => {
    const outs = [r.step(input)];
    for (let i = 0; i < outs.length; i++) for (const j of outs[i]!.verify) outs.push(r.step({ kind: 'verified', jobId: j.jobId, valid: crypto.ed25519VerifyBatch(j.items) }));
    return outs;
  };
  const sentKinds = (outs: Output[]) => outs.flatMap((o) => [...o.sendAfterPersist, ...o.send]).map((e) => e.message.kind);
  const events = (outs: Output[]) => outs.flatMap((o) => o.events);
  const good = signedRequest('alice', 1, 'add x 1');
  const altered = { ...good, op: utf8Encode('add x 1000') }; // the client's signature kept
  const invented = { ...good, requestSeq: 2, sig: good.sig.map((x, i) => (i === 0 ? x ^ 1 : x)) };
  /** A pre-prepare the primary of view 0 (validator 0) really signed, over this batch. */
  const proposal = (batch: ReturnType<typeof signedRequest>[]): Message => {
    const digest = crypto.blake3(encodeBatch(batch));
    return new SafetyRules(0, seeds[0]!, crypto).signPrePrepare(0, 1, digest, batch).message;
  };

  it('a replica pools a request only once its signature verifies', () => {
    const r = make(1);
    for (const bad of [altered, invented]) {
      const o = drive(r, { kind: 'request', request: bad });
      expect(events(o)).toEqual([expect.objectContaining({ kind: 'dropped', from: 'client', reason: expect.stringMatching(/bad client signature/) })]);
    }
    expect(r.status().pendingRequests).toBe(0);
    const outs = drive(r, { kind: 'request', request: good });
    expect(outs[0]!.verify.map((j) => j.items.length)).toEqual([1]);
    expect(r.status().pendingRequests).toBe(1);
    // Once the real request is pooled, a forgery under its (session, requestSeq) changes nothing.
    expect(drive(r, { kind: 'request', request: altered }).flatMap((o) => o.verify)).toEqual([]);
    expect(r.status().pendingRequests).toBe(1);
  });

  it('a malformed request is dropped without a verification job', () => {
    const r = make(1);
    for (const [bad, why] of [
      [{ ...good, key: new Uint8Array(31) }, /key must be 32 bytes/],
      [{ ...good, sig: new Uint8Array(0) }, /sig must be 64 bytes/],
      [{ ...good, requestSeq: 0 }, /requestSeq >= 1/],
    ] as const) {
      const out = r.step({ kind: 'request', request: bad });
      expect(out.verify).toEqual([]);
      expect(out.events).toEqual([expect.objectContaining({ kind: 'dropped', reason: expect.stringMatching(why) })]);
    }
  });

  it('a primary proposes only verified requests', () => {
    const r = make(0);
    expect(sentKinds(drive(r, { kind: 'request', request: altered }))).toEqual([]);
    expect(sentKinds(drive(r, { kind: 'request', request: good }))).toEqual(['pre-prepare']);
  });

  it('a backup prepares a proposal of valid requests it has not seen, after checking them', () => {
    const r = make(1);
    const outs = drive(r, { kind: 'message', from: 0, message: proposal([good]) });
    expect(outs[0]!.verify.map((j) => j.items.length)).toEqual([1]); // the client signature, before the prepare
    expect(outs[0]!.sendAfterPersist).toEqual([]);
    expect(sentKinds(outs)).toEqual(['prepare']);
  });

  for (const [what, bad] of [['altered', altered], ['invented', invented]] as const) {
    it(`a backup refuses a proposal carrying an ${what} request and names the primary`, () => {
      const r = make(1);
      drive(r, { kind: 'request', request: good }); // it knows the real request: no help to the forger
      const outs = drive(r, { kind: 'message', from: 0, message: proposal([good, bad]) });
      expect(sentKinds(outs)).toEqual([]);
      expect(events(outs)).toContainEqual(expect.objectContaining({ kind: 'slash', reason: 'InvalidProposal', validator: 0, detail: expect.stringMatching(/bad client signature/) }));
      expect(r.status().slots.find((s) => s.seq === 1)?.prepares ?? 0).toBe(0);
    });
  }

  // Found by the multi-process bench: the prepares of the other backups often arrive while a
  // backup still checks the proposal's requests; they must count once the check passes, or the
  // backup never commits the slot and falls behind until it fetches.
  it('prepares that arrive while the requests are checked count once they pass', () => {
    const r = make(1);
    const pp = proposal([good]) as Message & { kind: 'pre-prepare' };
    const first = r.step({ kind: 'message', from: 0, message: pp });
    expect(first.verify).toHaveLength(1);
    for (const id of [2, 3]) {
      const p = new SafetyRules(id, seeds[id]!, crypto).signPrepare(pp.view, pp.seq, pp.digest).message;
      expect(sentKinds([r.step({ kind: 'message', from: id, message: p })])).toEqual([]);
    }
    const outs = drive(r, { kind: 'verified', jobId: first.verify[0]!.jobId, valid: crypto.ed25519VerifyBatch(first.verify[0]!.items) });
    expect(sentKinds(outs)).toEqual(['prepare', 'commit']);
  });

  it('remembers verified requests within its bounds, by content', () => {
    const known = new KnownRequests(3, 20);
    const reqs = [1, 2, 3, 4].map((seq) => signedRequest('k', seq, 'add x 1')); // 7 op bytes each
    for (const r of reqs) known.add(r);
    expect([known.size, known.bytes]).toEqual([2, 14]); // the byte bound evicted the oldest two
    expect(reqs.map((r) => known.has(r))).toEqual([false, false, true, true]);
    expect(known.has({ ...reqs[3]!, op: utf8Encode('add x 9') })).toBe(false); // same session and seq, other op
    expect(known.has(decodeMessage(encodeMessage(reqs[3]!)) as typeof good)).toBe(true); // a fresh decode of the same bytes
  });

  it('sessions are per key: the same clientId under another key is another session', () => {
    const st = new ReplicatedState(new KvApp(crypto), crypto);
    const mine = signedRequest('c', 1, 'add n 1');
    const other = signRequest(crypto, new Uint8Array(32).fill(7), 'c', 1, utf8Encode('add n 1'));
    expect(sessionOf(mine)).not.toBe(sessionOf(other));
    expect(st.execute(1, [mine, other, mine]).map((x) => utf8Decode(x, 'r'))).toEqual(['1', '2', '1']);
    expect(st.session(clientSession('c'))?.requestSeq).toBe(1);
  });
});

describe('config', () => {
  it('rejects inconsistent bounds with a message naming the key', () => {
    const mk = (config: object) => new PbftReplica({ id: 0, validators: vs, seed32: seeds[0]!, crypto, app: new KvApp(crypto), config });
    expect(() => mk({ watermarkWindow: 10, checkpointInterval: 4 })).toThrow(ConfigError);
    expect(() => mk({ inflightMax: 1000 })).toThrow(/inflightMax/);
    expect(() => mk({ batchSizeMax: CODEC_LIMITS.batchRequestsMax + 1 })).toThrow(/batchSizeMax/);
    expect(() => new PbftReplica({ id: 0, validators: vs, seed32: seeds[1]!, crypto, app: new KvApp(crypto) })).toThrow(/public key/);
    expect(encodeBatch([]).length).toBe(4);
  });
});

describe('replica invariants (issue 11: the simulator checks them after every step)', () => {
  const make = () => new PbftReplica({ id: 1, validators: vs, seed32: seeds[1]!, crypto, app: new KvApp(crypto) });

  it('hold on a fresh replica and after normal steps', () => {
    const r = make();
    expect(r.invariants()).toEqual([]);
    r.step({ kind: 'request', request: signedRequest('c', 1, 'add x 1') });
    for (let i = 0; i < 5; i++) r.step({ kind: 'tick' });
    expect(r.invariants()).toEqual([]);
  });

  it('name what is broken', () => {
    const r = make();
    const inner = r as unknown as { nextSeq: number; lastExecuted: number; log: Map<number, unknown> };
    inner.lastExecuted = 3;
    const broken = r.invariants();
    expect(broken).toContain('nextSeq 1 not above lastExecuted 3');
    expect(broken).toContain('executed seq 1 missing from the log');
    inner.log.set(9, {});
    expect(r.invariants()).toContain('log entry 9 outside (0, 3]');
  });
});

describe('configuration bounds (kit/bounds.ts and resolveConfig)', () => {
  it('reject a watermark window whose view-changes no peer could decode', () => {
    expect(() => new PbftReplica({ id: 1, validators: vs, seed32: seeds[1]!, crypto, app: new KvApp(crypto), config: { checkpointInterval: 64, watermarkWindow: 2048, inflightMax: 32 } })).toThrow(
      /watermarkWindow must be <= 1024/,
    );
    expect(() => new PbftReplica({ id: 1, validators: vs, seed32: seeds[1]!, crypto, app: new KvApp(crypto), config: { batchSizeMax: 5000 } })).toThrow(/batchSizeMax must be <= 4096/);
  });
});
