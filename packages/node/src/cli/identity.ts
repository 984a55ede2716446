// The identity a validator's HTTP API states on every response (headers), and the check
// `bpci cluster` makes with it: that the process answering on a port is the validator it started
// (issue 13 §2: `cluster up` once reported "2 validators up" while both had died with
// EADDRINUSE, because another cluster answered on those ports).

export const IDENTITY_HEADERS = {
  validatorId: 'x-bpci-validator-id',
  publicKey: 'x-bpci-public-key',
  pid: 'x-bpci-pid',
} as const;

export interface ApiIdentity {
  readonly validatorId: string;
  /** "ed25519:<64 hex>", as in the config and key files. */
  readonly publicKey: string;
  readonly pid: number;
}

export function identityHeaders(validatorId: string, publicKey: string, pid: number): Record<string, string> {
  return { [IDENTITY_HEADERS.validatorId]: validatorId, [IDENTITY_HEADERS.publicKey]: publicKey, [IDENTITY_HEADERS.pid]: String(pid) };
}

/** The identity in a response's headers, or undefined when it states none (not a bpci validator, or an old one). */
export function identityOf(headers: Headers): ApiIdentity | undefined {
  const validatorId = headers.get(IDENTITY_HEADERS.validatorId);
  const publicKey = headers.get(IDENTITY_HEADERS.publicKey);
  const pid = Number(headers.get(IDENTITY_HEADERS.pid));
  if (!validatorId || !publicKey || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { validatorId, publicKey, pid };
}

/** Why `seen` is not `want`, in one phrase; undefined when it is. A `want.pid` of 0 checks id and key only. */
export function identityMismatch(want: ApiIdentity, seen: ApiIdentity | undefined): string | undefined {
  if (!seen) return 'it states no bpci identity (another program, or a bpci without identity headers)';
  const diffs: string[] = [];
  if (seen.validatorId !== want.validatorId) diffs.push(`validator ${seen.validatorId}, not ${want.validatorId}`);
  if (seen.publicKey !== want.publicKey) diffs.push(`key ${short(seen.publicKey)}, not ${short(want.publicKey)}`);
  if (want.pid !== 0 && seen.pid !== want.pid) diffs.push(`pid ${seen.pid}, not ${want.pid}`);
  return diffs.length === 0 ? undefined : `it is ${diffs.join(', ')}`;
}

function short(key: string): string {
  return key.length > 24 ? `${key.slice(0, 20)}...` : key;
}
