// A small typed HTTP client of the validator API (what the `bpci` CLI uses; scripts can too).
// Responses are the API's snake_case JSON, returned as parsed. Every call has a timeout.
// `token` is sent as `Authorization: Bearer <token>`; `ca` (PEM) is the trust anchor for an https
// API whose certificate is not signed by a public CA (the cluster CA `bpci config init` writes):
// then the request goes through node:https with that CA, since fetch has no per-request CA option.
// Errors: ApiClientError with the HTTP status and the server's message, or status 0 when the
// server could not be reached.

export class ApiClientError extends Error {
  constructor(
    /** HTTP status, or 0 when no response arrived (connection refused, timeout). */
    readonly status: number,
    readonly code: string,
    message: string,
    /** The parsed response body, when there was one. */
    readonly body: Json = null,
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface ApiClientOptions {
  readonly baseUrl: string;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** Bearer token for an API that requires one (node.api.token_file). */
  readonly token?: string;
  /** PEM CA certificate(s) to trust for an https API. */
  readonly ca?: string;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly token: string | undefined;

  constructor(opts: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new ApiClientError(0, 'bad_url', `--api must be a URL like http://127.0.0.1:8080, got ${JSON.stringify(opts.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ApiClientError(0, 'bad_url', `--api must be http(s), got ${url.protocol}`);
    }
    this.baseUrl = url.toString().replace(/\/$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.token = opts.token;
    this.fetchImpl = opts.fetch ?? (opts.ca !== undefined ? fetchWithCa(opts.ca) : fetch);
  }

  async request(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number): Promise<Json> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const code = e.cause?.code ?? (e as NodeJS.ErrnoException).code;
      const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs ?? this.timeoutMs} ms` : (code ?? e.message);
      const hint = code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) ? ' (is --ca-file the CA that signed this API\'s certificate?)' : '';
      throw new ApiClientError(0, 'unreachable', `cannot reach the validator API at ${this.baseUrl}: ${why}${hint}`);
    }
    const text = await res.text();
    let parsed: Json = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text) as Json;
      } catch {
        parsed = text;
      }
    }
    if (!res.ok) {
      const o = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
      throw new ApiClientError(
        res.status,
        typeof o.error === 'string' ? o.error : `http_${res.status}`,
        typeof o.message === 'string' ? o.message : `HTTP ${res.status}`,
        parsed,
      );
    }
    return parsed;
  }

  startRound(body: { bundle_proposals: unknown[]; timeout?: number }): Promise<Json> {
    return this.request('POST', '/api/v1/consensus/rounds/start', body);
  }
  roundStatus(roundId: string): Promise<Json> {
    return this.request('GET', `/api/v1/consensus/rounds/${encodeURIComponent(roundId)}/status`);
  }
  activeRounds(): Promise<Json> {
    return this.request('GET', '/api/v1/consensus/rounds/active');
  }
  roundHistory(limit: number): Promise<Json> {
    return this.request('GET', `/api/v1/consensus/rounds/history?limit=${limit}`);
  }
  consensusMetrics(): Promise<Json> {
    return this.request('GET', '/api/v1/consensus/metrics');
  }
  ibftState(roundId?: string): Promise<Json> {
    return this.request('GET', `/api/v1/consensus/ibft/state${roundId === undefined ? '' : `/${encodeURIComponent(roundId)}`}`);
  }
  ibftVotes(roundId: string): Promise<Json> {
    return this.request('GET', `/api/v1/consensus/ibft/votes/${encodeURIComponent(roundId)}`);
  }
  ibftProposal(roundId: string): Promise<Json> {
    return this.request('GET', `/api/v1/consensus/ibft/proposal/${encodeURIComponent(roundId)}`);
  }
  ibftVote(body: Record<string, unknown>): Promise<Json> {
    return this.request('POST', '/api/v1/consensus/ibft/vote', body);
  }
  submitTransaction(
    body: { payload: string; encoding?: 'utf8' | 'hex' | 'base64'; client_id?: string; request_seq?: number },
    opts: { wait?: boolean; timeoutMs?: number } = {},
  ): Promise<Json> {
    const q = new URLSearchParams();
    if (opts.wait) q.set('wait', 'true');
    if (opts.timeoutMs !== undefined) q.set('timeout_ms', String(opts.timeoutMs));
    const qs = q.toString();
    return this.request('POST', `/api/v1/transactions${qs ? `?${qs}` : ''}`, body, (opts.timeoutMs ?? 10_000) + 5_000);
  }
  transaction(txId: string): Promise<Json> {
    return this.request('GET', `/api/v1/transactions/${encodeURIComponent(txId)}`);
  }
  block(height: number, txId?: string): Promise<Json> {
    return this.request('GET', `/api/v1/blocks/${height}${txId ? `?tx=${encodeURIComponent(txId)}` : ''}`);
  }
  evidence(limit: number): Promise<Json> {
    return this.request('GET', `/api/v1/evidence?limit=${limit}`);
  }
  health(which?: 'consensus' | 'ibft'): Promise<Json> {
    return this.request('GET', which ? `/health/${which}` : '/health');
  }
}

/**
 * A minimal fetch over node:https that trusts `ca`: enough for ApiClient.request (method, headers,
 * string body, abort signal; status, ok, text()). Plain http URLs go through it too (no CA needed).
 */
function fetchWithCa(ca: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return await new Promise<Response>((resolve, reject) => {
      const req = mod.request(
        url,
        { method: init.method ?? 'GET', headers: init.headers as Record<string, string>, ...(url.protocol === 'https:' ? { ca } : {}), signal: init.signal ?? undefined },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
          });
        },
      );
      req.on('error', (err: Error) => {
        // Same shape as fetch's errors: the reason in `cause`, a timeout named TimeoutError.
        if (err.name === 'AbortError' && init.signal?.reason instanceof Error) reject(init.signal.reason);
        else reject(Object.assign(new TypeError('fetch failed'), { cause: err }));
      });
      if (typeof init.body === 'string') req.write(init.body);
      req.end();
    });
  }) as typeof fetch;
}
