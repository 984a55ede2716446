// Length-prefixed framing for validator links.
//
// Wire format: u32 big-endian body length, then the body. The decoder checks the announced length
// against a bound BEFORE it allocates or buffers anything for the body, so a peer announcing 2^31
// bytes costs us four bytes of reading and a closed connection, never an allocation. The bound can
// be tightened at any time (the handshake uses a small bound; an authenticated link a larger one).

export const FRAME_HEADER_BYTES = 4;

export class FrameTooLargeError extends Error {
  constructor(readonly announcedBytes: number, readonly frameBytesMax: number) {
    super(`frame of ${announcedBytes} bytes exceeds frameBytesMax ${frameBytesMax}`);
    this.name = 'FrameTooLargeError';
  }
}

/** Encodes one frame (header + body) into a fresh buffer. */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Incremental decoder. `append(chunk)` buffers bytes; `next()` returns the next complete frame body,
 * or undefined when more bytes are needed, and throws FrameTooLargeError as soon as a header
 * announces more than `frameBytesMax`. Frames are pulled one at a time so the caller can change
 * `frameBytesMax` between frames (a handshake frame and the first data frame often arrive in the
 * same chunk). Buffered bytes are bounded by FRAME_HEADER_BYTES + frameBytesMax plus one chunk.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Body length of the frame being read, or -1 while the header is incomplete. */
  private expectBytes = -1;

  constructor(public frameBytesMax: number) {}

  get buffered(): number {
    return this.bufferedBytes;
  }

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  next(): Uint8Array | undefined {
    if (this.expectBytes < 0) {
      if (this.bufferedBytes < FRAME_HEADER_BYTES) return undefined;
      const header = this.take(FRAME_HEADER_BYTES);
      const len = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, false);
      if (len > this.frameBytesMax) throw new FrameTooLargeError(len, this.frameBytesMax);
      this.expectBytes = len;
    }
    if (this.bufferedBytes < this.expectBytes) return undefined;
    const body = this.take(this.expectBytes);
    this.expectBytes = -1;
    return body;
  }

  /** append + drain: every complete frame in order (for callers that never change the bound). */
  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk);
    const frames: Uint8Array[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) frames.push(f);
    return frames;
  }

  /** Removes and returns the first n buffered bytes (copies only when they span chunks). */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.bufferedBytes -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const need = n - filled;
      if (c.length <= need) {
        out.set(c, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        out.set(c.subarray(0, need), filled);
        this.chunks[0] = c.subarray(need);
        filled += need;
      }
    }
    this.bufferedBytes -= n;
    return out;
  }
}
