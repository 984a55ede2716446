// Byte-level reader and writer for the canonical codec.
//
// Contract: every integer has one fixed-width big-endian form; every variable-length field has
// a u32 length prefix checked against a named maximum BEFORE anything is allocated; strings are
// UTF-8 that must re-encode to the same bytes. The reader throws CodecError (never RangeError or
// a TypeError from a typed array) on anything short, long or malformed.

export type CodecErrorCode =
  | 'truncated'
  | 'trailing-bytes'
  | 'too-large'
  | 'bad-tag'
  | 'bad-value'
  | 'not-canonical';

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// Own strict UTF-8 (core is built without DOM/Node lib types, and strictness is the point):
// encode from well-formed UTF-16 (lone surrogates rejected); decode rejects overlong forms,
// surrogates and code points above U+10FFFF, so one string has exactly one encoding.
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) throw new CodecError('bad-value', 'string has a lone surrogate');
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

export function utf8Decode(b: Uint8Array, what: string): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const x = b[i]!;
    let c: number;
    let n: number;
    let min: number;
    if (x < 0x80) [c, n, min] = [x, 0, 0];
    else if (x >= 0xc2 && x < 0xe0) [c, n, min] = [x & 31, 1, 0x80];
    else if (x >= 0xe0 && x < 0xf0) [c, n, min] = [x & 15, 2, 0x800];
    else if (x >= 0xf0 && x < 0xf5) [c, n, min] = [x & 7, 3, 0x10000];
    else throw new CodecError('bad-value', `${what}: invalid UTF-8 lead byte at ${i}`);
    for (let k = 1; k <= n; k++) {
      const y = b[i + k];
      if (y === undefined || (y & 0xc0) !== 0x80) throw new CodecError('bad-value', `${what}: invalid UTF-8 continuation at ${i + k}`);
      c = (c << 6) | (y & 63);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
      throw new CodecError('not-canonical', `${what}: overlong or invalid code point at ${i}`);
    }
    s += String.fromCodePoint(c);
    i += n + 1;
  }
  return s;
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  /** A fresh buffer of `initialBytes`, or (encodeWith only) a given buffer and its DataView. */
  constructor(initialBytes: number | { buf: Uint8Array; view: DataView } = 256) {
    if (typeof initialBytes === 'number') {
      this.buf = new Uint8Array(initialBytes);
      this.view = new DataView(this.buf.buffer);
    } else {
      this.buf = initialBytes.buf;
      this.view = initialBytes.view;
    }
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  /** Non-negative safe integer as 8 bytes big-endian. */
  u53(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new CodecError('bad-value', `u53 out of range: ${v}`);
    this.reserve(8);
    this.view.setUint32(this.pos, Math.floor(v / 0x1_0000_0000));
    this.view.setUint32(this.pos + 4, v >>> 0);
    this.pos += 8;
  }

  fixed(bytes: Uint8Array, length: number): void {
    if (bytes.length !== length) throw new CodecError('bad-value', `expected ${length} bytes, got ${bytes.length}`);
    this.reserve(length);
    this.buf.set(bytes, this.pos);
    this.pos += length;
  }

  bytes(bytes: Uint8Array, maxBytes: number): void {
    if (bytes.length > maxBytes) throw new CodecError('too-large', `field of ${bytes.length} bytes > max ${maxBytes}`);
    this.u32(bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  string(s: string, maxBytes: number): void {
    this.bytes(utf8Encode(s), maxBytes);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  get length(): number {
    return this.pos;
  }
}

// One scratch buffer for the encoder (and one DataView over it): encoding a message then costs
// one allocation, the copy finish() returns, instead of a buffer, a DataView and the copy.
const SCRATCH = { buf: new Uint8Array(16 * 1024), view: null as unknown as DataView, free: true };
SCRATCH.view = new DataView(SCRATCH.buf.buffer);

/**
 * Encode through `fill` and return the bytes (a fresh copy the caller owns). Uses the scratch
 * buffer unless it is busy (a nested encode) or `sizeHint` exceeds it; a throw in `fill` frees it.
 */
export function encodeWith(sizeHint: number, fill: (w: Writer) => void): Uint8Array {
  if (!SCRATCH.free || sizeHint > SCRATCH.buf.length) {
    const w = new Writer(sizeHint);
    fill(w);
    return w.finish();
  }
  SCRATCH.free = false;
  try {
    const w = new Writer(SCRATCH);
    fill(w);
    return w.finish();
  } finally {
    SCRATCH.free = true;
  }
}

export class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new CodecError('truncated', `truncated ${what}: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u53(what: string): number {
    this.need(8, what);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    if (hi > 0x1f_ffff) throw new CodecError('bad-value', `${what}: integer above 2^53-1`);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }

  fixed(length: number, what: string): Uint8Array {
    this.need(length, what);
    const out = this.buf.slice(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  bytes(maxBytes: number, what: string): Uint8Array {
    const len = this.u32(`${what} length`);
    if (len > maxBytes) throw new CodecError('too-large', `${what}: ${len} bytes > max ${maxBytes}`);
    return this.fixed(len, what);
  }

  string(maxBytes: number, what: string): string {
    return utf8Decode(this.bytes(maxBytes, what), what);
  }

  /** Count prefix for a list, checked against max and against the bytes left (each item >= minItemBytes). */
  count(max: number, minItemBytes: number, what: string): number {
    const n = this.u32(`${what} count`);
    if (n > max) throw new CodecError('too-large', `${what}: ${n} items > max ${max}`);
    if (n * minItemBytes > this.remaining) {
      throw new CodecError('truncated', `${what}: ${n} items cannot fit in ${this.remaining} bytes`);
    }
    return n;
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw new CodecError('trailing-bytes', `${this.buf.length - this.pos} trailing bytes after offset ${this.pos}`);
    }
  }
}
