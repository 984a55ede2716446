// Consensus health of one validator (issue 14): is it taking part with the others, or is it
// behind, alone in another view, or stuck out of normal mode?
//
// The core reports where the replica stands from what its peers last sent it
// (`status().standing`: behindSeqs, viewAlone, peerViews) and its mode; it has no clock. The node
// does: a condition counts as degraded only once it has held for a grace period of wall time,
// because a brief view change, a short catch-up or a few seqs of lag under load are normal.
//
// Rules (thresholds from the node's config, see `healthThresholdsOf`):
// - no quorum of links (this validator and its connected peers hold less than a quorum)
//   -> 'down' at once (it cannot take part at all);
// - behind by more than `behindSeqsNow` (the watermark window: it cannot vote in the peers'
//   window at all) -> degraded at once;
// - behind by more than `behindSeqsMax` (a checkpoint interval) for `graceMs` -> degraded;
// - alone in a view (the core's viewAlone: the validators last seen in our view hold no quorum
//   while f+1 of the stake was last seen in other views) for `graceMs` -> degraded;
// - mode other than normal (view-change, catching-up) for `graceMs` -> degraded;
// - stalled: client requests pending for `graceMs` and no commit at this validator for
//   `graceMs` (the 'committed' check) -> degraded. Idle (nothing pending) is not stalled.
// A condition's clock restarts whenever it stops holding at a sample.
//
// `assessConsensusHealth` is a pure function of one sample, the onset times and now;
// `ConsensusHealthTracker` keeps the onsets between samples and the seconds spent degraded
// (per reason and 'any'), accrued between samples (NodeService samples every HEALTH_SAMPLE_MS,
// and at every health request and metrics scrape).

import type { ReplicaStanding } from '@bpci/core';
import type { HealthReport } from '../api/port.js';

export type DegradedReason = 'behind' | 'view_alone' | 'not_normal' | 'stalled' | 'no_quorum_links';
export const DEGRADED_REASONS: readonly DegradedReason[] = ['behind', 'view_alone', 'not_normal', 'stalled', 'no_quorum_links'];

/** Grace period floor, and how many view-change timeouts (phase_timeout_seconds) it spans at least. */
export const HEALTH_GRACE_MIN_MS = 5_000;
export const HEALTH_GRACE_VIEW_TIMEOUTS = 4;
/** How often NodeService samples the replica for the grace clocks and the degraded-seconds counter. */
export const HEALTH_SAMPLE_MS = 250;

export interface HealthThresholds {
  /** Degraded when behind by more than this many seqs for graceMs (default: checkpoint interval). */
  readonly behindSeqsMax: number;
  /** Degraded at once when behind by more than this (default: watermark window). */
  readonly behindSeqsNow: number;
  /** How long a condition must hold before it counts (wall time). */
  readonly graceMs: number;
}

/**
 * Thresholds from the node's consensus config: behind = more than a checkpoint interval (for the
 * grace period) or more than the watermark window (at once); grace = HEALTH_GRACE_VIEW_TIMEOUTS
 * view-change timeouts, at least HEALTH_GRACE_MIN_MS.
 */
export function healthThresholdsOf(c: { readonly checkpointInterval: number; readonly watermarkWindow: number; readonly viewChangeTimeoutTicks: number }, tickMs: number): HealthThresholds {
  return {
    behindSeqsMax: c.checkpointInterval,
    behindSeqsNow: Math.max(c.watermarkWindow, c.checkpointInterval),
    graceMs: Math.max(HEALTH_GRACE_MIN_MS, HEALTH_GRACE_VIEW_TIMEOUTS * c.viewChangeTimeoutTicks * tickMs),
  };
}

/** What one sample of a running validator says. */
export interface ConsensusSample {
  readonly mode: 'normal' | 'view-change' | 'catching-up';
  readonly view: number;
  readonly committedHeight: number;
  /** This validator's replica index (its entry in standing.peerViews is its own view). */
  readonly self: number;
  readonly standing: ReplicaStanding;
  readonly peersConnected: number;
  readonly peersTotal: number;
  /** This validator plus its connected peers hold a quorum of stake. */
  readonly quorumLinks: boolean;
  /** Free text for the 'committed' check (height, view, last commit time). */
  readonly committedDetail?: string;
  /** Client requests waiting at the replica (status().pendingRequests); absent = 0. */
  readonly pendingRequests?: number;
  /** ms since this validator last committed (since it started when it never did); absent = never stalled. */
  readonly commitAgeMs?: number;
}

/** When each condition was first seen holding, in ms (absent: not holding at the last sample). */
export type Onsets = Readonly<Partial<Record<DegradedReason, number>>>;

export interface ConsensusAssessment {
  readonly report: HealthReport;
  /** Conditions that count now (grace over, or at once); empty when ok. */
  readonly degraded: readonly DegradedReason[];
  readonly onsets: Onsets;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function assessConsensusHealth(s: ConsensusSample, prev: Onsets, nowMs: number, t: HealthThresholds): ConsensusAssessment {
  const behind = s.standing.behindSeqs;
  const holding: Record<DegradedReason, boolean> = {
    behind: behind > t.behindSeqsMax,
    view_alone: s.standing.viewAlone,
    not_normal: s.mode !== 'normal',
    stalled: (s.pendingRequests ?? 0) > 0 && s.commitAgeMs !== undefined,
    no_quorum_links: !s.quorumLinks,
  };
  const onsets: Partial<Record<DegradedReason, number>> = {};
  for (const r of DEGRADED_REASONS) if (holding[r]) onsets[r] = prev[r] ?? nowMs;
  const heldMs = (r: DegradedReason): number => (onsets[r] === undefined ? 0 : nowMs - onsets[r]!);
  const counts: Record<DegradedReason, boolean> = {
    behind: holding.behind && (behind > t.behindSeqsNow || heldMs('behind') >= t.graceMs),
    view_alone: holding.view_alone && heldMs('view_alone') >= t.graceMs,
    not_normal: holding.not_normal && heldMs('not_normal') >= t.graceMs,
    // Requests waiting for the grace period AND no commit for as long: under load with commits
    // flowing something is always pending, and a burst after an idle hour is not stalled yet.
    stalled: holding.stalled && heldMs('stalled') >= t.graceMs && s.commitAgeMs! >= t.graceMs,
    no_quorum_links: holding.no_quorum_links,
  };
  const degraded = DEGRADED_REASONS.filter((r) => counts[r]);

  const peers = s.standing.peerViews.filter((_, i) => i !== s.self).map((v) => (v < 0 ? '?' : String(v)));
  const pending = (r: DegradedReason): string => (holding[r] && !counts[r] ? ` for ${secs(heldMs(r))} (counts after ${secs(t.graceMs)})` : holding[r] ? ` for ${secs(heldMs(r))}` : '');
  const texts: Record<DegradedReason, string> = {
    behind: `behind by ${behind} seqs`,
    view_alone: `alone in view ${s.view} (peers: ${peers.join(',')})`,
    not_normal: `in ${s.mode} mode for ${secs(heldMs('not_normal'))}`,
    stalled: `no commit for ${secs(s.commitAgeMs ?? 0)} with ${s.pendingRequests ?? 0} requests pending`,
    no_quorum_links: `no quorum of links (${s.peersConnected}/${s.peersTotal} peers connected)`,
  };
  const reasons = degraded.map((r) => texts[r]);
  const status: HealthReport['status'] = counts.no_quorum_links ? 'down' : degraded.length > 0 ? 'degraded' : 'ok';
  return {
    degraded,
    onsets,
    report: {
      status,
      checks: {
        links: { ok: !counts.no_quorum_links, detail: `${s.peersConnected}/${s.peersTotal} peers connected` },
        mode: { ok: !counts.not_normal, detail: `${s.mode}${pending('not_normal')}` },
        view: { ok: !counts.view_alone, detail: holding.view_alone ? `${texts.view_alone}${pending('view_alone')}` : `view ${s.view} (peers: ${peers.join(',')})` },
        behind: {
          ok: !counts.behind,
          detail: `${texts.behind}${pending('behind')}; degraded above ${t.behindSeqsMax} for ${secs(t.graceMs)}, above ${t.behindSeqsNow} at once`,
        },
        committed: {
          ok: !counts.stalled,
          detail:
            `${s.committedDetail ?? `height ${s.committedHeight}, view ${s.view}`}; ${s.pendingRequests ?? 0} requests pending` +
            (holding.stalled ? `${counts.stalled ? `, no commit for ${secs(s.commitAgeMs!)}` : pending('stalled')}` : '') +
            `; degraded when requests wait ${secs(t.graceMs)} with no commit for as long`,
        },
      },
      ...(reasons.length > 0 ? { reasons } : {}),
    },
  };
}

/** Onset times and degraded seconds between samples; the clock is the caller's (ms). */
export class ConsensusHealthTracker {
  private onsets: Onsets = {};
  private lastAtMs: number | null = null;
  private lastDegraded: readonly DegradedReason[] = [];
  private readonly seconds = new Map<DegradedReason | 'any', number>([['any', 0], ...DEGRADED_REASONS.map((r) => [r, 0] as const)]);
  private last: ConsensusAssessment | null = null;

  constructor(readonly thresholds: HealthThresholds) {}

  /**
   * Takes one sample at `nowMs`. The time since the previous sample is credited to the reasons
   * that counted at that previous sample (and to 'any' when there was at least one).
   */
  sample(s: ConsensusSample, nowMs: number): ConsensusAssessment {
    if (this.lastAtMs !== null && nowMs > this.lastAtMs && this.lastDegraded.length > 0) {
      const dt = (nowMs - this.lastAtMs) / 1000;
      for (const r of this.lastDegraded) this.seconds.set(r, this.seconds.get(r)! + dt);
      this.seconds.set('any', this.seconds.get('any')! + dt);
    }
    const a = assessConsensusHealth(s, this.onsets, nowMs, this.thresholds);
    this.onsets = a.onsets;
    this.lastDegraded = a.degraded;
    this.lastAtMs = Math.max(nowMs, this.lastAtMs ?? nowMs);
    this.last = a;
    return a;
  }

  /** Seconds spent degraded so far, by reason and 'any' (monotonic). */
  degradedSeconds(): ReadonlyMap<DegradedReason | 'any', number> {
    return this.seconds;
  }

  get latest(): ConsensusAssessment | null {
    return this.last;
  }
}
