// Bearer-token authentication and TLS material for the validator's HTTP API (issue 13 §2).
//
// Contract:
// - `bearerAuthHook(token)` is a Fastify onRequest hook. A request to an open path (OPEN_PATHS)
//   passes; any other request needs `Authorization: Bearer <token>`, else 401 in the API's error
//   shape `{ error: 'unauthorized', message, status_code: 401 }` with `WWW-Authenticate: Bearer`.
//   The comparison hashes both sides with SHA-256 and compares the digests with timingSafeEqual,
//   so neither the token's bytes nor its length leak through timing.
// - `/health` and `/health/*` stay open: load balancers, kubelet probes, `docker HEALTHCHECK` and
//   `bpci cluster status` poll them without a secret, and they report only up/down and consensus
//   progress (no transactions, keys or evidence). `/dashboard`, the page alone, is open too: it is
//   a fixed HTML file with no data, and it sends the token the user enters on its data requests.
//   Everything else, `/metrics` and the dashboard's data included, needs the token (Prometheus
//   sends it with `authorization.credentials_file`).
// - `readApiToken` / `readApiTls` read what `node.api` names and fail with one line naming the key
//   and the file, the way key files do: a secret readable by group or others is refused.

import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiConfig } from '../config/config.js';

/** Paths answered without a token (see the module comment for why). */
export const OPEN_PATH_PREFIXES = ['/health'] as const;
/**
 * Exact paths answered without a token: the dashboard's page, a fixed HTML file with no data in
 * it (a browser cannot send a bearer header when it navigates); the data it polls needs the token.
 */
export const OPEN_PATHS_EXACT = ['/dashboard'] as const;

/** A token shorter than this is refused: it would be guessable over the network. */
export const API_TOKEN_CHARS_MIN = 32;
const API_TOKEN_CHARS_MAX = 4096;
const SECRET_FILE_BYTES_MAX = 1024 * 1024;

export class ApiAuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiAuthConfigError';
  }
}

export function isOpenPath(url: string): boolean {
  const path = url.split('?')[0]!;
  return (OPEN_PATHS_EXACT as readonly string[]).includes(path) || OPEN_PATH_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time equality of two tokens (of any lengths). */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The Fastify onRequest hook that enforces the bearer token on every non-open path. */
export function bearerAuthHook(token: string): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  if (token.length < API_TOKEN_CHARS_MIN) throw new ApiAuthConfigError(`API token must be at least ${API_TOKEN_CHARS_MIN} characters, got ${token.length}`);
  return async (req, reply) => {
    if (isOpenPath(req.url)) return undefined;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (m && tokenMatches(m[1]!, token)) return undefined;
    const message = header === undefined
      ? 'this API needs a bearer token: send "Authorization: Bearer <token>" (bpci: --token or BPCI_TOKEN)'
      : 'the bearer token is wrong or malformed (expected "Authorization: Bearer <token>")';
    // An async hook that answered early returns the reply, so Fastify runs no handler.
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="bpci"')
      .send({ error: 'unauthorized', message, status_code: 401 });
  };
}

/** Reads a secret file that must be owner-only (like the validator key file). */
function readSecretFile(file: string, key: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new ApiAuthConfigError(`${key}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new ApiAuthConfigError(`${key}: ${file} is not a regular file`);
  if (st.size > SECRET_FILE_BYTES_MAX) throw new ApiAuthConfigError(`${key}: ${file} is larger than ${SECRET_FILE_BYTES_MAX} bytes`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new ApiAuthConfigError(`${key}: ${file} has permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')}, too open for a secret; run: chmod 600 ${file}`);
  }
  return fs.readFileSync(file, 'utf8');
}

function checkToken(token: string, where: string): string {
  if (token.length < API_TOKEN_CHARS_MIN || token.length > API_TOKEN_CHARS_MAX || /\s/.test(token)) {
    throw new ApiAuthConfigError(`${where}: the API token must be ${API_TOKEN_CHARS_MIN}..${API_TOKEN_CHARS_MAX} characters without spaces, got ${token.length} characters`);
  }
  return token;
}

/** The bearer token `node.api.token_file` / `token_env` names; undefined when neither is set. */
export function readApiToken(api: Pick<ApiConfig, 'token'>, env: NodeJS.ProcessEnv = process.env, key = 'node.api'): string | undefined {
  const t = api.token;
  if (t === undefined) return undefined;
  if ('file' in t) {
    const text = readSecretFile(t.file, `${key}.token_file`);
    return checkToken((text.split(/\r?\n/)[0] ?? '').trim(), `${key}.token_file (${t.file})`);
  }
  const v = env[t.env];
  if (v === undefined || v.length === 0) throw new ApiAuthConfigError(`${key}.token_env: the environment variable ${t.env} is not set (it should hold the token)`);
  return checkToken(v.trim(), `${key}.token_env (${t.env})`);
}

/** The PEM certificate and key `node.api.tls` names; undefined without TLS. */
export function readApiTls(api: Pick<ApiConfig, 'tls'>, prefix = 'node.api'): { cert: string; key: string } | undefined {
  if (!api.tls) return undefined;
  let cert: string;
  try {
    cert = fs.readFileSync(api.tls.certFile, 'utf8');
  } catch (err) {
    throw new ApiAuthConfigError(`${prefix}.tls.cert_file: cannot read ${api.tls.certFile}: ${(err as Error).message}`);
  }
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new ApiAuthConfigError(`${prefix}.tls.cert_file: ${api.tls.certFile} holds no PEM certificate`);
  const key = readSecretFile(api.tls.keyFile, `${prefix}.tls.key_file`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new ApiAuthConfigError(`${prefix}.tls.key_file: ${api.tls.keyFile} holds no PEM private key`);
  return { cert, key };
}
