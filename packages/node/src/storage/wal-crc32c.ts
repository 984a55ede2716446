// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the write-ahead log's
// record and segment headers (wal-segment.ts).
//
// Why CRC-32C and not BLAKE3: the WAL needs to tell a torn or rotted record from a good one, not
// to resist an adversary (whoever can write the validator's disk can also rewrite its key file).
// CRC-32C detects every burst error up to 32 bits and all 1-, 2- and 3-bit errors in records of
// the sizes we write, in a few lines, with no dependency. It is the checksum of iSCSI, ext4
// metadata and etcd's WAL. Node's zlib.crc32 (v20.15+) is the IEEE polynomial, a different
// checksum; we do not depend on it.
//
// Slicing-by-8: eight 256-entry tables, eight input bytes per step. Values are kept as unsigned
// 32-bit integers (>>> 0 at the end).

const POLY_REFLECTED = 0x82f63b78;

const TABLE = ((): Uint32Array => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const prev = t[(s - 1) * 256 + i]!;
      t[s * 256 + i] = ((prev >>> 8) ^ t[prev & 0xff]!) >>> 0;
    }
  }
  return t;
})();

/**
 * CRC-32C of `bytes[start, end)`. `crc` continues a previous result (pass the value returned for
 * the preceding bytes; 0 starts a new checksum), so a checksum can cover two separate ranges.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  if (start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`crc32c range [${start}, ${end}) outside 0..${bytes.length}`);
  }
  const t = TABLE;
  let c = ~crc;
  let i = start;
  // Align nothing: the 8-byte step reads bytes one by one, so any offset works.
  for (const stop = end - 8; i <= stop; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + bytes[i + 4]!]! ^
      t[2 * 256 + bytes[i + 5]!]! ^
      t[1 * 256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ t[(c ^ bytes[i]!) & 0xff]!;
  return ~c >>> 0;
}
