// The ledger app as a replicated state machine, in-process (issue 12 §2):
//   node examples/ledger.mjs
// Two instances (two "validators") start from one genesis, execute the same signed
// transactions, and end with the same balances and the same state digest. A replayed
// transaction and an overdraft are rejected with a reason, never a crash.
import { LedgerApp, LedgerWallet, parseGenesis, toHex } from '@bpci/core';
import { nodeJsBackend } from '@bpci/node';

const crypto = nodeJsBackend();
const wallet = (label) => new LedgerWallet(crypto, crypto.blake3(new TextEncoder().encode(`example/${label}`)));
const alice = wallet('alice');
const bob = wallet('bob');
const authority = wallet('authority');
const key = (w) => `ed25519:${toHex(w.publicKey)}`;
const genesis = parseGenesis({
  chain_id: 'bpci-example',
  assets: ['GEN', 'NEX', 'FLX', 'AUR'],
  mint_authority: key(authority),
  accounts: [
    { public_key: key(alice), balances: { GEN: '100', NEX: '5' } },
    { public_key: key(bob), balances: {} },
  ],
});
const validators = [new LedgerApp({ crypto, genesis }), new LedgerApp({ crypto, genesis })];

const chainId = 'bpci-example';
const pay = alice.transfer({ chainId, nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 30n }, { to: bob.publicKey, asset: 'NEX', amount: 5n }] });
const ops = [
  pay,
  pay, // the same bytes again: a replay
  alice.transfer({ chainId, nonce: 1, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 1000n }] }), // more than alice has
  bob.transfer({ chainId, nonce: 0, legs: [{ to: alice.publicKey, asset: 'GEN', amount: 10n }] }),
];
const results = validators.map((v) => v.execute(ops).map((r) => new TextDecoder().decode(r)));
for (const [i, r] of results[0].entries()) console.log(`tx ${i}: ${r}`);
const same = JSON.stringify(results[0]) === JSON.stringify(results[1]) && toHex(validators[0].digest()) === toHex(validators[1].digest());
console.log(`alice GEN ${validators[0].balance(alice.publicKey, 'GEN')}, bob GEN ${validators[0].balance(bob.publicKey, 'GEN')}, bob NEX ${validators[0].balance(bob.publicKey, 'NEX')}`);
console.log(`both validators agree (results and state digest ${toHex(validators[0].digest()).slice(0, 16)}...): ${same}`);
if (!same) process.exit(1);
