// The ledger's HTTP routes (issue 12 §2), registered by createApi (server.ts) beside the
// consensus routes, under the same contract: JSON schemas on every body, param and query,
// unknown fields rejected, errors `{ error, message, status_code }`, snake_case responses.
//
//   POST /api/v1/ledger/transactions                 { tx: "<hex of a signed ledger tx>" } ?wait&timeout_ms
//   GET  /api/v1/ledger/transactions/:id             by ledger tx id or by the API's transaction id
//   GET  /api/v1/ledger/accounts/:account            balances, nonce, limits
//   GET  /api/v1/ledger/accounts/:account/history    ?limit (1..100, default 20) &before (cursor)
//   GET  /api/v1/ledger/accounts/:account/proof      the account's leaf + Merkle proof against state_digest
//   GET  /api/v1/ledger                              chain id, supply per asset, state digest
//
// Amounts are decimal strings (they reach 2^63-1, beyond JSON's safe integers). Account ids are
// 64 hex digits (or "ed25519:<hex>"). A node that runs the kv app answers every ledger route
// 404 `not_applicable`. A transaction that fails the ledger's rules is not an HTTP error: it
// commits with a result whose `code` says why (bad_nonce, insufficient_funds, ...); only bytes
// that are not a ledger transaction at all are refused up front (400 bad_transaction).

import type { FastifyInstance } from 'fastify';
import { ApiError } from './port.js';

export interface LedgerLegView {
  readonly from?: string;
  readonly to?: string;
  readonly asset: string;
  readonly amount: string;
}

export interface LedgerInclusion {
  readonly txId: string;
  readonly height: number;
  readonly index: number;
  /** 'ok', a reason code, or null when this validator does not know the result (back-filled block). */
  readonly code: string | null;
}

export interface LedgerTxView {
  /** The API's transaction id (hex BLAKE3 of the client request): GET /api/v1/transactions/:id. */
  readonly txId: string;
  /** Hex BLAKE3 of the signed ledger transaction bytes. */
  readonly ledgerTxId: string;
  readonly status: 'pending' | 'committed';
  readonly height?: number;
  readonly index?: number;
  readonly committedAt?: number;
  /** The result text: "ok" or "<code>: <detail>". */
  readonly result?: string;
  readonly code?: string;
  readonly detail?: string;
  /** False in a block this validator back-filled and never executed (result unknown here). */
  readonly resultKnown?: boolean;
  readonly kind: 'transfer' | 'mint' | 'burn' | 'configure';
  readonly chainId: string;
  readonly signer: string;
  readonly nonce: number;
  readonly cosigners: readonly string[];
  readonly legs: readonly LedgerLegView[];
  /** configure only. */
  readonly account?: string;
  readonly limits?: readonly { readonly asset: string; readonly perTxMax: string | null; readonly outflowMax: string | null }[];
  /** Every place these same ledger bytes were committed (a replay commits too, as bad_nonce). */
  readonly inclusions?: readonly LedgerInclusion[];
}

export interface LedgerAccountInfo {
  readonly account: string;
  /** The nonce the account's next transaction must carry. */
  readonly nonce: number;
  /** The committed height this validator's state is at. */
  readonly height: number;
  readonly balances: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, { readonly perTxMax: string | null; readonly outflowMax: string | null; readonly outflowLeft: string | null }>>;
}

export interface LedgerHistoryPage {
  readonly account: string;
  /** Newest first. */
  readonly transactions: readonly LedgerTxView[];
  /** Pass as ?before= for the next (older) page; absent on the last page. */
  readonly nextCursor?: string;
  /** Entries this validator keeps for the account (bounded; see the node README). */
  readonly indexed: number;
}

export interface LedgerSummary {
  readonly chainId: string;
  readonly mintAuthority: string | null;
  readonly accounts: number;
  readonly height: number;
  /** Hex BLAKE3 of the ledger's canonical snapshot at `height`: equal on every validator at one height. */
  readonly stateDigest: string;
  readonly assets: readonly { readonly asset: string; readonly supply: string }[];
}

/** An account's leaf and Merkle proof against the ledger digest (verifyLedgerAccountProof of @bpci/core takes them as bytes). */
export interface LedgerAccountProofView {
  readonly account: string;
  readonly height: number;
  readonly stateDigest: string;
  /** Hex of the leaf bytes. */
  readonly leaf: string;
  readonly proof: { readonly index: number; readonly leafCount: number; readonly siblings: readonly string[] };
}

/** What the routes need from a node running the ledger. Undefined = 404. */
export interface LedgerApiPort {
  submit(tx: Uint8Array, opts: { readonly waitForCommit: boolean; readonly timeoutMs: number }): Promise<LedgerTxView>;
  transaction(id: string): LedgerTxView | undefined;
  account(publicKey: Uint8Array): LedgerAccountInfo | undefined;
  history(publicKey: Uint8Array, opts: { readonly limit: number; readonly before?: { readonly height: number; readonly index: number } }): LedgerHistoryPage | undefined;
  summary(): LedgerSummary;
  accountProof(publicKey: Uint8Array): LedgerAccountProofView | undefined;
  /** Throws ApiError 400 when `tx` is not a ledger transaction at all. */
  checkDecodes(tx: Uint8Array): void;
}

const L = '/api/v1/ledger';
const ACCOUNT = '^(ed25519:)?[0-9a-fA-F]{64}$';
const ID = '^[0-9a-fA-F]{64}$';
const CURSOR = '^[0-9]{1,15}\\.[0-9]{1,10}$';
const HISTORY_LIMIT_MAX = 100;

function accountKey(text: string): Uint8Array {
  const hex = text.replace(/^ed25519:/, '');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

const accountParams = {
  type: 'object',
  required: ['account'],
  additionalProperties: false,
  properties: { account: { type: 'string', pattern: ACCOUNT, description: 'the account public key: 64 hex digits, optionally "ed25519:"' } },
} as const;

/**
 * Registers the ledger routes on `app`; `ledger` null (a kv node) makes each answer 404
 * not_applicable. `txBytesMax` bounds the submitted bytes; `waitMax` the wait.
 */
export function registerLedgerRoutes(app: FastifyInstance, ledger: LedgerApiPort | null, opts: { readonly waitMax: number; readonly toSnake: (v: unknown) => unknown }): void {
  const { toSnake } = opts;
  const need = (): LedgerApiPort => {
    if (ledger === null) throw new ApiError(404, 'not_applicable', 'this validator runs the kv app (node.app: kv); the ledger routes need node.app: ledger and a node.genesis');
    return ledger;
  };

  app.post(
    `${L}/transactions`,
    {
      schema: {
        body: {
          type: 'object',
          required: ['tx'],
          additionalProperties: false,
          properties: { tx: { type: 'string', minLength: 2, maxLength: 2 * 64 * 1024, pattern: '^([0-9a-fA-F]{2})+$', description: 'hex of the signed ledger transaction' } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            wait: { type: 'boolean', default: false },
            timeout_ms: { type: 'integer', minimum: 1, maximum: opts.waitMax, default: 10_000 },
          },
        },
      },
    },
    async (req, reply) => {
      const l = need();
      const { tx } = req.body as { tx: string };
      const q = req.query as { wait: boolean; timeout_ms: number };
      const bytes = new Uint8Array(Buffer.from(tx, 'hex'));
      l.checkDecodes(bytes);
      const v = await l.submit(bytes, { waitForCommit: q.wait, timeoutMs: q.timeout_ms });
      return reply.code(v.status === 'committed' ? 200 : 202).send(toSnake(v));
    },
  );

  app.get(`${L}/transactions/:id`, { schema: { params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: ID } } } } }, async (req) => {
    const { id } = req.params as { id: string };
    const v = need().transaction(id.toLowerCase());
    if (!v) throw new ApiError(404, 'not_found', `no ledger transaction ${id} (neither a ledger tx id nor an API transaction id known here)`);
    return toSnake(v);
  });

  app.get(`${L}/accounts/:account`, { schema: { params: accountParams } }, async (req) => {
    const { account } = req.params as { account: string };
    const v = need().account(accountKey(account));
    if (!v) throw new ApiError(404, 'not_found', `no account ${account} (accounts come from the genesis or the mint authority)`);
    // Asset symbols are keys here: toSnake must not touch them ("GEN" is not camelCase).
    const { balances, limits, ...rest } = v;
    return { ...(toSnake(rest) as object), balances, limits: Object.fromEntries(Object.entries(limits).map(([asset, l]) => [asset, toSnake(l)])) };
  });

  app.get(
    `${L}/accounts/:account/history`,
    {
      schema: {
        params: accountParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: HISTORY_LIMIT_MAX, default: 20 },
            before: { type: 'string', pattern: CURSOR, description: 'cursor "<height>.<index>" from next_cursor: entries strictly older' },
          },
        },
      },
    },
    async (req) => {
      const { account } = req.params as { account: string };
      const q = req.query as { limit: number; before?: string };
      const before = q.before === undefined ? undefined : { height: Number(q.before.split('.')[0]), index: Number(q.before.split('.')[1]) };
      const page = need().history(accountKey(account), { limit: q.limit, ...(before ? { before } : {}) });
      if (!page) throw new ApiError(404, 'not_found', `no account ${account} (accounts come from the genesis or the mint authority)`);
      return toSnake(page);
    },
  );

  app.get(`${L}/accounts/:account/proof`, { schema: { params: accountParams } }, async (req) => {
    const { account } = req.params as { account: string };
    const v = need().accountProof(accountKey(account));
    if (!v) throw new ApiError(404, 'not_found', `no account ${account} (accounts come from the genesis or the mint authority)`);
    return toSnake(v);
  });

  app.get(L, async () => toSnake(need().summary()));
}
