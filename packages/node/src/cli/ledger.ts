// `bpci ledger ...`: the ledger app's routes from the command line (api/ledger-routes.ts), and a
// transfer signed locally with an Ed25519 key file (the format of `bpci keys generate`; the local
// cluster's client keys are in <dir>/keys/clients/). The private key never leaves this process:
// the transaction is built and signed here (LedgerWallet of @bpci/core), then POSTed as hex.
//
//   bpci ledger info
//   bpci ledger account <account>
//   bpci ledger history <account> [--limit 20] [--before <cursor>]
//   bpci ledger tx <id>
//   bpci ledger transfer --key-file F --leg <account>:<ASSET>:<amount> [--leg ...] [--nonce n] [--chain-id id] [--wait]
//
// Without --nonce the account's next nonce is read from the API; without --chain-id the
// ledger's. A transfer the ledger refuses is printed with its reason and exits 1.

import { type Command, InvalidArgumentError } from 'commander';
import { LedgerWallet, jsBackend, parseAccountKey, toHex } from '@bpci/core';
import { loadKeyFile } from '../keys/keyfile.js';
import type { ApiClient, Json } from './client.js';

export interface LedgerCliContext {
  readonly client: () => ApiClient;
  readonly show: (data: Json) => void;
  readonly act: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
  /** Exit with this code after printing (a refused transfer: 1). */
  readonly fail: (code: number, message: string) => never;
}

interface Leg {
  readonly to: Uint8Array;
  readonly asset: string;
  readonly amount: bigint;
}

function legArg(v: string, prev: Leg[] = []): Leg[] {
  const m = /^((?:ed25519:)?[0-9a-fA-F]{64}):([A-Z][A-Z0-9]{1,7}):([1-9][0-9]{0,18})$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--leg must be <account hex>:<ASSET>:<amount>, e.g. ${'ab'.repeat(32)}:GEN:5, got ${JSON.stringify(v)}`);
  return [...prev, { to: parseAccountKey(m[1]!)!, asset: m[2]!, amount: BigInt(m[3]!) }];
}

function accountArg(v: string): string {
  if (!parseAccountKey(v)) throw new InvalidArgumentError(`account must be 64 hex digits (optionally "ed25519:"), got ${JSON.stringify(v)}`);
  return v;
}

export function registerLedgerCommands(program: Command, ctx: LedgerCliContext): void {
  const { client, show, act } = ctx;
  const ledger = program.command('ledger').description('the ledger app: accounts, history, transactions, signed transfers (node.app: ledger)');
  ledger
    .command('info')
    .description('chain id, supply per asset, state digest at the committed height')
    .action(act(async () => show(await client().request('GET', '/api/v1/ledger'))));
  ledger
    .command('account')
    .description('balances, nonce and limits of an account')
    .argument('<account>', 'public key, 64 hex digits', accountArg)
    .action(act(async (account: string) => show(await client().request('GET', `/api/v1/ledger/accounts/${account}`))));
  ledger
    .command('history')
    .description("an account's transactions, newest first")
    .argument('<account>', 'public key, 64 hex digits', accountArg)
    .option('--limit <n>', 'page size (1..100)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError(`--limit must be 1..100, got ${JSON.stringify(v)}`);
      return n;
    }, 20)
    .option('--before <cursor>', 'next_cursor of the previous page')
    .action(
      act(async (account: string, o: { limit: number; before?: string }) =>
        show(await client().request('GET', `/api/v1/ledger/accounts/${account}/history?limit=${o.limit}${o.before ? `&before=${encodeURIComponent(o.before)}` : ''}`)),
      ),
    );
  ledger
    .command('tx')
    .description('a ledger transaction by ledger tx id or API transaction id, with its result')
    .argument('<id>', '64 hex digits')
    .action(act(async (id: string) => show(await client().request('GET', `/api/v1/ledger/transactions/${id}`))));
  ledger
    .command('transfer')
    .description('sign a transfer from the key file\'s account locally and submit it')
    .requiredOption('--key-file <file>', 'Ed25519 key file of the sending account (bpci keys generate)')
    .requiredOption('--leg <account:ASSET:amount>', 'one leg (repeat for an atomic multi-leg transfer)', legArg)
    .option('--nonce <n>', "the account's next nonce (default: read from the API)")
    .option('--chain-id <id>', "the ledger's chain id (default: read from the API)")
    .option('--wait', 'wait until committed and show the result', false)
    .action(
      act(async (o: { keyFile: string; leg: Leg[]; nonce?: string; chainId?: string; wait: boolean }) => {
        const key = loadKeyFile(o.keyFile);
        const wallet = new LedgerWallet(jsBackend(), key.seed);
        const c = client();
        const chainId = o.chainId ?? String(((await c.request('GET', '/api/v1/ledger')) as { chain_id: string }).chain_id);
        let nonce: number;
        if (o.nonce !== undefined) {
          nonce = Number(o.nonce);
          if (!/^[0-9]{1,15}$/.test(o.nonce) || !Number.isSafeInteger(nonce)) ctx.fail(2, `--nonce must be a non-negative integer, got ${JSON.stringify(o.nonce)}`);
        } else nonce = Number(((await c.request('GET', `/api/v1/ledger/accounts/${toHex(wallet.publicKey)}`)) as { nonce: number }).nonce);
        const tx = wallet.transfer({ chainId, nonce, legs: o.leg });
        const res = (await c.request('POST', `/api/v1/ledger/transactions${o.wait ? '?wait=true' : ''}`, { tx: toHex(tx) })) as { code?: string; detail?: string };
        show(res as Json);
        if (res.code !== undefined && res.code !== 'ok') ctx.fail(1, `the ledger refused the transfer: ${res.code}: ${res.detail ?? ''}`);
      }),
    );
}
