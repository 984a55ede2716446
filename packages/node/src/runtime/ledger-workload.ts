// A ledger workload for runClosedLoop (workload.ts): real signed transfers between the funded
// client accounts of a local ledger cluster (config/local-cluster.ts writes their keys and the
// genesis). Workload client c signs with account c and sends to the next accounts; request k of
// client c carries nonce k, so every transaction is valid and in order and every result must be
// "ok" (anything else is counted as rejected, with its reason). Every fourth transfer has two legs
// in two coins (GEN and NEX, atomic); the rest move 1 GEN.

import { LedgerWallet, type CryptoBackend } from '@bpci/core';
import type { ValidatorKey } from '../keys/keyfile.js';

export interface LedgerWorkload {
  readonly op: (client: number, k: number) => Uint8Array;
  readonly resultOk: (client: number, k: number, result: Uint8Array) => boolean;
}

export function ledgerTransfers(crypto: CryptoBackend, keys: readonly ValidatorKey[], opts: { readonly chainId: string; readonly clients: number }): LedgerWorkload {
  if (opts.clients > keys.length) throw new RangeError(`${opts.clients} workload clients need as many funded accounts; the genesis holds ${keys.length}`);
  if (keys.length < 2) throw new RangeError('a transfer workload needs at least 2 funded accounts');
  const wallets = keys.map((k) => new LedgerWallet(crypto, k.seed));
  const n = wallets.length;
  return {
    op: (c, k) => {
      const to = wallets[(c + 1) % n]!.publicKey;
      const legs =
        k % 4 === 3
          ? [
              { to, asset: 'GEN', amount: 2n },
              { to: wallets[(c + 2) % n === c ? (c + 1) % n : (c + 2) % n]!.publicKey, asset: 'NEX', amount: 3n },
            ]
          : [{ to, asset: 'GEN', amount: 1n }];
      return wallets[c]!.transfer({ chainId: opts.chainId, nonce: k, legs });
    },
    resultOk: (_c, _k, result) => result.length === 2 && result[0] === 0x6f && result[1] === 0x6b, // "ok"
  };
}
