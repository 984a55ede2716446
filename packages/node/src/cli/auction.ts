// `bpci consensus auction ...`: the replicated Tranverse auction (api/auction-routes.ts) from the
// command line. Ops are built and signed here with a key file (AuctionBidder of @bpci/core); the
// reveal, which shows the bundle, is written to a local file and never sent before the round's
// collection phase closes.
//
//   bpci consensus auction open --key-file F [--nonce n]                      opens a round (rounds/start)
//   bpci consensus auction submit-bundle --key-file F --round-id R --bundle-id B --bid-amount N
//        --transactions <hex,hex> [--priority-score 0.85] [--reveal-file P]  commits; saves the reveal to P
//   bpci consensus auction reveal --reveal-file P                             posts the saved reveal
//   bpci consensus auction results --round-id R                               the round's whole state
//   bpci consensus auction winner --round-id R
//   bpci consensus auction list-bundles --round-id R                          commitments (and reveals)
//   bpci consensus auction evaluations --round-id R                           score components by rank
//
// Without --nonce the account's next nonce is read from the ledger API; the chain id likewise.

import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError } from 'commander';
import { AuctionBidder, jsBackend, parseRoundId, toHex } from '@bpci/core';
import { loadKeyFile } from '../keys/keyfile.js';
import type { ApiClient, Json } from './client.js';
import type { LedgerCliContext } from './ledger.js';

const C = '/api/v1/consensus';

function roundArg(v: string): string {
  if (!parseRoundId(v)) throw new InvalidArgumentError(`--round-id must be round-<16 hex digits> (from \`auction open\`), got ${JSON.stringify(v)}`);
  return v.startsWith('round-') ? v : `round-${v}`;
}

function hexListArg(v: string): Uint8Array[] {
  const parts = v.split(',').map((s) => s.trim());
  for (const p of parts) if (!/^([0-9a-fA-F]{2})+$/.test(p)) throw new InvalidArgumentError(`--transactions must be comma-separated hex of signed ledger transactions (bpci ledger transfer builds them), got ${JSON.stringify(p.slice(0, 20))}`);
  return parts.map((p) => new Uint8Array(Buffer.from(p, 'hex')));
}

function bidArg(v: string): bigint {
  if (!/^[0-9]{1,19}$/.test(v) || BigInt(v) > (1n << 63n) - 1n) throw new InvalidArgumentError(`--bid-amount must be an integer 0..2^63-1, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

function priorityArg(v: string): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x > 1) throw new InvalidArgumentError(`--priority-score must be a number in 0..1, got ${JSON.stringify(v)}`);
  return Math.round(x * 1_000_000);
}

async function chainAndNonce(c: ApiClient, publicKey: Uint8Array, nonce: string | undefined, fail: LedgerCliContext['fail']): Promise<{ chainId: string; nonce: number }> {
  const chainId = String(((await c.request('GET', '/api/v1/ledger')) as { chain_id: string }).chain_id);
  if (nonce !== undefined) {
    if (!/^[0-9]{1,15}$/.test(nonce)) fail(2, `--nonce must be a non-negative integer, got ${JSON.stringify(nonce)}`);
    return { chainId, nonce: Number(nonce) };
  }
  return { chainId, nonce: Number(((await c.request('GET', `/api/v1/ledger/accounts/${toHex(publicKey)}`)) as { nonce: number }).nonce) };
}

function refused(res: Json, what: string, fail: LedgerCliContext['fail']): void {
  const code = (res as { code?: string } | null)?.code;
  if (code !== undefined && code !== 'ok') fail(1, `the auction refused the ${what}: ${code}: ${(res as { detail?: string }).detail ?? ''}`);
}

/** Signs an open with the key file, POSTs it to rounds/start and shows the answer (also `consensus start-round --key-file`). */
export async function openAuctionRound(ctx: LedgerCliContext, keyFile: string, nonceText?: string): Promise<void> {
  const bidder = new AuctionBidder(jsBackend(), loadKeyFile(keyFile).seed);
  const c = ctx.client();
  const { chainId, nonce } = await chainAndNonce(c, bidder.publicKey, nonceText, ctx.fail);
  const res = await c.request('POST', `${C}/rounds/start`, { open: toHex(bidder.open({ chainId, nonce }).op) });
  ctx.show(res);
  refused((res as { open?: Json }).open ?? null, 'open', ctx.fail);
}

export function registerAuctionCommands(consensus: Command, ctx: LedgerCliContext): void {
  const { client, show, act, fail } = ctx;
  const auction = consensus.command('auction').description('the sealed-bid bundle auction (a ledger node with triple_consensus.auction)');
  const refuse = (res: Json, what: string): void => refused(res, what, fail);

  auction
    .command('open')
    .description('open a round (POST /rounds/start with a signed open op); prints its round id')
    .requiredOption('--key-file <file>', 'Ed25519 key file of the opening account')
    .option('--nonce <n>', "the account's next nonce (default: read from the API)")
    .action(act(async (o: { keyFile: string; nonce?: string }) => openAuctionRound(ctx, o.keyFile, o.nonce)));

  auction
    .command('submit-bundle')
    .description('seal a bundle locally, submit its commitment, and save the reveal to a file')
    .requiredOption('--key-file <file>', "Ed25519 key file of the bidder (pays the deposit and the bid)")
    .requiredOption('--round-id <id>', 'round-<16 hex>', roundArg)
    .requiredOption('--bundle-id <id>', 'bundle id ([A-Za-z0-9._-], 1..64)')
    .requiredOption('--bid-amount <n>', 'the bid, in the auction asset', bidArg)
    .requiredOption('--transactions <hex,hex>', 'signed ledger transactions, in execution order', hexListArg)
    .option('--priority-score <x>', 'declared priority, 0..1', priorityArg, 0)
    .option('--nonce <n>', "the bidder's next nonce (default: read from the API)")
    .option('--reveal-file <path>', 'where to keep the reveal (default: <bundle-id>.reveal.json)')
    .action(
      act(async (o: { keyFile: string; roundId: string; bundleId: string; bidAmount: bigint; transactions: Uint8Array[]; priorityScore: number; nonce?: string; revealFile?: string }) => {
        const bidder = new AuctionBidder(jsBackend(), loadKeyFile(o.keyFile).seed);
        const c = client();
        const { chainId, nonce } = await chainAndNonce(c, bidder.publicKey, o.nonce, fail);
        const sealed = bidder.seal({ chainId, nonce, roundId: parseRoundId(o.roundId)!, bundleId: o.bundleId, bid: o.bidAmount, priorityPpm: o.priorityScore, salt: new Uint8Array(randomBytes(32)), txs: o.transactions });
        const file = o.revealFile ?? `${o.bundleId}.reveal.json`;
        fs.writeFileSync(file, JSON.stringify({ round_id: o.roundId, bundle_id: o.bundleId, reveal: toHex(sealed.reveal) }, null, 2), { mode: 0o600 });
        const res = await c.request('POST', `${C}/auction/bundles`, { round_id: o.roundId, commit: toHex(sealed.commit) });
        show({ ...(res as Record<string, Json>), reveal_file: file, commitment: toHex(sealed.commitment) });
        refuse(res, 'commitment');
      }),
    );

  auction
    .command('reveal')
    .description('post a saved reveal (once the round is in BidEvaluation)')
    .requiredOption('--reveal-file <path>', 'the file submit-bundle wrote')
    .action(
      act(async (o: { revealFile: string }) => {
        let saved: { round_id: string; reveal: string };
        try {
          saved = JSON.parse(fs.readFileSync(o.revealFile, 'utf8'));
        } catch (e) {
          return fail(4, `cannot read the reveal file ${o.revealFile}: ${(e as Error).message}`);
        }
        const res = await client().request('POST', `${C}/auction/bundles`, { round_id: saved.round_id, reveal: saved.reveal });
        show(res);
        refuse(res, 'reveal');
      }),
    );

  const byRound = (name: string, description: string, path: (id: string) => string, pick?: (d: Json) => Json): void => {
    auction
      .command(name)
      .description(description)
      .requiredOption('--round-id <id>', 'round-<16 hex>', roundArg)
      .action(
        act(async (o: { roundId: string }) => {
          const d = await client().request('GET', path(o.roundId));
          show(pick ? pick(d) : d);
        }),
      );
  };
  byRound('results', "the round's whole state: phase, commitments, evaluations, settlement attempts", (id) => `${C}/auction/state/${id}`);
  byRound('winner', 'the winning bundle (the candidate during Settlement) and the settlement attempts', (id) => `${C}/auction/winner/${id}`);
  byRound('evaluations', "each revealed bundle's score components, in rank order", (id) => `${C}/auction/evaluations/${id}`);
  byRound('list-bundles', 'the commitments of a round (bundles show once revealed)', (id) => `${C}/auction/state/${id}`, (d) => {
    const r = d as { round_id?: string; phase?: string; commitments?: Json };
    return { round_id: r.round_id ?? null, phase: r.phase ?? null, bundles: r.commitments ?? [] };
  });
}
