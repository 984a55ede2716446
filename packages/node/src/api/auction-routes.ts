// The seed's round and auction routes, answered by the replicated Tranverse auction (issue 12 §3,
// @bpci/core apps/auction) of a ledger node started with `triple_consensus.auction`. Registered by
// createApi (server.ts) in place of its sequence-number round routes when the node runs the
// auction; same contract: JSON schemas, unknown fields rejected, `{ error, message, status_code }`.
//
//   POST /api/v1/consensus/rounds/start          { open: hex, bundle_proposals?: [{ bundle_id?, commit: hex }] }
//   POST /api/v1/consensus/auction/bundles       { commit: hex } during BidCollection, or { reveal: hex } after it
//   GET  /api/v1/consensus/rounds/:round_id/status
//   GET  /api/v1/consensus/rounds/active
//   GET  /api/v1/consensus/rounds/history        ?limit (1..1000, default 100), newest first
//   GET  /api/v1/consensus/auction/state/:round_id        everything the state holds about the round
//   GET  /api/v1/consensus/auction/winner/:round_id       the winner (or the candidate during Settlement)
//   GET  /api/v1/consensus/auction/evaluations/:round_id  each bundle's score components, in rank order
//   GET  /health/auction
//
// The flow (why the node never sees a bundle early): a bidder builds its sealed bid with the core
// client helper (`AuctionBidder.seal`, or `bpci consensus auction seal`): a signed commit that holds
// only a hash, and the reveal, which the bidder keeps. rounds/start submits a signed open op and
// waits for it to commit, then the commits given with it; bundles go in later through
// auction/bundles (commit), and each bidder posts its reveal there once the round is in
// BidEvaluation. The node holds no secrets of anyone's; every op is an ordinary client request
// through consensus, so every validator answers these routes from the same replicated state.
// An op that breaks a rule still commits, with a result naming the reason (`code`), like the
// ledger's transactions; only bytes that are not the expected auction op are a 400.
//
// Amounts are decimal strings; scores are decimal strings of integers in units of 1e-10
// (basis points x millionths), with `score` also as a float for reading.

import type { FastifyInstance } from 'fastify';
import { ApiError } from './port.js';

export interface AuctionSubmitResult {
  readonly txId: string;
  readonly status: 'pending' | 'committed';
  readonly height?: number;
  readonly result?: string;
  readonly code?: string;
  readonly detail?: string;
}

/** A round as the routes show it (built by the runtime from the core view; JSON-ready). */
export interface AuctionRoundJson {
  readonly roundId: string;
  readonly phase: string;
  readonly winner: string | null;
  readonly reason: string;
  readonly commitments: readonly unknown[];
  readonly evaluations: readonly { readonly bundleId: string }[];
  readonly attempts: readonly unknown[];
  readonly [k: string]: unknown;
}

export interface AuctionApiPort {
  /** Decodes `op` as an auction op: its kind and round id (hex16; null for an open), or ApiError 400. */
  inspect(op: Uint8Array): { readonly kind: 'open' | 'commit' | 'reveal'; readonly roundId: string };
  submit(op: Uint8Array, opts: { readonly waitForCommit: boolean; readonly timeoutMs: number }): Promise<AuctionSubmitResult>;
  round(roundId: string): AuctionRoundJson | undefined;
  active(): readonly AuctionRoundJson[];
  /** Newest first. */
  history(limit: number): readonly AuctionRoundJson[];
  health(): Record<string, unknown>;
}

const C = '/api/v1/consensus';
const ROUND_ID = '^(round-)?[0-9a-f]{16}$';
const HEX_OP = '^([0-9a-fA-F]{2})+$';
const HISTORY_LIMIT_MAX = 1000;
const PROPOSALS_MAX = 16;

const roundParams = {
  type: 'object',
  required: ['round_id'],
  additionalProperties: false,
  properties: { round_id: { type: 'string', pattern: ROUND_ID, description: 'the round id, "round-<16 hex>" (from the open op)' } },
} as const;

const norm = (id: string): string => (id.startsWith('round-') ? id : `round-${id}`);
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

export function registerAuctionRoutes(
  app: FastifyInstance,
  auction: AuctionApiPort,
  o: { readonly waitMax: number; readonly txBytesMax: number; readonly toSnake: (v: unknown) => unknown },
): void {
  const hexOp = { type: 'string', pattern: HEX_OP, maxLength: 2 * o.txBytesMax } as const;
  const timeoutMs = (t: number | undefined): number => Math.min(o.waitMax, Math.round((t ?? 10) * 1000));
  const find = (id: string): AuctionRoundJson => {
    const r = auction.round(norm(id));
    if (!r) throw new ApiError(404, 'not_found', `no round ${id} (unknown, or older than the rounds this state keeps)`);
    return r;
  };
  const expect = (op: Uint8Array, kind: 'open' | 'commit' | 'reveal', field: string, roundId?: string): string => {
    const d = auction.inspect(op);
    if (d.kind !== kind) throw new ApiError(400, 'bad_request', `body/${field} is an auction ${d.kind}, expected ${kind === 'open' ? 'an' : 'a'} ${kind}`);
    if (roundId !== undefined && d.roundId !== roundId) throw new ApiError(400, 'bad_request', `body/${field} is for ${d.roundId}, not ${roundId}`);
    return d.roundId;
  };

  app.post(
    `${C}/rounds/start`,
    {
      schema: {
        body: {
          type: 'object',
          required: ['open'],
          additionalProperties: false,
          properties: {
            open: { ...hexOp, description: 'a signed auction open op (AuctionBidder.open), hex' },
            bundle_proposals: {
              type: 'array',
              maxItems: PROPOSALS_MAX,
              items: {
                type: 'object',
                required: ['commit'],
                additionalProperties: false,
                properties: { bundle_id: { type: 'string', maxLength: 64 }, commit: { ...hexOp, description: 'a signed commit op (AuctionBidder.seal(...).commit), hex' } },
              },
            },
            timeout: { type: 'number', exclusiveMinimum: 0, maximum: o.waitMax / 1000, description: 'seconds to wait for each op to commit' },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { open: string; bundle_proposals?: { bundle_id?: string; commit: string }[]; timeout?: number };
      const openOp = bytes(body.open);
      const roundId = expect(openOp, 'open', 'open');
      const commits = (body.bundle_proposals ?? []).map((p, i) => {
        const op = bytes(p.commit);
        expect(op, 'commit', `bundle_proposals/${i}/commit`, roundId);
        return op;
      });
      const t = timeoutMs(body.timeout);
      const opened = await auction.submit(openOp, { waitForCommit: true, timeoutMs: t });
      // Not committed in time: 202 with the pending open; the commits were not submitted.
      if (opened.status !== 'committed') return reply.code(202).send(o.toSnake({ roundId, open: opened, bundleProposals: [], round: null }));
      const results = opened.code === 'ok' ? await Promise.all(commits.map((op) => auction.submit(op, { waitForCommit: true, timeoutMs: t }))) : [];
      return reply.code(opened.code === 'ok' ? 201 : 409).send(o.toSnake({ roundId, open: opened, bundleProposals: results, round: auction.round(roundId) ?? null }));
    },
  );

  app.post(
    `${C}/auction/bundles`,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            round_id: { type: 'string', pattern: ROUND_ID },
            commit: { ...hexOp, description: 'a signed commit op, during BidCollection' },
            reveal: { ...hexOp, description: 'the matching reveal op, during BidEvaluation' },
            wait: { type: 'boolean', default: true },
            timeout: { type: 'number', exclusiveMinimum: 0, maximum: o.waitMax / 1000 },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { round_id?: string; commit?: string; reveal?: string; wait: boolean; timeout?: number };
      if ((body.commit === undefined) === (body.reveal === undefined)) throw new ApiError(400, 'bad_request', 'body must have exactly one of commit, reveal');
      const kind = body.commit !== undefined ? 'commit' : 'reveal';
      const op = bytes((body.commit ?? body.reveal)!);
      const roundId = expect(op, kind, kind, body.round_id !== undefined ? norm(body.round_id) : undefined);
      const res = await auction.submit(op, { waitForCommit: body.wait, timeoutMs: timeoutMs(body.timeout) });
      return reply.code(res.status === 'committed' ? 200 : 202).send(o.toSnake({ roundId, kind, ...res }));
    },
  );

  app.get(`${C}/rounds/:round_id/status`, { schema: { params: roundParams } }, async (req) => {
    const r = find((req.params as { round_id: string }).round_id);
    const { commitments, evaluations, attempts, ...status } = r;
    return o.toSnake({ ...status, bundles: commitments.length, evaluated: evaluations.length, attempts: attempts.length });
  });

  app.get(`${C}/rounds/active`, async () => o.toSnake({ rounds: auction.active() }));

  app.get(
    `${C}/rounds/history`,
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: HISTORY_LIMIT_MAX, default: 100 } } } } },
    async (req) => o.toSnake({ rounds: auction.history((req.query as { limit: number }).limit) }),
  );

  app.get(`${C}/auction/state/:round_id`, { schema: { params: roundParams } }, async (req) => o.toSnake(find((req.params as { round_id: string }).round_id)));

  app.get(`${C}/auction/winner/:round_id`, { schema: { params: roundParams } }, async (req) => {
    const r = find((req.params as { round_id: string }).round_id);
    const evaluation = r.winner === null ? null : (r.evaluations.find((e) => e.bundleId === r.winner) ?? null);
    return o.toSnake({ roundId: r.roundId, phase: r.phase, final: r.phase === 'Finalized', winner: r.winner, evaluation, attempts: r.attempts, reason: r.reason });
  });

  app.get(`${C}/auction/evaluations/:round_id`, { schema: { params: roundParams } }, async (req) => {
    const r = find((req.params as { round_id: string }).round_id);
    return o.toSnake({ roundId: r.roundId, phase: r.phase, evaluations: r.evaluations });
  });

  app.get('/health/auction', async () => o.toSnake(auction.health()));
}
