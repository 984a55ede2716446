// Client side of the auction: build the open, the sealed commit and its reveal (tests, the CLI,
// the node's round routes).
//
//   const bidder = new AuctionBidder(crypto, seed32);
//   const open = bidder.open({ chainId, nonce });                       // roundId: open.roundId
//   const sealed = bidder.seal({ chainId, nonce: nonce + 1, roundId, bundleId: 'b-1', bid: 100n,
//                                priorityPpm: 850_000, salt: random32, txs: [ledgerTxBytes] });
//   submit sealed.commit during BidCollection; keep sealed.reveal (it shows the bundle) and submit
//   it once the round is in BidEvaluation (a reveal before that is rejected: collection_open).
//
// The bundle's own transactions are ordinary signed ledger transactions with their own nonces;
// they execute at settlement, after the commit (which consumed one nonce of the bidder) and the
// reveal (which consumes none), so a bidder's own transactions in the bundle start at the nonce
// after the commit's, and the bidder must not use those nonces elsewhere before settlement.

import type { CryptoBackend } from '../../crypto/backend.js';
import { ledgerSigningMessage } from '../ledger/tx.js';
import { auctionCommitment, auctionRoundId, encodeAuctionCommitBody, encodeAuctionOpenBody, encodeAuctionReveal, encodeRevealPayload, withSignature, type RevealPayload } from './tx.js';

/** What an auction bidder needs of a CryptoBackend. */
export type AuctionSigning = Pick<CryptoBackend, 'ed25519PublicKey' | 'ed25519Sign' | 'blake3'>;

export interface SealedBid {
  /** The signed commit op (submit during BidCollection). */
  readonly commit: Uint8Array;
  /** The reveal op (submit during BidEvaluation; keep it secret until then). */
  readonly reveal: Uint8Array;
  readonly commitment: Uint8Array;
}

export class AuctionBidder {
  readonly publicKey: Uint8Array;

  constructor(
    private readonly crypto: AuctionSigning,
    private readonly seed32: Uint8Array,
  ) {
    this.publicKey = crypto.ed25519PublicKey(seed32);
  }

  /** A signed open; the round it creates is `roundId`. */
  open(o: { chainId: string; nonce: number }): { readonly op: Uint8Array; readonly roundId: Uint8Array } {
    const body = encodeAuctionOpenBody({ chainId: o.chainId, signer: this.publicKey, nonce: o.nonce });
    return { op: withSignature(body, this.crypto.ed25519Sign(this.seed32, ledgerSigningMessage(body))), roundId: auctionRoundId(this.crypto, this.publicKey, o.nonce) };
  }

  /** The commit (signed, carrying only the hash) and the matching reveal. */
  seal(o: { chainId: string; nonce: number } & RevealPayload): SealedBid {
    const payload: RevealPayload = { roundId: o.roundId, bundleId: o.bundleId, bid: o.bid, priorityPpm: o.priorityPpm, salt: o.salt, txs: o.txs };
    const commitment = auctionCommitment(this.crypto, this.publicKey, encodeRevealPayload(payload));
    const body = encodeAuctionCommitBody({ chainId: o.chainId, signer: this.publicKey, nonce: o.nonce, roundId: o.roundId, commitment });
    return {
      commit: withSignature(body, this.crypto.ed25519Sign(this.seed32, ledgerSigningMessage(body))),
      reveal: encodeAuctionReveal({ chainId: o.chainId, signer: this.publicKey, payload }),
      commitment,
    };
  }
}
