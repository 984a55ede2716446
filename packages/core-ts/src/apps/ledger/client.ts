// Client side of the ledger: build and sign transactions (tests, the CLI, npm start's workload).
//
//   const w = new LedgerWallet(crypto, seed32);               // one account's key
//   const bytes = w.transfer({ chainId, nonce, legs: [{ to, asset: 'GEN', amount: 5n }] });
//   // submit `bytes` as a client op (POST /api/v1/ledger/transactions or a BpciClient)
//
// A multi-party transfer (a swap: every source signs) is built once, signed by each party:
//   const tx = { chainId, signer: a.publicKey, nonce, body: { kind: 'transfer', legs } };
//   const bytes = signLedgerTx(crypto, tx, [aSeed, bSeed]);  // first seed = the signer

import type { CryptoBackend } from '../../crypto/backend.js';
import { CodecError } from '../../codec/wire.js';
import { compareBytes, encodeLedgerTx, encodeLedgerTxBody, ledgerSigningMessage, type BurnLeg, type Cosignature, type LimitSetting, type MintLeg, type UnsignedLedgerTx } from './tx.js';

/** What a ledger client needs of a CryptoBackend. */
export type LedgerSigning = Pick<CryptoBackend, 'ed25519PublicKey' | 'ed25519Sign'>;

/**
 * Signs `tx` with `seeds[0]` (the signer's) and every further seed as a co-signer; returns the
 * canonical encoding. Co-signatures are put in key order. Throws CodecError on values the codec
 * cannot encode (zero amount, too many legs, ...).
 */
export function signLedgerTx(crypto: LedgerSigning, tx: UnsignedLedgerTx, seeds: readonly Uint8Array[]): Uint8Array {
  if (seeds.length === 0) throw new CodecError('bad-value', 'signLedgerTx needs the signer seed');
  const signerKey = crypto.ed25519PublicKey(seeds[0]!);
  if (compareBytes(signerKey, tx.signer) !== 0) throw new CodecError('bad-value', 'seeds[0] is not the key of tx.signer');
  const message = ledgerSigningMessage(encodeLedgerTxBody(tx));
  const cosignatures: Cosignature[] = seeds.slice(1).map((s) => ({ publicKey: crypto.ed25519PublicKey(s), signature: crypto.ed25519Sign(s, message) }));
  cosignatures.sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  return encodeLedgerTx({ ...tx, signature: crypto.ed25519Sign(seeds[0]!, message), cosignatures });
}

/** One account's signing key with builders for the single-signer transaction kinds. */
export class LedgerWallet {
  readonly publicKey: Uint8Array;

  constructor(
    private readonly crypto: LedgerSigning,
    private readonly seed32: Uint8Array,
  ) {
    this.publicKey = crypto.ed25519PublicKey(seed32);
  }

  /** Legs from this account. */
  transfer(o: { chainId: string; nonce: number; legs: readonly { to: Uint8Array; asset: string; amount: bigint }[] }): Uint8Array {
    const legs = o.legs.map((l) => ({ from: this.publicKey, to: l.to, asset: l.asset, amount: l.amount }));
    return signLedgerTx(this.crypto, { chainId: o.chainId, signer: this.publicKey, nonce: o.nonce, body: { kind: 'transfer', legs } }, [this.seed32]);
  }

  mint(o: { chainId: string; nonce: number; legs: readonly MintLeg[] }): Uint8Array {
    return signLedgerTx(this.crypto, { chainId: o.chainId, signer: this.publicKey, nonce: o.nonce, body: { kind: 'mint', legs: o.legs } }, [this.seed32]);
  }

  burn(o: { chainId: string; nonce: number; legs: readonly BurnLeg[] }): Uint8Array {
    return signLedgerTx(this.crypto, { chainId: o.chainId, signer: this.publicKey, nonce: o.nonce, body: { kind: 'burn', legs: o.legs } }, [this.seed32]);
  }

  configure(o: { chainId: string; nonce: number; account: Uint8Array; limits: readonly LimitSetting[] }): Uint8Array {
    const limits = [...o.limits].sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
    return signLedgerTx(this.crypto, { chainId: o.chainId, signer: this.publicKey, nonce: o.nonce, body: { kind: 'configure', account: o.account, limits } }, [this.seed32]);
  }
}
