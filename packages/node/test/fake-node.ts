// An in-memory NodeApiPort for API and CLI tests: transactions commit one per round when
// `commitPending()` is called; blocks carry real Merkle roots and proofs from the js backend.
import { jsBackend } from '@bpci/core';
import type {
  BlockInfo,
  BundleProposal,
  ConsensusMetricsSummary,
  EvidenceInfo,
  HealthReport,
  NodeApiPort,
  NodeStatus,
  ProposalInfo,
  RoundInfo,
  RoundState,
  StartRoundResult,
  SubmitOptions,
  TransactionStatus,
  TransactionSubmission,
  TxInclusionProof,
  VoteInfo,
} from '../src/api/port.js';
import { ApiError } from '../src/api/port.js';

const crypto = jsBackend();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Tx {
  txId: string;
  payload: Uint8Array;
  height?: number;
  index?: number;
}

export class FakeNode implements NodeApiPort {
  readonly txs = new Map<string, Tx>();
  readonly pending: Tx[] = [];
  readonly blocks: Array<{ info: BlockInfo; leaves: Uint8Array[] }> = [];
  readonly rounds: RoundInfo[] = [];
  readonly submitted: TransactionSubmission[] = [];
  overloaded = false;
  consensusDown = false;

  async submitTransaction(tx: TransactionSubmission, opts: SubmitOptions): Promise<TransactionStatus> {
    if (this.overloaded) throw new ApiError(503, 'overloaded', 'request queue is full, retry later');
    this.submitted.push(tx);
    const txId = hex(crypto.blake3(tx.payload));
    const t: Tx = { txId, payload: tx.payload };
    if (!this.txs.has(txId)) {
      this.txs.set(txId, t);
      this.pending.push(t);
    }
    if (opts.waitForCommit) this.commitPending();
    return this.transactionStatus(txId)!;
  }

  transactionStatus(txId: string): TransactionStatus | undefined {
    const t = this.txs.get(txId);
    if (!t) return undefined;
    return t.height === undefined
      ? { txId, status: 'pending' }
      : { txId, status: 'committed', roundId: String(t.height), height: t.height, index: t.index!, committedAt: 1_700_000_000_000 };
  }

  /** Commits everything pending as one block / round. */
  commitPending(): void {
    if (this.pending.length === 0) return;
    const height = this.blocks.length + 1;
    const batch = this.pending.splice(0);
    batch.forEach((t, i) => {
      t.height = height;
      t.index = i;
    });
    const leaves = batch.map((t) => t.payload);
    const root = hex(crypto.merkleRoot(leaves));
    this.blocks.push({
      leaves,
      info: {
        height,
        view: 0,
        digest: root,
        merkleRoot: root,
        txIds: batch.map((t) => t.txId),
        committedAt: 1_700_000_000_000,
        certificate: { signers: ['validator-001', 'validator-002', 'validator-003'], signatures: ['ed25519:00', 'ed25519:01', 'ed25519:02'] },
      },
    });
    this.rounds.push({
      roundId: String(height),
      sequence: height,
      view: 0,
      primary: 'validator-001',
      phase: 'committed',
      digest: root,
      transactionCount: batch.length,
      prepareVotes: 3,
      commitVotes: 3,
      durationMs: 0.4,
    });
  }

  async startRound(bundles: readonly BundleProposal[]): Promise<StartRoundResult> {
    const txIds: string[] = [];
    for (const b of bundles) for (const t of b.transactions) txIds.push((await this.submitTransaction({ payload: new TextEncoder().encode(t) }, { waitForCommit: false, timeoutMs: 1 })).txId);
    this.commitPending();
    return { roundId: String(this.blocks.length), status: 'committed', txIds };
  }

  round(sequence: number): RoundInfo | undefined {
    return this.rounds.find((r) => r.sequence === sequence);
  }
  activeRounds(): readonly RoundInfo[] {
    return this.pending.length
      ? [{ roundId: String(this.blocks.length + 1), sequence: this.blocks.length + 1, view: 0, primary: 'validator-001', phase: 'pre_prepared', digest: '00', transactionCount: this.pending.length, prepareVotes: 1, commitVotes: 0 }]
      : [];
  }
  roundHistory(limit: number): readonly RoundInfo[] {
    return this.rounds.slice(-limit).reverse();
  }
  votes(sequence: number): readonly VoteInfo[] | undefined {
    const r = this.round(sequence);
    if (!r) return undefined;
    return ['validator-001', 'validator-002', 'validator-003'].map((v) => ({
      validatorId: v,
      voteType: 'commit' as const,
      view: 0,
      sequence,
      digest: r.digest,
      signature: 'ed25519:' + '11'.repeat(64),
      signatureVerified: true,
    }));
  }
  proposal(sequence: number): ProposalInfo | undefined {
    const b = this.blocks[sequence - 1];
    if (!b) return undefined;
    return {
      roundId: String(sequence),
      sequence,
      view: 0,
      primary: 'validator-001',
      digest: b.info.digest,
      merkleRoot: b.info.merkleRoot,
      transactions: b.info.txIds.map((txId, i) => ({ txId, bytes: b.leaves[i]!.length })),
    };
  }
  roundState(sequence: number): RoundState | undefined {
    const round = this.round(sequence);
    if (!round) return undefined;
    return { round, votes: this.votes(sequence)!, proposal: this.proposal(sequence), quorum: 3 };
  }
  status(): NodeStatus {
    return {
      protocol: 'pbft',
      validatorId: 'validator-001',
      replicaIndex: 0,
      view: 0,
      primary: 'validator-001',
      isPrimary: true,
      mode: 'normal',
      lastCommittedSequence: this.blocks.length,
      lastStableCheckpoint: 0,
      lowWatermark: 0,
      highWatermark: 256,
      inflightSequences: 0,
      validators: 4,
      faultTolerance: 1,
      verify: 'lazy',
      peers: [{ validatorId: 'validator-002', connected: true }],
    };
  }
  consensusMetrics(): ConsensusMetricsSummary {
    return {
      totalRounds: this.rounds.length,
      committedRounds: this.rounds.length,
      failedRounds: 0,
      successRate: 1,
      averageLatencyMs: 0.4,
      p50LatencyMs: 0.4,
      p99LatencyMs: 0.9,
      view: 0,
      viewChanges: 0,
      lastCommittedSequence: this.blocks.length,
      byzantineFaultsDetected: 1,
      leaderReplacements: 0,
      transactionsCommitted: [...this.txs.values()].filter((t) => t.height !== undefined).length,
    };
  }
  block(height: number): BlockInfo | undefined {
    return this.blocks[height - 1]?.info;
  }
  transactionProof(height: number, txId: string): TxInclusionProof | undefined {
    const b = this.blocks[height - 1];
    if (!b) return undefined;
    const index = b.info.txIds.indexOf(txId);
    if (index < 0) return undefined;
    const p = crypto.merkleProof(b.leaves, index);
    return {
      txId,
      height,
      index,
      leafCount: p.leafCount,
      leaf: hex(b.leaves[index]!),
      siblings: p.siblings.map(hex),
      merkleRoot: b.info.merkleRoot,
    };
  }
  evidence(limit: number): readonly EvidenceInfo[] {
    return [
      { evidenceId: 'ev-1', validatorId: 'validator-004', kind: 'equivocation', view: 0, sequence: 7, detectedAt: 1_700_000_000_000, messages: ['aa', 'bb'] },
    ].slice(0, limit);
  }
  health(): HealthReport {
    return { status: 'ok', checks: { storage: { ok: true } } };
  }
  consensusHealth(): HealthReport {
    return this.consensusDown
      ? { status: 'down', checks: { quorum_links: { ok: false, detail: '1 of 3 peers connected' } } }
      : { status: 'ok', checks: { quorum_links: { ok: true } } };
  }
}
