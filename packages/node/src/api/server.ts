// The validator's HTTP API (Fastify): the seed's consensus routes, transactions, blocks with Merkle
// proofs, evidence, health, Prometheus metrics, and a live dashboard (dashboard.ts).
//
// Contract:
// - `createApi({ node, metrics })` returns a Fastify instance that is ready but not listening; the
//   caller does `await app.listen({ host, port })` and `await app.close()`.
// - Every body, param and query has a JSON schema; unknown body fields are rejected (not silently
//   dropped). Bad input -> 400 `{ error, message, status_code }` naming the field. Unknown round /
//   block / transaction -> 404 in the same shape. Every error has that shape and one of the API's
//   own codes (API_ERROR_CODES), never a Fastify `fst_err_*` code. A known path with the wrong
//   method -> 405 with an Allow header. The seed's hotstuff / auction routes answer 404
//   `not_applicable` naming the protocol that runs (pbft). Responses are snake_case JSON (the
//   seed's style); durations (`*_ms`) are rounded to 3 decimals (µs).
// - Bodies are bounded (`bodyLimitBytes`, default 1 MiB), transaction payloads by `txBytesMax`,
//   lists by their schema's maxItems, history by `limit <= 1000`.
// - GET /dashboard is the one HTML answer (a self-contained page, no external resources);
//   GET /api/v1/dashboard/snapshot is the JSON it polls, with bounded `history` / `events` /
//   `evidence` counts in its querystring schema (dashboard.ts).
// - With `tls` it serves HTTPS; with `token` every path but /health* needs a bearer token, else
//   401 `unauthorized` in the same error shape (auth.ts says why /health stays open).
// - Validator votes are NOT accepted over HTTP: POST /ibft/vote validates the seed's body and then
//   answers 403, because a vote only counts when it arrives over an authenticated validator link.

import { Ajv } from 'ajv';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ApiError, type HealthReport, type NodeApiPort } from './port.js';
import type { NodeMetrics } from '../metrics/metrics.js';
import { registerDashboard } from './dashboard.js';
import { registerLedgerRoutes, type LedgerApiPort } from './ledger-routes.js';
import { bearerAuthHook } from './auth.js';
import { registerAuctionRoutes, type AuctionApiPort } from './auction-routes.js';

export interface ApiOptions {
  readonly node: NodeApiPort;
  readonly metrics?: NodeMetrics;
  /** A pino logger (e.g. from createLogger); default: no request logging. */
  readonly logger?: FastifyBaseLogger;
  readonly bodyLimitBytes?: number;
  readonly txBytesMax?: number;
  /** Upper bound for ?timeout_ms / timeout (ms). */
  readonly waitTimeoutMsMax?: number;
  /** The ledger app's routes (ledger-routes.ts); absent/null: they answer 404 not_applicable. */
  readonly ledger?: LedgerApiPort | null;
  /** Serve HTTPS with this PEM certificate and key (node.api.tls). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Require `Authorization: Bearer <token>` on every path but /health* (auth.ts). */
  readonly token?: string;
  /**
   * The replicated auction (auction-routes.ts): present, it answers rounds/* and auction/* and
   * /health/auction in place of the sequence-number rounds below; absent, those stay as they were.
   */
  readonly auction?: AuctionApiPort | null;
}

const ROUND_ID = '^(round-)?[0-9]{1,15}$';
const TX_ID = '^[0-9a-fA-F]{64}$';
const HISTORY_LIMIT_MAX = 1000;
const BUNDLES_MAX = 64;
const BUNDLE_TXS_MAX = 1024;

const roundParams = {
  type: 'object',
  required: ['round_id'],
  additionalProperties: false,
  properties: { round_id: { type: 'string', pattern: ROUND_ID, description: 'sequence number, e.g. "12" or "round-12"' } },
} as const;

/** Durations in ms to 3 decimals (µs): 17.303508000000875 -> 17.304. */
export function roundMs(ms: number): number {
  return Number.isInteger(ms) ? ms : Math.round(ms * 1000) / 1000;
}

/**
 * camelCase keys -> snake_case, recursively (plain objects and arrays only); numbers under a key
 * ending in `Ms` / `_ms` (durations) are rounded by roundMs.
 */
export function toSnake(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toSnake);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      const key = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      out[key] = typeof x === 'number' && key.endsWith('_ms') ? roundMs(x) : toSnake(x);
    }
    return out;
  }
  return v;
}

/** The API's error codes by HTTP status, for errors raised outside the handlers (Fastify's own). */
const STATUS_ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

/** The seed's routes for protocols this engine does not run: they answer 404 not_applicable. */
const SEED_ROUTES_NOT_RUNNING: ReadonlyArray<{ readonly method: 'GET' | 'POST'; readonly url: string; readonly layer: 'hotstuff' | 'auction' }> = [
  { method: 'GET', url: '/api/v1/consensus/hotstuff/state/:round_id', layer: 'hotstuff' },
  { method: 'GET', url: '/api/v1/consensus/hotstuff/pipeline', layer: 'hotstuff' },
  { method: 'GET', url: '/api/v1/consensus/hotstuff/metrics', layer: 'hotstuff' },
  { method: 'GET', url: '/api/v1/consensus/hotstuff/execution/:round_id', layer: 'hotstuff' },
  { method: 'POST', url: '/api/v1/consensus/auction/bundles', layer: 'auction' },
  { method: 'GET', url: '/api/v1/consensus/auction/state/:round_id', layer: 'auction' },
  { method: 'GET', url: '/api/v1/consensus/auction/winner/:round_id', layer: 'auction' },
  { method: 'GET', url: '/api/v1/consensus/auction/evaluations/:round_id', layer: 'auction' },
  { method: 'GET', url: '/health/hotstuff', layer: 'hotstuff' },
  { method: 'GET', url: '/health/auction', layer: 'auction' },
];

const RUNNING_PROTOCOL = 'pbft';

/** Does a request path match a route pattern (`:param` = one non-empty segment)? */
function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const q = path.split('/');
  if (p.length !== q.length) return false;
  return p.every((seg, i) => (seg.startsWith(':') ? q[i]!.length > 0 : seg === q[i]));
}

function parseRoundId(id: string): number {
  return Number(id.startsWith('round-') ? id.slice(6) : id);
}

function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', what);
}

function decodePayload(text: string, encoding: 'utf8' | 'hex' | 'base64'): Uint8Array {
  switch (encoding) {
    case 'utf8':
      return new TextEncoder().encode(text);
    case 'hex':
      if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new ApiError(400, 'bad_request', 'body/payload must be hex digits (an even number) when encoding is "hex"');
      return new Uint8Array(Buffer.from(text, 'hex'));
    case 'base64':
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new ApiError(400, 'bad_request', 'body/payload must be padded base64 when encoding is "base64"');
      return new Uint8Array(Buffer.from(text, 'base64'));
    default: {
      const never: never = encoding;
      throw new ApiError(400, 'bad_request', `unknown encoding ${String(never)}`);
    }
  }
}

function healthCode(h: HealthReport): number {
  return h.status === 'down' ? 503 : 200;
}

export function createApi(opts: ApiOptions): FastifyInstance {
  const { node, metrics } = opts;
  const txBytesMax = opts.txBytesMax ?? 64 * 1024;
  const waitMax = opts.waitTimeoutMsMax ?? 60_000;
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // Per-request logs would cost more than the request itself at benchmark rates; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes ?? 1024 * 1024,
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  }) as unknown as FastifyInstance; // an https server has the same routes/hooks API
  if (opts.token !== undefined) app.addHook('onRequest', bearerAuthHook(opts.token));
  // Bodies are JSON, so they are validated WITHOUT type coercion: a number where the schema wants a
  // string is a 400, not the string "5", and a string where it wants a list is a 400, not a list of
  // one (Fastify's default, coerceTypes 'array', applies to bodies too). Querystrings and path
  // parameters arrive as text, so they keep coercion to the schema's scalar types.
  const ajvBody = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, strict: false });
  const ajvText = new Ajv({ removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajvBody : ajvText).compile(schema));

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.statusCode).send({ error: err.code, message: err.message, status_code: err.statusCode });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send({ error: 'bad_request', message: fe.message, status_code: 400 });
    }
    // Fastify's own errors (body too large, bad JSON, unsupported content type, ...) keep their
    // status and message but get the API's code for that status, not FST_ERR_*.
    const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    if (status === 500) req.log.error({ err: fe.message, url: req.url }, 'api handler failed');
    return reply.code(status).send({
      error: status === 500 ? 'internal_error' : (STATUS_ERROR_CODES[status] ?? 'bad_request'),
      message: status === 500 ? 'internal error (see the validator log)' : fe.message,
      status_code: status,
    });
  });
  // Every route's methods by URL pattern, so a known path asked with another method is a 405.
  const routeMethods = new Map<string, Set<string>>();
  app.addHook('onRoute', (r) => {
    const set = routeMethods.get(r.url) ?? new Set<string>();
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) set.add(m);
    routeMethods.set(r.url, set);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allow = new Set<string>();
    for (const [pattern, methods] of routeMethods) if (pathMatches(pattern, path)) for (const m of methods) allow.add(m);
    if (allow.size > 0) {
      const list = [...allow].sort().join(', ');
      return reply
        .code(405)
        .header('allow', list)
        .send({ error: 'method_not_allowed', message: `${req.method} is not allowed on ${path}; allowed: ${list}`, status_code: 405 });
    }
    return reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${path}`, status_code: 404 });
  });

  const C = '/api/v1/consensus';

  // ------------------------------------------------------------ rounds (sequence numbers; without the auction)
  const seqRounds = !opts.auction;
  if (seqRounds) app.post(
    `${C}/rounds/start`,
    {
      schema: {
        body: {
          type: 'object',
          required: ['bundle_proposals'],
          additionalProperties: false,
          properties: {
            bundle_proposals: {
              type: 'array',
              minItems: 1,
              maxItems: BUNDLES_MAX,
              items: {
                type: 'object',
                required: ['bundle_id', 'transactions'],
                additionalProperties: false,
                properties: {
                  bundle_id: { type: 'string', minLength: 1, maxLength: 128 },
                  proposer_id: { type: 'string', minLength: 1, maxLength: 128 },
                  bid_amount: { type: 'number', minimum: 0 },
                  priority_score: { type: 'number', minimum: 0, maximum: 1 },
                  transactions: { type: 'array', minItems: 1, maxItems: BUNDLE_TXS_MAX, items: { type: 'string', minLength: 1, maxLength: txBytesMax } },
                  gas_limit: { type: 'integer', minimum: 0 },
                  timestamp: { type: 'string', maxLength: 64 },
                },
              },
            },
            timeout: { type: 'number', exclusiveMinimum: 0, maximum: waitMax / 1000, description: 'seconds to wait for a round id' },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as {
        bundle_proposals: Array<{ bundle_id: string; proposer_id?: string; bid_amount?: number; priority_score?: number; transactions: string[]; gas_limit?: number }>;
        timeout?: number;
      };
      const bundles = body.bundle_proposals.map((b) => ({
        bundleId: b.bundle_id,
        transactions: b.transactions,
        ...(b.proposer_id !== undefined ? { proposerId: b.proposer_id } : {}),
        ...(b.bid_amount !== undefined ? { bidAmount: b.bid_amount } : {}),
        ...(b.priority_score !== undefined ? { priorityScore: b.priority_score } : {}),
        ...(b.gas_limit !== undefined ? { gasLimit: b.gas_limit } : {}),
      }));
      const txCount = body.bundle_proposals.reduce((a, b) => a + b.transactions.length, 0);
      let res;
      try {
        res = await node.startRound(bundles, { timeoutMs: Math.round((body.timeout ?? 5) * 1000) });
      } catch (err) {
        metrics?.transactionsSubmitted.inc({ result: 'rejected' }, txCount);
        throw err;
      }
      metrics?.transactionsSubmitted.inc({ result: 'accepted' }, res.txIds.length);
      return reply.code(202).send(toSnake(res));
    },
  );

  if (seqRounds) app.get(`${C}/rounds/:round_id/status`, { schema: { params: roundParams } }, async (req) => {
    const { round_id } = req.params as { round_id: string };
    const r = node.round(parseRoundId(round_id));
    if (!r) throw notFound(`no round ${round_id}`);
    return toSnake(r);
  });

  if (seqRounds) app.get(`${C}/rounds/active`, async () => toSnake({ rounds: node.activeRounds() }));

  if (seqRounds) app.get(
    `${C}/rounds/history`,
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: HISTORY_LIMIT_MAX, default: 100 } },
        },
      },
    },
    async (req) => {
      const { limit } = req.query as { limit: number };
      return toSnake({ rounds: node.roundHistory(limit) });
    },
  );

  app.get(`${C}/metrics`, async () => toSnake(node.consensusMetrics()));

  // ------------------------------------------------------------ "ibft" (this engine's PBFT state)
  app.get(`${C}/ibft/state`, async () => toSnake(node.status()));

  app.get(`${C}/ibft/state/:round_id`, { schema: { params: roundParams } }, async (req) => {
    const { round_id } = req.params as { round_id: string };
    const s = node.roundState(parseRoundId(round_id));
    if (!s) throw notFound(`no round ${round_id}`);
    return toSnake(s);
  });

  app.get(`${C}/ibft/votes/:round_id`, { schema: { params: roundParams } }, async (req) => {
    const { round_id } = req.params as { round_id: string };
    const v = node.votes(parseRoundId(round_id));
    if (!v) throw notFound(`no round ${round_id}`);
    return toSnake({ round_id, votes: v });
  });

  app.get(`${C}/ibft/proposal/:round_id`, { schema: { params: roundParams } }, async (req) => {
    const { round_id } = req.params as { round_id: string };
    const p = node.proposal(parseRoundId(round_id));
    if (!p) throw notFound(`no proposal for round ${round_id}`);
    return toSnake(p);
  });

  app.post(
    `${C}/ibft/vote`,
    {
      schema: {
        body: {
          type: 'object',
          required: ['validator_id', 'vote_type', 'block_hash', 'round_number', 'signature'],
          additionalProperties: false,
          properties: {
            validator_id: { type: 'string', minLength: 1, maxLength: 64 },
            vote_type: { type: 'string', enum: ['Prepare', 'Commit', 'PrePrepare', 'prepare', 'commit', 'pre_prepare'] },
            block_hash: { type: 'string', pattern: '^(0x)?[0-9a-fA-F]{64}$' },
            round_number: { type: 'integer', minimum: 0 },
            signature: { type: 'string', pattern: '^(ed25519:)?[0-9a-fA-F]{128}$' },
            timestamp: { type: 'string', maxLength: 64 },
          },
        },
      },
    },
    async () => {
      throw new ApiError(
        403,
        'votes_only_over_validator_links',
        'validator votes are not accepted over HTTP: a vote counts only when it arrives over an authenticated ' +
          'validator link (Ed25519-signed handshake, BLAKE3 MAC on every frame) and carries a valid signature. ' +
          'Run a validator (bpci node start) to vote.',
      );
    },
  );

  // ------------------------------------------------------------ transactions
  app.post(
    '/api/v1/transactions',
    {
      schema: {
        body: {
          type: 'object',
          required: ['payload'],
          additionalProperties: false,
          properties: {
            // No maxLength here: the limit is in bytes after decoding (checked below, with a message
            // that says bytes); the body limit bounds the text.
            payload: { type: 'string', minLength: 1 },
            encoding: { type: 'string', enum: ['utf8', 'hex', 'base64'], default: 'utf8' },
            client_id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
            request_seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            // A request the submitter signed itself (signRequest of @bpci/core): its Ed25519
            // public key and signature, hex. Without them this validator signs as its agent.
            public_key: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
            signature: { type: 'string', pattern: '^[0-9a-fA-F]{128}$' },
          },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            wait: { type: 'boolean', default: false },
            timeout_ms: { type: 'integer', minimum: 1, maximum: waitMax, default: 10_000 },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { payload: string; encoding: 'utf8' | 'hex' | 'base64'; client_id?: string; request_seq?: number; public_key?: string; signature?: string };
      const q = req.query as { wait: boolean; timeout_ms: number };
      const payload = decodePayload(body.payload, body.encoding);
      if (payload.length > txBytesMax) {
        throw new ApiError(400, 'bad_request', `body/payload is ${payload.length} bytes (encoding ${body.encoding}); at most ${txBytesMax} bytes allowed`);
      }
      if ((body.client_id === undefined) !== (body.request_seq === undefined)) {
        throw new ApiError(400, 'bad_request', 'body/client_id and body/request_seq go together (exactly-once key): give both or neither');
      }
      if ((body.public_key === undefined) !== (body.signature === undefined)) {
        throw new ApiError(400, 'bad_request', 'body/public_key and body/signature go together (a request signed by its client): give both or neither');
      }
      if (body.public_key !== undefined && body.client_id === undefined) {
        throw new ApiError(400, 'bad_request', 'a signed request needs body/client_id and body/request_seq: the signature covers them');
      }
      let status;
      try {
        status = await node.submitTransaction(
          {
            payload,
            ...(body.client_id !== undefined ? { clientId: body.client_id } : {}),
            ...(body.request_seq !== undefined ? { requestSeq: body.request_seq } : {}),
            ...(body.public_key !== undefined && body.signature !== undefined
              ? { publicKey: new Uint8Array(Buffer.from(body.public_key, 'hex')), signature: new Uint8Array(Buffer.from(body.signature, 'hex')) }
              : {}),
          },
          { waitForCommit: q.wait, timeoutMs: q.timeout_ms },
        );
      } catch (err) {
        metrics?.transactionsSubmitted.inc({ result: 'rejected' });
        throw err;
      }
      metrics?.transactionsSubmitted.inc({ result: 'accepted' });
      return reply.code(status.status === 'committed' ? 200 : 202).send(toSnake(status));
    },
  );

  app.get(
    '/api/v1/transactions/:id',
    { schema: { params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: TX_ID } } } } },
    async (req) => {
      const { id } = req.params as { id: string };
      const s = node.transactionStatus(id.toLowerCase());
      if (!s) throw notFound(`no transaction ${id}`);
      return toSnake(s);
    },
  );

  // ------------------------------------------------------------ blocks and evidence
  app.get(
    '/api/v1/blocks/:height',
    {
      schema: {
        params: { type: 'object', required: ['height'], additionalProperties: false, properties: { height: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } } },
        querystring: { type: 'object', additionalProperties: false, properties: { tx: { type: 'string', pattern: TX_ID } } },
      },
    },
    async (req) => {
      const { height } = req.params as { height: number };
      const { tx } = req.query as { tx?: string };
      const block = node.block(height);
      if (!block) throw notFound(`no block at height ${height}`);
      if (tx === undefined) return toSnake(block);
      const proof = node.transactionProof(height, tx.toLowerCase());
      if (!proof) throw notFound(`transaction ${tx} is not in block ${height}`);
      return toSnake({ block, proof });
    },
  );

  app.get(
    '/api/v1/evidence',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: HISTORY_LIMIT_MAX, default: 100 } },
        },
      },
    },
    async (req) => {
      const { limit } = req.query as { limit: number };
      return toSnake({ evidence: node.evidence(limit) });
    },
  );

  // ------------------------------------------------------------ health and metrics
  app.get('/health', async (_req, reply) => {
    const h = node.health();
    return reply.code(healthCode(h)).send(toSnake(h));
  });
  const consensusHealth = async (_req: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    const h = node.consensusHealth();
    return reply.code(healthCode(h)).send(toSnake({ protocol: 'pbft', ...h }));
  };
  app.get('/health/consensus', consensusHealth);
  // The seed's IBFT layer is the three-phase BFT protocol; here that is PBFT, so it answers the same.
  app.get('/health/ibft', consensusHealth);
  for (const r of SEED_ROUTES_NOT_RUNNING) {
    if (opts.auction && r.layer === 'auction') continue;
    app.route({
      method: r.method,
      url: r.url,
      handler: async (_req, reply) =>
        reply.code(404).send({
          error: 'not_applicable',
          message: `this validator runs ${RUNNING_PROTOCOL}; the seed's ${r.layer} protocol is not running here, so ${r.method} ${r.url} does not apply`,
          status_code: 404,
          protocol: RUNNING_PROTOCOL,
        }),
    });
  }

  registerDashboard(app, { node, metrics });

  app.get('/metrics', async (_req, reply) => {
    if (!metrics) throw new ApiError(404, 'not_found', 'metrics are not enabled on this node');
    const { contentType, body } = await metrics.exposition();
    return reply.type(contentType).send(body);
  });

  registerLedgerRoutes(app, opts.ledger ?? null, { waitMax, toSnake });
  if (opts.auction) registerAuctionRoutes(app, opts.auction, { waitMax, txBytesMax, toSnake });
  return app;
}
