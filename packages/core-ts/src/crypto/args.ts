// Argument checks shared by every crypto backend, so that every backend rejects the same bad
// input with the same error class and a message naming the argument.

export function assertBytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Uint8Array, got ${describe(value)}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

export function assertBytesArray(name: string, value: unknown): asserts value is readonly Uint8Array[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of Uint8Array, got ${describe(value)}`);
  for (let i = 0; i < value.length; i++) {
    if (!(value[i] instanceof Uint8Array)) {
      throw new TypeError(`${name}[${i}] must be a Uint8Array, got ${describe(value[i])}`);
    }
  }
}

/** A non-negative safe integer (counts, indexes). */
export function assertCount(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in [0, ${max}], got ${value}`);
  }
}

export const U64_MAX = (1n << 64n) - 1n;

export function assertU64(name: string, value: unknown): asserts value is bigint {
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint, got ${describe(value)}`);
  if (value < 0n || value > U64_MAX) throw new RangeError(`${name} must be in [0, 2^64-1], got ${value}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
