// Validator identity key files.
//
// Format (JSON, one object):
//   { "version": 1, "algorithm": "ed25519", "validator_id": "validator-001" | null,
//     "seed": "<64 hex: RFC 8032 secret seed>", "public_key": "ed25519:<64 hex>" }
// Contract: `generateKeyFile` creates the file with mode 0600 and refuses to overwrite an existing
// one unless `force`. `loadKeyFile` refuses a file readable or writable by group/others (like ssh
// does with private keys), and checks that the public key recorded in the file is the one the seed
// derives, so a hand-edited or truncated file fails loudly instead of signing with the wrong key.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { jsBackend, type CryptoBackend } from '@bpci/core';

export class KeyFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'KeyFileError';
  }
}

export interface ValidatorKey {
  readonly validatorId: string | null;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  /** "ed25519:<hex>", the form the config's `public_key` uses. */
  readonly publicKeyText: string;
}

const KEY_FILE_BYTES_MAX = 4096;

export function publicKeyText(publicKey: Uint8Array): string {
  return `ed25519:${Buffer.from(publicKey).toString('hex')}`;
}

export function generateKeyFile(
  file: string,
  opts: { validatorId?: string; force?: boolean; crypto?: CryptoBackend; seed?: Uint8Array } = {},
): ValidatorKey {
  const crypto = opts.crypto ?? jsBackend();
  const seed = opts.seed ?? new Uint8Array(randomBytes(32));
  if (seed.length !== 32) throw new KeyFileError(file, 'seed must be 32 bytes');
  const publicKey = crypto.ed25519PublicKey(seed);
  const body = {
    version: 1,
    algorithm: 'ed25519',
    validator_id: opts.validatorId ?? null,
    seed: Buffer.from(seed).toString('hex'),
    public_key: publicKeyText(publicKey),
  };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let fd: number;
  try {
    // 'wx' = create exclusively; the mode applies at creation, so the secret is never world-readable.
    fd = fs.openSync(file, opts.force ? 'w' : 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(file, 'already exists (pass --force to overwrite)');
    throw new KeyFileError(file, (err as Error).message);
  }
  try {
    fs.fchmodSync(fd, 0o600); // an overwritten file keeps its old mode otherwise
    fs.writeSync(fd, `${JSON.stringify(body, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { validatorId: body.validator_id, seed, publicKey, publicKeyText: body.public_key };
}

export function loadKeyFile(file: string, opts: { crypto?: CryptoBackend } = {}): ValidatorKey {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new KeyFileError(file, `cannot read key file: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new KeyFileError(file, 'not a regular file');
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new KeyFileError(file, `permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} are too open; run: chmod 600 ${file}`);
  }
  if (st.size > KEY_FILE_BYTES_MAX) throw new KeyFileError(file, `larger than ${KEY_FILE_BYTES_MAX} bytes; not a key file`);
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KeyFileError(file, `not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object') throw new KeyFileError(file, 'expected a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.version !== 1) throw new KeyFileError(file, `unsupported version ${JSON.stringify(o.version)} (expected 1)`);
  if (o.algorithm !== 'ed25519') throw new KeyFileError(file, `unsupported algorithm ${JSON.stringify(o.algorithm)} (expected "ed25519")`);
  if (typeof o.seed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.seed)) throw new KeyFileError(file, '"seed" must be 64 hex digits');
  const seed = new Uint8Array(Buffer.from(o.seed, 'hex'));
  const crypto = opts.crypto ?? jsBackend();
  const publicKey = crypto.ed25519PublicKey(seed);
  const text = publicKeyText(publicKey);
  if (o.public_key !== text) {
    throw new KeyFileError(file, `"public_key" ${JSON.stringify(o.public_key)} does not match the seed (which gives ${text})`);
  }
  const validatorId = typeof o.validator_id === 'string' ? o.validator_id : null;
  return { validatorId, seed, publicKey, publicKeyText: text };
}
