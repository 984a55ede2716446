// A Byzantine primary process that equivocates (issue 4, section 9). Validators 1..3 are honest
// `bpci node start` processes; validator 0 is byzantine-primary.mjs, which holds validator 0's real
// key, speaks the real authenticated transport, and signs two different pre-prepares for the same
// (view 0, seq): for seq 1 it splits them across backups (A to backup 1, B to backups 2 and 3), for
// seq 2 it sends both to backup 1 (and B to the others), for seq 3 both to every backup. Then it
// falls silent.
//
// Expected: the honest validators record equivocation evidence (two validly signed conflicting
// statements from validator 0 for one slot), serve it on GET /api/v1/evidence and count it in
// consensus_byzantine_faults_detected_total{kind="equivocation"}; the cluster stays safe (one log),
// a view change replaces the faulty primary and client requests commit.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '@bpci/core';
import { BYZANTINE_CLIENT_SEED, Cluster, checkNoLoss, compareLogs, crypto, ensureBuilt, getJson, metricSum, startLoad, txIdOf, until, type Load } from './harness.js';

interface Evidence {
  evidence_id: string;
  validator_id: string;
  kind: string;
  view: number;
  sequence: number;
  messages: string[];
}
interface Sent {
  sent: string;
  view: number;
  seq: number;
  digestA: string;
  digestB: string;
}

const HONEST = [1, 2, 3];
let cluster: Cluster;
let byz: ChildProcess | undefined;
let load: Load | undefined;
const sent: Sent[] = [];
let newView = 0;
let evidenceByValidator: Evidence[][] = [];

async function evidenceAt(i: number): Promise<Evidence[]> {
  const r = await getJson<{ evidence: Evidence[] }>(`${cluster.members[i]!.apiUrl}/api/v1/evidence?limit=100`);
  if (r.status !== 200) throw new Error(`evidence at ${i}: HTTP ${r.status}`);
  return r.json.evidence;
}

beforeAll(async () => {
  ensureBuilt();
  cluster = await Cluster.create({ label: 'byzantine', phaseTimeoutSeconds: 1 });
  for (const i of HONEST) cluster.start(i);
  await cluster.waitHealthy(HONEST);
  const m0 = cluster.members[0]!;
  const log = fs.openSync(m0.logFile, 'a');
  byz = spawn(process.execPath, [path.join(import.meta.dirname, 'byzantine-primary.mjs'), '--config', m0.configFile, '--plan', 'split,double,both'], { stdio: ['ignore', 'pipe', log] });
  fs.closeSync(log);
  const lines = readline.createInterface({ input: byz.stdout! });
  lines.on('line', (l) => {
    if (l.startsWith('{')) sent.push(JSON.parse(l) as Sent);
  });
  await until('the byzantine primary to send its equivocations', 30_000, () => (sent.length === 3 ? true : undefined), () => `sent ${sent.length}; exit ${byz?.exitCode}; ${cluster.logTail(0)}`);

  // Clients: the faulty primary never proposes their requests, so the backups time out and change view.
  load = await startLoad(cluster, 2, 'byz');
  const states = async () => Promise.all(HONEST.map((i) => cluster.state(i)));
  const after = await until(
    'a view change away from the byzantine primary',
    60_000,
    async () => {
      const ss = await states();
      return ss.every((s) => s.view > 0 && s.mode === 'normal' && s.view === ss[0]!.view) ? ss : undefined;
    },
    async () => JSON.stringify((await states()).map((s) => ({ view: s.view, mode: s.mode, h: s.last_committed_sequence }))),
  );
  newView = after[0]!.view;
  const c0 = load.count();
  await until('client requests committing in the new view', 60_000, () => (load!.count() >= c0 + 20 ? true : undefined), () => `${load!.count()} accepted`);
  await load.stop();
  evidenceByValidator = await Promise.all([0, 1, 2, 3].map((i) => (HONEST.includes(i) ? evidenceAt(i) : Promise.resolve([]))));
}, 180_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  if (byz && byz.exitCode === null) {
    const gone = new Promise((r) => byz!.once('exit', r));
    byz.kill('SIGKILL');
    await gone;
  }
  await cluster?.stopAll();
  cluster?.cleanup();
});

/** Checks an evidence object on its own: two payloads signed by the named validator, same slot, different digests. */
function checkEvidence(e: Evidence, signerIndex: number, wantDigests: readonly string[]): void {
  expect(e.kind).toBe('equivocation');
  expect(e.validator_id).toBe(cluster.members[signerIndex]!.validatorId);
  expect(e.messages).toHaveLength(2);
  const parts = e.messages.map((m) => m.split(':').map((h) => new Uint8Array(Buffer.from(h, 'hex'))) as [Uint8Array, Uint8Array]);
  const ok = crypto.ed25519VerifyBatch(parts.map(([payload, sig]) => ({ publicKey: cluster.members[signerIndex]!.key.publicKey, message: payload, signature: sig })));
  expect([...ok]).toEqual([1, 1]);
  const payloadHex = parts.map(([p]) => Buffer.from(p).toString('hex'));
  expect(payloadHex[0]).not.toBe(payloadHex[1]);
  // Each signed payload carries one of the two digests the byzantine primary used for that slot.
  for (const d of wantDigests) expect(payloadHex.some((p) => p.includes(d))).toBe(true);
}

describe('a byzantine primary that equivocates', () => {
  it('is replaced by a view change, and client requests commit; the honest logs agree', async () => {
    expect(newView).toBeGreaterThan(0);
    for (const i of HONEST) expect((await cluster.state(i)).primary).not.toBe(cluster.members[0]!.validatorId);
    const logs = await compareLogs(cluster, HONEST);
    expect(logs.problems).toEqual([]);
    expect(logs.height).toBeGreaterThan(0);
    expect(await checkNoLoss(cluster.apiUrls(HONEST), load!.accepted)).toEqual([]);
    const b1 = await getJson<{ tx_ids: string[]; view: number }>(`${cluster.members[1]!.apiUrl}/api/v1/blocks/1`);
    const which = (t: string[] | undefined) => (t?.includes(txOfByz(1, 'a')) ? 'A' : t?.includes(txOfByz(1, 'b')) ? 'B' : 'neither');
    console.log(`byzantine: new view ${newView}; committed block 1 (view ${b1.json.view}) holds the byzantine pre-prepare ${which(b1.json.tx_ids)} of seq 1; evidence per validator: ${evidenceByValidator.map((e) => e.map((x) => `seq ${x.sequence}`).join('+') || '-').join(' | ')}`);
    // At most one of each conflicting pair was executed anywhere (the logs agree, so check one).
    for (const s of sent) {
      const a = await getJson(`${cluster.members[1]!.apiUrl}/api/v1/transactions/${txOfByz(s.seq, 'a')}`);
      const b = await getJson(`${cluster.members[1]!.apiUrl}/api/v1/transactions/${txOfByz(s.seq, 'b')}`);
      expect(a.status === 200 && b.status === 200 && (a.json as { status: string }).status === 'committed' && (b.json as { status: string }).status === 'committed' && (a.json as { height: number }).height === (b.json as { height: number }).height).toBe(false);
    }
  });

  it('records evidence of a pre-prepare pair one backup received itself, serves it and counts it', async () => {
    const double = sent.find((s) => s.sent === 'double')!;
    const ev = evidenceByValidator[1]!.filter((e) => e.sequence === double.seq && e.view === 0);
    expect(ev.length).toBeGreaterThanOrEqual(1);
    checkEvidence(ev[0]!, 0, [double.digestA, double.digestB]);
    const m = await cluster.metrics(1);
    expect(metricSum(m, 'consensus_byzantine_faults_detected_total', 'kind="equivocation"')).toBeGreaterThanOrEqual(1);
    // No honest validator is accused.
    for (const i of HONEST) for (const e of evidenceByValidator[i]!) expect(e.validator_id).toBe(cluster.members[0]!.validatorId);
  });

  it('every honest validator that received both pre-prepares of a slot records and counts the evidence', async () => {
    const both = sent.find((s) => s.sent === 'both')!;
    for (const i of HONEST) {
      const ev = evidenceByValidator[i]!.filter((e) => e.sequence === both.seq && e.view === 0);
      expect(ev.length, `validator ${i}: ${JSON.stringify(evidenceByValidator[i])}`).toBeGreaterThanOrEqual(1);
      checkEvidence(ev[0]!, 0, [both.digestA, both.digestB]);
      expect(metricSum(await cluster.metrics(i), 'consensus_byzantine_faults_detected_total', 'kind="equivocation"')).toBeGreaterThanOrEqual(1);
    }
  });

  // The split case: backup 1 holds pre-prepare A itself and sees B (validly signed by the same
  // primary) only inside the prepared certificates of the other backups' view-changes; the core
  // checks nested statements for equivocation once their signatures verify (noteNested in pbft.ts).
  it('records evidence of a pre-prepare pair split across backups (A to one, B to the others)', async () => {
    const split = sent.find((s) => s.sent === 'split')!;
    const ev = HONEST.flatMap((i) => evidenceByValidator[i]!.filter((e) => e.sequence === split.seq && e.view === 0));
    expect(ev.length, `evidence for seq ${split.seq} at any honest validator: ${JSON.stringify(evidenceByValidator)}`).toBeGreaterThanOrEqual(1);
    checkEvidence(ev[0]!, 0, [split.digestA, split.digestB]);
  });
});

function txOfByz(seq: number, tag: 'a' | 'b'): string {
  return txIdOf(signRequest(crypto, BYZANTINE_CLIENT_SEED, `byzantine-${tag}`, seq, new TextEncoder().encode(`add byz${tag} ${seq}`)));
}
