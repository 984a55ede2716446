// The ledger's genesis: which chain, which assets, who may mint, and the first accounts.
//
// JSON (or the same shape parsed from YAML):
//   {
//     "chain_id": "bpci-local",
//     "assets": ["GEN", "NEX", "FLX", "AUR"],
//     "mint_authority": "ed25519:<64 hex>",              // optional; absent or null: no minting
//     "accounts": [
//       { "public_key": "ed25519:<64 hex>",
//         "balances": { "GEN": "1000000" },               // decimal string or safe integer
//         "limits": { "GEN": { "per_tx_max": "5000", "outflow_max": "100000" } } }   // optional
//     ]
//   }
//
// `parseGenesis(value)` returns a validated Genesis or throws GenesisError naming the key path
// (e.g. `accounts[3].balances.GEN`), what was expected and what was found. Unknown keys are
// errors (a typo must not silently mean "no limit"). Every validator of a chain must start from
// the same genesis: its digest (the ledger's state digest before any transaction) is logged.

import { LEDGER_LIMITS, CHAIN_ID_RE, SYMBOL_RE } from './limits.js';
import { compareBytes, parseAccountKey, toHex } from './tx.js';

export interface GenesisLimits {
  readonly perTxMax: bigint | null;
  readonly outflowMax: bigint | null;
}

export interface GenesisAccount {
  readonly publicKey: Uint8Array;
  /** Positive balances only, by asset. */
  readonly balances: ReadonlyMap<string, bigint>;
  readonly limits: ReadonlyMap<string, GenesisLimits>;
}

export interface Genesis {
  readonly chainId: string;
  /** Sorted, unique. */
  readonly assets: readonly string[];
  readonly mintAuthority: Uint8Array | null;
  /** Sorted by public key, unique. */
  readonly accounts: readonly GenesisAccount[];
}

export class GenesisError extends Error {
  constructor(
    readonly keyPath: string,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`genesis ${keyPath === '' ? 'document' : `key "${keyPath}"`}: expected ${expected}, got ${describe(got)}`);
    this.name = 'GenesisError';
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'bigint') return `bigint ${v}`;
  return `${typeof v} ${String(v)}`;
}

type Obj = Record<string, unknown>;

function mapping(v: unknown, p: string, allowed: readonly string[] | null): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new GenesisError(p, 'a mapping', v);
  if (allowed) {
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) throw new GenesisError(p === '' ? k : `${p}.${k}`, `no such key (allowed here: ${allowed.join(', ')})`, (v as Obj)[k]);
    }
  }
  return v as Obj;
}

/** A non-negative integer amount: a decimal string (no sign, no leading zeros) or a safe integer. */
export function parseAmount(v: unknown, p: string, min = 0n): bigint {
  const what = `an integer amount ${min}..2^63-1 (a decimal string like "1000", or a safe integer)`;
  let n: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,18})$/.test(v)) n = BigInt(v);
  else if (typeof v === 'bigint') n = v;
  else throw new GenesisError(p, what, v);
  if (n < min || n > LEDGER_LIMITS.amountMax) throw new GenesisError(p, what, v);
  return n;
}

function key(v: unknown, p: string): Uint8Array {
  const k = typeof v === 'string' ? parseAccountKey(v) : undefined;
  if (!k) throw new GenesisError(p, 'an Ed25519 public key "ed25519:<64 hex digits>"', v);
  return k;
}

export function parseGenesis(doc: unknown): Genesis {
  const top = mapping(doc, '', ['chain_id', 'assets', 'mint_authority', 'accounts']);
  const chainId = top.chain_id;
  if (typeof chainId !== 'string' || !CHAIN_ID_RE.test(chainId)) throw new GenesisError('chain_id', 'a chain id of 1..64 letters, digits, ".", "_" or "-"', chainId);

  const assetsRaw = top.assets;
  if (!Array.isArray(assetsRaw) || assetsRaw.length === 0 || assetsRaw.length > LEDGER_LIMITS.assetsMax) {
    throw new GenesisError('assets', `a list of 1..${LEDGER_LIMITS.assetsMax} asset symbols`, assetsRaw);
  }
  const assets: string[] = [];
  assetsRaw.forEach((a: unknown, i: number) => {
    if (typeof a !== 'string' || !SYMBOL_RE.test(a)) throw new GenesisError(`assets[${i}]`, 'an asset symbol of 2..8 capital letters or digits, starting with a letter (e.g. "GEN")', a);
    if (assets.includes(a)) throw new GenesisError(`assets[${i}]`, 'a symbol not listed before', a);
    assets.push(a);
  });
  assets.sort();

  const mintAuthority = top.mint_authority === undefined || top.mint_authority === null ? null : key(top.mint_authority, 'mint_authority');

  const accountsRaw = top.accounts ?? [];
  if (!Array.isArray(accountsRaw) || accountsRaw.length > LEDGER_LIMITS.accountsMax) {
    throw new GenesisError('accounts', `a list of 0..${LEDGER_LIMITS.accountsMax} accounts`, accountsRaw);
  }
  const supply = new Map<string, bigint>(assets.map((a) => [a, 0n]));
  const seen = new Set<string>();
  const accounts: GenesisAccount[] = accountsRaw.map((raw: unknown, i: number) => {
    const p = `accounts[${i}]`;
    const o = mapping(raw, p, ['public_key', 'balances', 'limits']);
    const publicKey = key(o.public_key, `${p}.public_key`);
    const h = toHex(publicKey);
    if (seen.has(h)) throw new GenesisError(`${p}.public_key`, 'a key not used by an earlier account', o.public_key);
    seen.add(h);
    const balances = new Map<string, bigint>();
    for (const [asset, v] of Object.entries(mapping(o.balances ?? {}, `${p}.balances`, null))) {
      if (!supply.has(asset)) throw new GenesisError(`${p}.balances.${asset}`, `one of the genesis assets (${assets.join(', ')})`, asset);
      const n = parseAmount(v, `${p}.balances.${asset}`);
      const total = supply.get(asset)! + n;
      if (total > LEDGER_LIMITS.amountMax) throw new GenesisError(`${p}.balances.${asset}`, `an amount keeping the total ${asset} supply <= 2^63-1`, v);
      supply.set(asset, total);
      if (n > 0n) balances.set(asset, n);
    }
    const limits = new Map<string, GenesisLimits>();
    for (const [asset, v] of Object.entries(mapping(o.limits ?? {}, `${p}.limits`, null))) {
      const lp = `${p}.limits.${asset}`;
      if (!supply.has(asset)) throw new GenesisError(lp, `one of the genesis assets (${assets.join(', ')})`, asset);
      const l = mapping(v, lp, ['per_tx_max', 'outflow_max']);
      if (l.per_tx_max === undefined && l.outflow_max === undefined) throw new GenesisError(lp, 'per_tx_max and/or outflow_max', v);
      limits.set(asset, {
        perTxMax: l.per_tx_max === undefined ? null : parseAmount(l.per_tx_max, `${lp}.per_tx_max`),
        outflowMax: l.outflow_max === undefined ? null : parseAmount(l.outflow_max, `${lp}.outflow_max`),
      });
    }
    return { publicKey, balances, limits };
  });
  accounts.sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  if (mintAuthority && !seen.has(toHex(mintAuthority)) && accounts.length >= LEDGER_LIMITS.accountsMax) {
    throw new GenesisError('accounts', `at most ${LEDGER_LIMITS.accountsMax - 1} accounts besides the mint authority (it gets one for its nonce)`, accountsRaw);
  }
  return { chainId, assets, mintAuthority, accounts };
}

/** The JSON shape of a genesis (what parseGenesis reads): e.g. to write a genesis file. */
export function genesisToJson(g: Genesis): Record<string, unknown> {
  const amounts = (m: ReadonlyMap<string, bigint>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.toString()]));
  return {
    chain_id: g.chainId,
    assets: [...g.assets],
    ...(g.mintAuthority ? { mint_authority: `ed25519:${toHex(g.mintAuthority)}` } : {}),
    accounts: g.accounts.map((a) => ({
      public_key: `ed25519:${toHex(a.publicKey)}`,
      balances: amounts(a.balances),
      ...(a.limits.size > 0
        ? {
            limits: Object.fromEntries(
              [...a.limits].map(([k, l]) => [k, { ...(l.perTxMax !== null ? { per_tx_max: l.perTxMax.toString() } : {}), ...(l.outflowMax !== null ? { outflow_max: l.outflowMax.toString() } : {}) }]),
            ),
          }
        : {}),
    })),
  };
}
