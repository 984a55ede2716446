// The ledger application's rules (apps/ledger): transfers, atomic multi-leg transfers, nonces,
// signatures, funds, limits, mint/burn, conservation under a seeded random sequence,
// determinism across instances, snapshots, malformed bytes and genesis validation.
import { describe, expect, it } from 'vitest';
import {
  LEDGER_CLOCK_OP,
  isLedgerClockOp,
  LedgerApp,
  LedgerWallet,
  LEDGER_LIMITS,
  LEDGER_REASONS,
  GenesisError,
  decodeLedgerTx,
  encodeLedgerTx,
  parseGenesis,
  parseOutcome,
  signLedgerTx,
  toHex,
  verifyLedgerAccountProof,
  type Genesis,
  type LedgerResultCode,
} from '../src/index.js';
import { CodecError } from '../src/codec/wire.js';
import { Prng } from '../src/testing/prng.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';

const crypto = nodeEd25519Backend();
const CHAIN = 'bpci-test';
const seedOf = (label: string): Uint8Array => crypto.blake3(new TextEncoder().encode(`ledger-test/${label}`));
const wallet = (label: string): LedgerWallet => new LedgerWallet(crypto, seedOf(label));
const key = (w: LedgerWallet): string => `ed25519:${toHex(w.publicKey)}`;

const alice = wallet('alice');
const bob = wallet('bob');
const carol = wallet('carol');
const mallory = wallet('mallory');
const authority = wallet('authority');

function genesisDoc(extra: { limits?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    chain_id: CHAIN,
    assets: ['GEN', 'NEX', 'FLX', 'AUR'],
    mint_authority: key(authority),
    accounts: [
      { public_key: key(alice), balances: { GEN: '1000', NEX: 50 }, ...(extra.limits ? { limits: extra.limits } : {}) },
      { public_key: key(bob), balances: { GEN: '10', FLX: '7' } },
      { public_key: key(carol), balances: {} },
    ],
  };
}
const genesis = (extra?: { limits?: Record<string, unknown> }): Genesis => parseGenesis(genesisDoc(extra));
const newApp = (g: Genesis = genesis()): LedgerApp => new LedgerApp({ crypto, genesis: g });

/** Executes ops and returns each result's reason code. */
function run(app: LedgerApp, ...ops: Uint8Array[]): LedgerResultCode[] {
  return app.execute(ops).map((r) => {
    const o = parseOutcome(new TextDecoder().decode(r));
    if (!o) throw new Error(`not a ledger result: ${new TextDecoder().decode(r)}`);
    return o.code;
  });
}
const flip = (b: Uint8Array, i: number, bit: number): void => {
  b[i] = b[i]! ^ (1 << bit);
};
const text = (app: LedgerApp, op: Uint8Array): string => new TextDecoder().decode(app.execute([op])[0]!);

const pay = (from: LedgerWallet, nonce: number, to: LedgerWallet, amount: bigint, asset = 'GEN'): Uint8Array =>
  from.transfer({ chainId: CHAIN, nonce, legs: [{ to: to.publicKey, asset, amount }] });

describe('ledger: transfers', () => {
  it('a valid transfer moves the amount and advances the nonce', () => {
    const app = newApp();
    expect(run(app, pay(alice, 0, bob, 100n))).toEqual(['ok']);
    expect(app.balance(alice.publicKey, 'GEN')).toBe(900n);
    expect(app.balance(bob.publicKey, 'GEN')).toBe(110n);
    expect(app.account(alice.publicKey)!.nonce).toBe(1);
    expect(app.account(bob.publicKey)!.nonce).toBe(0);
    app.assertInvariants();
  });

  it('multi-leg: one failing leg applies no leg, and says which leg', () => {
    const app = newApp();
    const before = app.snapshot();
    const tx = alice.transfer({
      chainId: CHAIN,
      nonce: 0,
      legs: [
        { to: bob.publicKey, asset: 'GEN', amount: 100n },
        { to: carol.publicKey, asset: 'NEX', amount: 51n }, // alice has 50 NEX
      ],
    });
    expect(text(app, tx)).toMatch(/^insufficient_funds: legs\[1\]: .* has 50 NEX, the leg needs 51$/);
    expect(app.balance(bob.publicKey, 'GEN')).toBe(10n);
    expect(app.balance(alice.publicKey, 'GEN')).toBe(1000n);
    // Only the nonce moved (an authentic, in-order transaction consumes it).
    expect(app.account(alice.publicKey)!.nonce).toBe(1);
    const restored = newApp();
    restored.restore(before);
    expect(run(restored, pay(alice, 0, bob, 1n))).toEqual(['ok']);
  });

  it('multi-leg legs apply in order: a later leg may spend what an earlier one brought', () => {
    const app = newApp();
    // alice -> carol 5 GEN, then carol -> bob 5 GEN, co-signed by carol (a settlement chain).
    const tx = signLedgerTx(
      crypto,
      {
        chainId: CHAIN,
        signer: alice.publicKey,
        nonce: 0,
        body: {
          kind: 'transfer',
          legs: [
            { from: alice.publicKey, to: carol.publicKey, asset: 'GEN', amount: 5n },
            { from: carol.publicKey, to: bob.publicKey, asset: 'GEN', amount: 5n },
          ],
        },
      },
      [seedOf('alice'), seedOf('carol')],
    );
    expect(run(app, tx)).toEqual(['ok']);
    expect([app.balance(alice.publicKey, 'GEN'), app.balance(carol.publicKey, 'GEN'), app.balance(bob.publicKey, 'GEN')]).toEqual([995n, 0n, 15n]);
    expect(app.account(carol.publicKey)!.nonce).toBe(0); // a co-signer's nonce is not consumed
  });

  it('a swap needs every source to sign: a missing co-signer is unauthorized, a forged one bad_signature', () => {
    const app = newApp();
    const body = {
      kind: 'transfer' as const,
      legs: [
        { from: alice.publicKey, to: bob.publicKey, asset: 'GEN', amount: 10n },
        { from: bob.publicKey, to: alice.publicKey, asset: 'FLX', amount: 7n },
      ],
    };
    const unsigned = { chainId: CHAIN, signer: alice.publicKey, nonce: 0, body };
    expect(text(app, signLedgerTx(crypto, unsigned, [seedOf('alice')]))).toMatch(/^unauthorized: legs\[1\] spends from .*, which did not sign$/);
    const good = signLedgerTx(crypto, unsigned, [seedOf('alice'), seedOf('bob')]);
    const forged = decodeLedgerTx(good);
    const badCo = encodeLedgerTx({ ...forged, cosignatures: [{ publicKey: bob.publicKey, signature: signLedgerTx(crypto, unsigned, [seedOf('alice'), seedOf('mallory')]).slice(-64) }] });
    expect(run(app, badCo)).toEqual(['bad_signature']);
    expect(run(app, good)).toEqual(['ok']);
    expect(app.balance(alice.publicKey, 'FLX')).toBe(7n);
    expect(app.balance(bob.publicKey, 'GEN')).toBe(20n);
  });

  it('a transfer to an account that does not exist is unknown_account and costs nothing', () => {
    const app = newApp();
    expect(text(app, pay(alice, 0, mallory, 1n))).toMatch(/^unknown_account: legs\[0\]\.to /);
    expect(app.account(alice.publicKey)!.nonce).toBe(0);
    expect(run(app, pay(mallory, 0, alice, 1n))).toEqual(['unknown_account']);
    expect(run(app, pay(alice, 0, bob, 1n, 'XYZ'))).toEqual(['unknown_asset']);
  });

  it('insufficient funds is rejected, and no balance goes negative', () => {
    const app = newApp();
    expect(text(app, pay(bob, 0, alice, 11n))).toMatch(/^insufficient_funds: legs\[0\]: .* has 10 GEN, the leg needs 11$/);
    expect(app.balance(bob.publicKey, 'GEN')).toBe(10n);
    expect(run(app, pay(bob, 1, alice, 10n))).toEqual(['ok']);
    expect(app.balance(bob.publicKey, 'GEN')).toBe(0n);
  });
});

describe('ledger: nonces and signatures', () => {
  it('a replay, a second spend of a nonce and a nonce gap are bad_nonce; the state is untouched', () => {
    const app = newApp();
    const tx = pay(alice, 0, bob, 100n);
    expect(run(app, tx)).toEqual(['ok']);
    const after = app.snapshot();
    expect(text(app, tx)).toMatch(/^bad_nonce: nonce 0 of [0-9a-f]{64} is already used; the next nonce is 1$/); // replay
    expect(run(app, pay(alice, 0, carol, 100n))).toEqual(['bad_nonce']); // another spend of nonce 0
    expect(text(app, pay(alice, 5, carol, 1n))).toMatch(/is ahead; the next nonce is 1$/); // gap
    expect(app.snapshot()).toEqual(after);
    expect(run(app, pay(alice, 1, carol, 1n))).toEqual(['ok']);
  });

  it('the same nonce twice in one batch: exactly one takes effect', () => {
    const app = newApp();
    expect(run(app, pay(alice, 0, bob, 600n), pay(alice, 0, carol, 600n))).toEqual(['ok', 'bad_nonce']);
    expect(app.balance(alice.publicKey, 'GEN')).toBe(400n);
    expect(app.balance(carol.publicKey, 'GEN')).toBe(0n);
  });

  it('a bad signature is rejected without consuming the nonce', () => {
    const app = newApp();
    const tx = pay(alice, 0, bob, 1n);
    const bad = tx.slice();
    flip(bad, bad.length - 2, 0); // inside the signer's signature (the last byte is the co-signer count)
    expect(text(app, bad)).toMatch(/^bad_signature: the signer's signature does not verify/);
    // mallory signs a transfer from alice's account with her own key
    const stolen = decodeLedgerTx(pay(mallory, 0, bob, 1n));
    const asAlice = encodeLedgerTx({ ...stolen, signer: alice.publicKey, body: { kind: 'transfer', legs: [{ from: alice.publicKey, to: bob.publicKey, asset: 'GEN', amount: 1n }] } });
    expect(run(app, asAlice)).toEqual(['bad_signature']);
    expect(app.account(alice.publicKey)!.nonce).toBe(0);
    expect(run(app, tx)).toEqual(['ok']);
  });

  it('a transaction for another chain is wrong_chain', () => {
    const app = newApp();
    expect(run(app, alice.transfer({ chainId: 'other-chain', nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 1n }] }))).toEqual(['wrong_chain']);
  });
});

describe('ledger: limits, mint, burn', () => {
  it('a per-transaction maximum counts every leg of the transaction from that account', () => {
    const app = newApp(genesis({ limits: { GEN: { per_tx_max: '100' } } }));
    const two = alice.transfer({ chainId: CHAIN, nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 60n }, { to: carol.publicKey, asset: 'GEN', amount: 41n }] });
    expect(text(app, two)).toBe(`limit_exceeded: ${toHex(alice.publicKey)} sends 101 GEN in this transaction; its per-transaction maximum is 100`);
    expect(run(app, pay(alice, 1, bob, 100n), pay(alice, 2, bob, 50n, 'NEX'))).toEqual(['ok', 'ok']);
  });

  it('an outflow allowance is spent down and renewed by the authority', () => {
    const app = newApp(genesis({ limits: { GEN: { outflow_max: 150 } } }));
    expect(run(app, pay(alice, 0, bob, 100n), pay(alice, 1, bob, 51n), pay(alice, 2, bob, 50n))).toEqual(['ok', 'limit_exceeded', 'ok']);
    expect(app.account(alice.publicKey)!.assets.find((a) => a.asset === 'GEN')!.outflowLeft).toBe(0n);
    const renew = authority.configure({ chainId: CHAIN, nonce: 0, account: alice.publicKey, limits: [{ asset: 'GEN', perTxMax: null, outflowMax: 10n }] });
    expect(run(app, renew, pay(alice, 3, bob, 10n), pay(alice, 4, bob, 1n))).toEqual(['ok', 'ok', 'limit_exceeded']);
    const lift = authority.configure({ chainId: CHAIN, nonce: 1, account: alice.publicKey, limits: [{ asset: 'GEN', perTxMax: null, outflowMax: null }] });
    expect(run(app, lift, pay(alice, 5, bob, 500n))).toEqual(['ok', 'ok']);
    app.assertInvariants();
  });

  it('only the authority mints and configures; a mint opens accounts and raises the supply', () => {
    const app = newApp();
    expect(run(app, alice.mint({ chainId: CHAIN, nonce: 0, legs: [{ to: alice.publicKey, asset: 'GEN', amount: 5n }] }))).toEqual(['unauthorized']);
    expect(run(app, alice.configure({ chainId: CHAIN, nonce: 0, account: alice.publicKey, limits: [] }))).toEqual(['unauthorized']);
    const supply = () => app.info.supply.find((s) => s.asset === 'AUR')!.supply;
    expect(supply()).toBe(0n);
    expect(run(app, authority.mint({ chainId: CHAIN, nonce: 0, legs: [{ to: mallory.publicKey, asset: 'AUR', amount: 42n }] }))).toEqual(['ok']);
    expect(supply()).toBe(42n);
    expect(app.balance(mallory.publicKey, 'AUR')).toBe(42n);
    // mallory's account now exists and can spend
    expect(run(app, pay(mallory, 0, bob, 2n, 'AUR'))).toEqual(['ok']);
    const over = authority.mint({ chainId: CHAIN, nonce: 1, legs: [{ to: bob.publicKey, asset: 'AUR', amount: LEDGER_LIMITS.amountMax }] });
    expect(run(app, over)).toEqual(['overflow']);
    expect(supply()).toBe(42n);
  });

  it('a burn takes from the holder and lowers the supply; never below zero', () => {
    const app = newApp();
    expect(run(app, bob.burn({ chainId: CHAIN, nonce: 0, legs: [{ asset: 'FLX', amount: 8n }] }))).toEqual(['insufficient_funds']);
    expect(run(app, bob.burn({ chainId: CHAIN, nonce: 1, legs: [{ asset: 'FLX', amount: 3n }, { asset: 'FLX', amount: 4n }] }))).toEqual(['ok']);
    expect(app.info.supply.find((s) => s.asset === 'FLX')!.supply).toBe(0n);
    app.assertInvariants();
  });

  it('a ledger without a mint authority refuses mints', () => {
    const doc = genesisDoc();
    delete doc.mint_authority;
    const app = newApp(parseGenesis(doc));
    expect(text(app, authority.mint({ chainId: CHAIN, nonce: 0, legs: [{ to: alice.publicKey, asset: 'GEN', amount: 1n }] }))).toMatch(/^unauthorized: this ledger has no mint authority/);
  });
});

describe('ledger: determinism, conservation, snapshots', () => {
  /** A seeded random workload: valid and invalid transfers, replays, mints, burns, garbage. */
  function randomOps(seed: number, count: number): Uint8Array[] {
    const prng = new Prng(seed);
    const people = [alice, bob, carol, mallory];
    const seeds = ['alice', 'bob', 'carol', 'mallory'].map(seedOf);
    const nonces = [0, 0, 0, 0];
    let authNonce = 0;
    const sent: Uint8Array[] = [];
    const ops: Uint8Array[] = [];
    const assets = ['GEN', 'NEX', 'FLX', 'AUR'];
    for (let i = 0; i < count; i++) {
      const roll = prng.int(0, 99);
      const s = prng.int(0, 3);
      if (roll < 55) {
        const legs = Array.from({ length: prng.int(1, 3) }, () => {
          let t = prng.int(0, 3);
          if (t === s) t = (t + 1) % 4;
          return { to: people[t]!.publicKey, asset: prng.pick(assets), amount: BigInt(prng.int(1, 400)) };
        });
        // Sometimes a stale or future nonce.
        const nonce = prng.chance(0.1) ? Math.max(0, nonces[s]! + prng.int(-2, 2)) : nonces[s]!++;
        ops.push(people[s]!.transfer({ chainId: CHAIN, nonce, legs }));
      } else if (roll < 65) {
        const t = (s + 1) % 4;
        ops.push(
          signLedgerTx(
            crypto,
            {
              chainId: CHAIN,
              signer: people[s]!.publicKey,
              nonce: nonces[s]!++,
              body: {
                kind: 'transfer',
                legs: [
                  { from: people[s]!.publicKey, to: people[t]!.publicKey, asset: prng.pick(assets), amount: BigInt(prng.int(1, 300)) },
                  { from: people[t]!.publicKey, to: people[s]!.publicKey, asset: prng.pick(assets), amount: BigInt(prng.int(1, 300)) },
                ],
              },
            },
            [seeds[s]!, seeds[t]!],
          ),
        );
      } else if (roll < 72) {
        ops.push(authority.mint({ chainId: CHAIN, nonce: authNonce++, legs: [{ to: people[s]!.publicKey, asset: prng.pick(assets), amount: BigInt(prng.int(1, 1000)) }] }));
      } else if (roll < 78) {
        ops.push(people[s]!.burn({ chainId: CHAIN, nonce: nonces[s]!++, legs: [{ asset: prng.pick(assets), amount: BigInt(prng.int(1, 200)) }] }));
      } else if (roll < 88 && sent.length > 0) {
        ops.push(prng.pick(sent)); // a replay
      } else if (roll < 94) {
        ops.push(prng.bytes(prng.int(0, 200))); // garbage
      } else {
        const t = pay(people[s]!, nonces[s]!, people[(s + 1) % 4]!, 1n);
        flip(t, prng.int(0, t.length - 1), prng.int(0, 7)); // a flipped bit somewhere
        ops.push(t);
      }
      sent.push(ops[ops.length - 1]!);
    }
    return ops;
  }

  const supplyOf = (app: LedgerApp) => new Map(app.info.supply.map((s) => [s.asset, s.supply]));

  for (const seed of [1, 2, 3, 0xbeef]) {
    it(`seed ${seed}: supply changes only by mint and burn; one success per (account, nonce); no negative balance`, () => {
      const app = newApp();
      const ops = randomOps(seed, 300);
      const codes: string[] = [];
      // In batches of varying size, as consensus would deliver them.
      const prng = new Prng(seed ^ 0x5eed);
      for (let i = 0; i < ops.length; ) {
        const n = prng.int(1, 12);
        const batch = ops.slice(i, i + n);
        const before = supplyOf(app);
        const res = app.execute(batch).map((r) => parseOutcome(new TextDecoder().decode(r))!);
        // Expected supply after: before + ok mints - ok burns.
        const expected = new Map(before);
        res.forEach((o, k) => {
          codes.push(o.code);
          if (o.code !== 'ok') return;
          const tx = decodeLedgerTx(batch[k]!);
          if (tx.body.kind === 'mint') for (const l of tx.body.legs) expected.set(l.asset, expected.get(l.asset)! + l.amount);
          if (tx.body.kind === 'burn') for (const l of tx.body.legs) expected.set(l.asset, expected.get(l.asset)! - l.amount);
        });
        expect(supplyOf(app)).toEqual(expected);
        app.assertInvariants(); // sum of balances = supply, nothing negative
        i += n;
      }
      // Exactly one success per (signer, nonce).
      const wins = new Set<string>();
      ops.forEach((op, k) => {
        if (codes[k] !== 'ok') return;
        const tx = decodeLedgerTx(op);
        const id = `${toHex(tx.signer)}#${tx.nonce}`;
        expect(wins.has(id)).toBe(false);
        wins.add(id);
      });
      // The workload exercised the interesting paths.
      for (const c of ['ok', 'bad_nonce', 'insufficient_funds', 'malformed', 'bad_signature'] as const) expect(codes).toContain(c);
      for (const c of codes) expect(['ok', ...LEDGER_REASONS]).toContain(c);
    });
  }

  it('two instances fed the same ops give identical results, snapshots and digests', () => {
    const a = newApp();
    const b = newApp();
    const ops = randomOps(7, 200);
    for (let i = 0; i < ops.length; i += 10) {
      const ra = a.execute(ops.slice(i, i + 10));
      const rb = b.execute(ops.slice(i, i + 10));
      expect(rb).toEqual(ra);
      expect(b.digest()).toEqual(a.digest());
    }
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it('snapshot/restore round trip: the restored ledger is byte-equal and behaves the same', () => {
    const a = newApp(genesis({ limits: { GEN: { per_tx_max: 500, outflow_max: '900' }, NEX: { per_tx_max: 0 } } }));
    const ops = randomOps(11, 150);
    a.execute(ops.slice(0, 100));
    const snap = a.snapshot();
    const b = newApp(parseGenesis({ chain_id: 'another', assets: ['ZZ'] })); // restore replaces everything
    b.restore(snap);
    expect(b.snapshot()).toEqual(snap);
    expect(b.digest()).toEqual(a.digest());
    expect(b.execute(ops.slice(100))).toEqual(a.execute(ops.slice(100)));
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it('restore rejects damaged snapshots with a CodecError and keeps the state', () => {
    const a = newApp();
    a.execute([pay(alice, 0, bob, 5n)]);
    const snap = a.snapshot();
    const before = a.snapshot();
    const prng = new Prng(99);
    for (let i = 0; i < 300; i++) {
      const bad = snap.slice(0, prng.int(0, snap.length));
      if (prng.chance(0.5) && bad.length > 0) flip(bad, prng.int(0, bad.length - 1), prng.int(0, 7));
      const extended = prng.chance(0.2) ? Uint8Array.from([...bad, 0]) : bad;
      let threw: unknown;
      try {
        a.restore(extended);
      } catch (e) {
        threw = e;
      }
      if (threw === undefined) {
        // A mutation that still decodes must be a canonical ledger (e.g. a changed nonce byte).
        expect(a.snapshot()).toEqual(extended);
        a.restore(before);
      } else expect(threw).toBeInstanceOf(CodecError);
    }
    expect(a.snapshot()).toEqual(before);
    // A balance changed without the supply: caught by the supply check.
    // alice's GEN entry: "GEN" then u64 995 (big-endian).
    const needle = [3, 71, 69, 78, 0, 0, 0, 0, 0, 0, 0x03, 0xe3];
    const at = snap.findIndex((_, i) => needle.every((x, k) => snap[i + k] === x));
    expect(at).toBeGreaterThan(0);
    const tampered = snap.slice();
    flip(tampered, at + needle.length - 1, 0);
    expect(() => a.restore(tampered)).toThrow(/GEN supply 1010 != sum of balances/);
  });
});

describe('ledger: malformed bytes', () => {
  it('every kind of malformed op gets a "malformed" result with a message, never an exception', () => {
    const app = newApp();
    const good = pay(alice, 0, bob, 1n);
    const cases: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      'bad version': Uint8Array.from([9, ...good.subarray(1)]),
      'bad kind': Uint8Array.from([1, 7, ...good.subarray(2)]),
      truncated: good.subarray(0, good.length - 10),
      'trailing byte': Uint8Array.from([...good, 0]),
      'zero legs': (() => {
        const t = good.slice();
        t[2 + 1 + CHAIN.length + 32 + 8] = 0;
        return t;
      })(),
      'too many legs': (() => {
        const t = good.slice();
        t[2 + 1 + CHAIN.length + 32 + 8] = LEDGER_LIMITS.legsMax + 1;
        return t;
      })(),
      'text op (kv app)': new TextEncoder().encode('add alice 5'),
      'huge length prefix': Uint8Array.from([1, 1, 255, ...new Uint8Array(40)]),
    };
    // A zero amount and a self-transfer cannot be encoded, so craft them by hand.
    const legAt = 2 + 1 + CHAIN.length + 32 + 8 + 1;
    const zero = good.slice();
    zero.fill(0, legAt + 64 + 4, legAt + 64 + 4 + 8);
    cases['zero amount'] = zero;
    const self = good.slice();
    self.set(alice.publicKey, legAt + 32);
    cases['self transfer'] = self;
    const lower = good.slice();
    lower[legAt + 64 + 1] = 'g'.charCodeAt(0);
    cases['lower-case asset'] = lower;
    for (const [name, bytes] of Object.entries(cases)) {
      const r = text(app, bytes);
      expect(r, name).toMatch(/^malformed: ./);
    }
    expect(() => decodeLedgerTx(good.subarray(0, 5))).toThrow(CodecError);
    expect(app.account(alice.publicKey)!.nonce).toBe(0);
    // Every prefix and every single-bit flip: a result, never a throw, and the state only changes on ok.
    for (let n = 0; n < good.length; n++) expect(run(newApp(), good.subarray(0, n))).toEqual(['malformed']);
    const prng = new Prng(5);
    for (let i = 0; i < 200; i++) {
      const t = good.slice();
      flip(t, prng.int(0, t.length - 1), prng.int(0, 7));
      const fresh = newApp();
      const [code] = run(fresh, t);
      expect(['malformed', 'bad_signature', 'wrong_chain', 'unauthorized', 'unknown_account', 'unknown_asset', 'bad_nonce']).toContain(code);
    }
  });

  it('fuzz: every mutation of every kind either decodes to a canonical tx (re-encodes to the same bytes) or throws CodecError', () => {
    const samples = [
      pay(alice, 3, bob, 9n),
      signLedgerTx(
        crypto,
        { chainId: CHAIN, signer: alice.publicKey, nonce: 1, body: { kind: 'transfer', legs: [{ from: alice.publicKey, to: bob.publicKey, asset: 'GEN', amount: 1n }, { from: bob.publicKey, to: carol.publicKey, asset: 'NEX', amount: 2n }] } },
        [seedOf('alice'), seedOf('bob')],
      ),
      authority.mint({ chainId: CHAIN, nonce: 0, legs: [{ to: carol.publicKey, asset: 'AUR', amount: 5n }] }),
      bob.burn({ chainId: CHAIN, nonce: 0, legs: [{ asset: 'FLX', amount: 1n }] }),
      authority.configure({ chainId: CHAIN, nonce: 2, account: bob.publicKey, limits: [{ asset: 'GEN', perTxMax: 5n, outflowMax: null }, { asset: 'NEX', perTxMax: null, outflowMax: 0n }] }),
    ];
    const prng = new Prng(0xf022);
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      const base = prng.pick(samples);
      let t: Uint8Array;
      switch (prng.int(0, 3)) {
        case 0:
          t = base.slice();
          flip(t, prng.int(0, t.length - 1), prng.int(0, 7));
          break;
        case 1:
          t = base.slice();
          t[prng.int(0, t.length - 1)] = prng.pick([0, 1, 2, 3, 4, 5, 16, 127, 128, 255]);
          break;
        case 2:
          t = Uint8Array.from([...base.subarray(0, prng.int(0, base.length)), ...prng.bytes(prng.int(0, 40))]);
          break;
        default:
          t = prng.bytes(prng.int(0, 300));
      }
      try {
        const d = decodeLedgerTx(t);
        expect(encodeLedgerTx(d)).toEqual(t);
        decoded++;
      } catch (e) {
        expect(e, `input ${toHex(t)}`).toBeInstanceOf(CodecError);
      }
    }
    expect(decoded).toBeGreaterThan(100); // flips inside signatures, keys and amounts still decode
  });

  it('the encoder refuses what the decoder would refuse', () => {
    expect(() => alice.transfer({ chainId: CHAIN, nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 0n }] })).toThrow(CodecError);
    expect(() => alice.transfer({ chainId: CHAIN, nonce: 0, legs: [{ to: alice.publicKey, asset: 'GEN', amount: 1n }] })).toThrow(/same account/);
    expect(() => alice.transfer({ chainId: CHAIN, nonce: 0, legs: [] })).toThrow(CodecError);
    expect(() => alice.transfer({ chainId: 'has space', nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: 1n }] })).toThrow(CodecError);
    expect(() => alice.transfer({ chainId: CHAIN, nonce: 0, legs: [{ to: bob.publicKey, asset: 'GEN', amount: LEDGER_LIMITS.amountMax + 1n }] })).toThrow(CodecError);
    // Round trip of a valid one.
    const t = pay(alice, 3, bob, 9n);
    expect(encodeLedgerTx(decodeLedgerTx(t))).toEqual(t);
  });
});

describe('ledger: genesis validation', () => {
  const bad = (patch: (d: Record<string, any>) => void): string => {
    const d = genesisDoc() as Record<string, any>;
    patch(d);
    try {
      parseGenesis(d);
    } catch (e) {
      expect(e).toBeInstanceOf(GenesisError);
      return (e as Error).message;
    }
    throw new Error('accepted a bad genesis');
  };

  it('names the key, what was expected and what was found', () => {
    expect(bad((d) => (d.chain_id = 'no spaces please'))).toBe('genesis key "chain_id": expected a chain id of 1..64 letters, digits, ".", "_" or "-", got "no spaces please"');
    expect(bad((d) => (d.assets = ['GEN', 'gen']))).toMatch(/^genesis key "assets\[1\]": expected an asset symbol/);
    expect(bad((d) => (d.assets = ['GEN', 'GEN']))).toBe('genesis key "assets[1]": expected a symbol not listed before, got "GEN"');
    expect(bad((d) => (d.assets = []))).toMatch(/^genesis key "assets": expected a list of 1\.\.8 asset symbols/);
    expect(bad((d) => (d.accounts[1].balances.GEN = '-5'))).toMatch(/^genesis key "accounts\[1\]\.balances\.GEN": expected an integer amount/);
    expect(bad((d) => (d.accounts[1].balances.GEN = 1.5))).toMatch(/accounts\[1\]\.balances\.GEN/);
    expect(bad((d) => (d.accounts[1].balances.GEN = '0010'))).toMatch(/accounts\[1\]\.balances\.GEN/);
    expect(bad((d) => (d.accounts[1].balances.XYZ = '1'))).toBe('genesis key "accounts[1].balances.XYZ": expected one of the genesis assets (AUR, FLX, GEN, NEX), got "XYZ"');
    expect(bad((d) => (d.accounts[2].public_key = d.accounts[0].public_key))).toMatch(/^genesis key "accounts\[2\]\.public_key": expected a key not used by an earlier account/);
    expect(bad((d) => (d.accounts[0].public_key = 'ed25519:1234'))).toMatch(/expected an Ed25519 public key/);
    expect(bad((d) => (d.accounts[0].balanse = {}))).toMatch(/^genesis key "accounts\[0\]\.balanse": expected no such key/);
    expect(bad((d) => (d.accounts[0].limits = { GEN: { per_tx: 5 } }))).toMatch(/^genesis key "accounts\[0\]\.limits\.GEN\.per_tx": expected no such key/);
    expect(bad((d) => (d.mint_authority = 'alice'))).toMatch(/^genesis key "mint_authority"/);
    expect(bad((d) => (d.accounts[0].balances.GEN = '9223372036854775807'))).toMatch(/total GEN supply <= 2\^63-1/);
  });

  it('accepts numbers and strings, sorts assets and accounts, and gives the authority an account', () => {
    const g = genesis();
    expect(g.assets).toEqual(['AUR', 'FLX', 'GEN', 'NEX']);
    const app = newApp(g);
    expect(app.info.accounts).toBe(4);
    expect(app.account(authority.publicKey)!.nonce).toBe(0);
    expect(app.balance(alice.publicKey, 'NEX')).toBe(50n);
  });
});

describe('ledger: account proofs against the digest (stretch goal)', () => {
  it("proves every account's balances and nonce against digest(); a changed leaf, digest or index fails", () => {
    const app = newApp(genesis({ limits: { GEN: { per_tx_max: 500 } } }));
    app.execute([pay(alice, 0, bob, 7n), authority.mint({ chainId: CHAIN, nonce: 0, legs: [{ to: mallory.publicKey, asset: 'AUR', amount: 3n }] })]);
    const digest = app.digest();
    for (const w of [alice, bob, carol, mallory, authority]) {
      const p = app.accountProof(w.publicKey)!;
      const proven = verifyLedgerAccountProof(digest, p.leaf, p.proof);
      expect(proven, toHex(w.publicKey)).not.toBeNull();
      expect(proven!.publicKey).toEqual(w.publicKey);
      expect(proven!.nonce).toBe(app.account(w.publicKey)!.nonce);
      for (const e of app.account(w.publicKey)!.assets) expect(proven!.entries.find((x) => x.asset === e.asset)?.balance ?? 0n).toBe(e.balance);
    }
    const p = app.accountProof(alice.publicKey)!;
    expect(verifyLedgerAccountProof(digest, p.leaf, p.proof)!.entries.find((e) => e.asset === 'GEN')).toMatchObject({ balance: 993n, perTxMax: 500n });
    const forged = p.leaf.slice();
    flip(forged, forged.length - 10, 0);
    expect(verifyLedgerAccountProof(digest, forged, p.proof)).toBeNull();
    const otherDigest = digest.slice();
    flip(otherDigest, 0, 0);
    expect(verifyLedgerAccountProof(otherDigest, p.leaf, p.proof)).toBeNull();
    expect(verifyLedgerAccountProof(digest, p.leaf, { ...p.proof, index: 0 })).toBeNull();
    expect(verifyLedgerAccountProof(digest, new Uint8Array(0), p.proof)).toBeNull();
    expect(verifyLedgerAccountProof(digest, p.leaf, null as never)).toBeNull();
    expect(app.accountProof(wallet('nobody').publicKey)).toBeUndefined();
    // Any state change moves the digest; an old proof no longer verifies against the new one.
    app.execute([pay(alice, 1, carol, 1n)]);
    expect(verifyLedgerAccountProof(app.digest(), p.leaf, p.proof)).toBeNull();
  });
});

describe('the clock op (issue 12 §3: auction phases on an idle cluster)', () => {
  it('commits as ok and changes nothing in the ledger', () => {
    const app = newApp();
    const before = app.snapshot();
    expect(app.execute([LEDGER_CLOCK_OP]).map((r) => new TextDecoder().decode(r))).toEqual(['ok']);
    expect(app.snapshot()).toEqual(before);
    expect(isLedgerClockOp(LEDGER_CLOCK_OP)).toBe(true);
    expect(isLedgerClockOp(LEDGER_CLOCK_OP.subarray(1))).toBe(false);
  });
});
