// The whole-cluster dashboard that `bpci cluster up` serves: the same page as a validator's, in
// cluster mode, over an endpoint that gathers every validator's snapshot.
//
// Contract:
// - `createClusterDashboard({ members })` returns a Fastify instance, ready but not listening.
//   `GET /dashboard` serves the page; `GET /` redirects to it; `GET /api/v1/dashboard/cluster`
//   answers `{ taken_at, validators: [{ validator_id, api_url, reachable, error?, snapshot? }] }`,
//   fetching every validator's /api/v1/dashboard/snapshot in parallel (each bounded by
//   `fetchTimeoutMs`), passing on the same bounded `history` / `events` / `evidence` query, and
//   `?validator=<id>` to ask only one (404 for an id not in the cluster).
// - A validator that does not answer, answers with an error, or is answered for by another
//   process (its identity headers name another validator, cli/identity.ts) is listed as not
//   reachable with the reason; the others are still shown.
// - Errors have the API's shape `{ error, message, status_code }`: bad query -> 400, unknown path
//   -> 404, a known path with another method -> 405 with an Allow header.

import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { DASHBOARD_QUERY_SCHEMA, sendDashboardPage } from '../dashboard.js';
import { identityOf } from '../../cli/identity.js';

export interface ClusterDashboardMember {
  readonly validatorId: string;
  /** Base URL of the validator's HTTP API, e.g. http://127.0.0.1:8081. */
  readonly apiUrl: string;
}

export interface ClusterDashboardOptions {
  readonly members: readonly ClusterDashboardMember[];
  /** Per-validator fetch bound, ms (default 1500). */
  readonly fetchTimeoutMs?: number;
}

export interface ClusterMemberSnapshot {
  readonly validator_id: string;
  readonly api_url: string;
  readonly reachable: boolean;
  readonly error?: string;
  readonly snapshot?: unknown;
}

const ROUTES: Readonly<Record<string, readonly string[]>> = {
  '/': ['GET', 'HEAD'],
  '/dashboard': ['GET', 'HEAD'],
  '/api/v1/dashboard/cluster': ['GET', 'HEAD'],
};

function apiError(status: number, error: string, message: string): { error: string; message: string; status_code: number } {
  return { error, message, status_code: status };
}

/** One validator's snapshot, or why there is none. */
async function fetchMember(m: ClusterDashboardMember, query: string, timeoutMs: number): Promise<ClusterMemberSnapshot> {
  const base = { validator_id: m.validatorId, api_url: m.apiUrl };
  let res: Response;
  try {
    res = await fetch(`${m.apiUrl}/api/v1/dashboard/snapshot?${query}`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.message);
    return { ...base, reachable: false, error: `${m.apiUrl}: ${why}` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { ...base, reachable: false, error: `${m.apiUrl}: HTTP ${res.status}, not JSON` };
  }
  const who = identityOf(res.headers)?.validatorId;
  if (who !== undefined && who !== m.validatorId) {
    return { ...base, reachable: false, error: `${m.apiUrl} is answered by ${who}, not ${m.validatorId} (another cluster on that port?)` };
  }
  if (!res.ok) {
    const msg = (body as { message?: unknown }).message;
    return { ...base, reachable: false, error: `${m.apiUrl}: HTTP ${res.status}${typeof msg === 'string' ? `: ${msg}` : ''}` };
  }
  return { ...base, reachable: true, snapshot: body };
}

export function createClusterDashboard(opts: ClusterDashboardOptions): FastifyInstance {
  if (opts.members.length === 0) throw new Error('a cluster dashboard needs at least one validator');
  const timeoutMs = opts.fetchTimeoutMs ?? 1500;
  const app = Fastify({ logger: false });
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) return reply.code(400).send(apiError(400, 'bad_request', err.message));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send(apiError(status, status === 500 ? 'internal_error' : 'bad_request', status === 500 ? 'internal error' : err.message));
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allow = ROUTES[path];
    if (allow) {
      const list = allow.join(', ');
      return reply.code(405).header('allow', list).send(apiError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}; allowed: ${list}`));
    }
    return reply.code(404).send(apiError(404, 'not_found', `no route ${req.method} ${path}`));
  });

  app.get('/', async (_req, reply) => reply.redirect('/dashboard'));
  app.get('/dashboard', async (_req, reply) => sendDashboardPage(reply, 'cluster'));
  app.get(
    '/api/v1/dashboard/cluster',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...DASHBOARD_QUERY_SCHEMA.properties,
            validator: { type: 'string', minLength: 1, maxLength: 128, description: 'only this validator' },
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query as { history: number; events: number; evidence: number; validator?: string };
      const chosen = q.validator === undefined ? opts.members : opts.members.filter((m) => m.validatorId === q.validator);
      if (chosen.length === 0) {
        return reply.code(404).send(apiError(404, 'not_found', `no validator ${JSON.stringify(q.validator)} in this cluster (it has ${opts.members.map((m) => m.validatorId).join(', ')})`));
      }
      const query = `history=${q.history}&events=${q.events}&evidence=${q.evidence}`;
      const validators = await Promise.all(chosen.map((m) => fetchMember(m, query, timeoutMs)));
      return { taken_at: Date.now(), validators };
    },
  );
  return app;
}
