// The file-system calls the write-ahead log makes (wal.ts), behind one small interface so that
// tests can inject faults (a failing fdatasync, a process "crash" after the k-th call) and the
// benchmark can compare two ways of calling node:fs.
//
// Every call is asynchronous: the WAL never blocks the event loop with a synchronous fs call.
// Two implementations:
// - `callbackIo` (the default): fs.write / fs.fdatasync with callbacks, wrapped in one promise.
// - `promisesIo`: fs.promises FileHandle methods. Same syscalls on the libuv thread pool; it
//   allocates more per call. bench/storage/wal.mjs measures both (see packages/node/README.md).

import fs from 'node:fs';
import fsp from 'node:fs/promises';

export interface WalIo {
  readonly name: string;
  /** Opens `path` with numeric flags (fs.constants), returns a file descriptor. */
  open(path: string, flags: number, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  /** Writes `length` bytes of `buf` from `offset` at file position `position`; may write fewer. */
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Reads up to `length` bytes at `position` into `buf[offset..]`; returns the count (0 at EOF). */
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync(2): file data (and the metadata needed to read it back) durable. */
  datasync(fd: number): Promise<void>;
  /** fsync(2): data and all metadata (used after size changes and on directories). */
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  size(fd: number): Promise<number>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
}

const cb0 =
  (resolve: () => void, reject: (e: Error) => void) =>
  (err: NodeJS.ErrnoException | null): void =>
    err ? reject(err) : resolve();

export const callbackIo: WalIo = {
  name: 'callback',
  open: (p, flags, mode = 0o644) =>
    new Promise((res, rej) => fs.open(p, flags, mode, (err, fd) => (err ? rej(err) : res(fd)))),
  close: (fd) => new Promise((res, rej) => fs.close(fd, cb0(res, rej))),
  write: (fd, buf, off, len, pos) =>
    new Promise((res, rej) => fs.write(fd, buf, off, len, pos, (err, n) => (err ? rej(err) : res(n)))),
  read: (fd, buf, off, len, pos) =>
    new Promise((res, rej) => fs.read(fd, buf, off, len, pos, (err, n) => (err ? rej(err) : res(n)))),
  datasync: (fd) => new Promise((res, rej) => fs.fdatasync(fd, cb0(res, rej))),
  fsync: (fd) => new Promise((res, rej) => fs.fsync(fd, cb0(res, rej))),
  ftruncate: (fd, len) => new Promise((res, rej) => fs.ftruncate(fd, len, cb0(res, rej))),
  size: (fd) => new Promise((res, rej) => fs.fstat(fd, (err, st) => (err ? rej(err) : res(st.size)))),
  rename: (a, b) => new Promise((res, rej) => fs.rename(a, b, cb0(res, rej))),
  unlink: (p) => new Promise((res, rej) => fs.unlink(p, cb0(res, rej))),
  readdir: (d) => new Promise((res, rej) => fs.readdir(d, (err, names) => (err ? rej(err) : res(names)))),
  mkdir: (d) => new Promise((res, rej) => fs.mkdir(d, { recursive: true }, (err) => (err ? rej(err) : res()))),
};

/** fs.promises FileHandles, one per descriptor this io opened. */
export function promisesIo(): WalIo {
  const handles = new Map<number, fsp.FileHandle>();
  const h = (fd: number): fsp.FileHandle => {
    const handle = handles.get(fd);
    if (handle === undefined) throw new Error(`promisesIo: descriptor ${fd} was not opened by this io`);
    return handle;
  };
  return {
    name: 'promises',
    async open(p, flags, mode = 0o644) {
      const handle = await fsp.open(p, flags, mode);
      handles.set(handle.fd, handle);
      return handle.fd;
    },
    async close(fd) {
      const handle = h(fd);
      handles.delete(fd);
      await handle.close();
    },
    async write(fd, buf, off, len, pos) {
      return (await h(fd).write(buf, off, len, pos)).bytesWritten;
    },
    async read(fd, buf, off, len, pos) {
      return (await h(fd).read(buf, off, len, pos)).bytesRead;
    },
    datasync: (fd) => h(fd).datasync(),
    fsync: (fd) => h(fd).sync(),
    ftruncate: (fd, len) => h(fd).truncate(len),
    async size(fd) {
      return (await h(fd).stat()).size;
    },
    rename: (a, b) => fsp.rename(a, b),
    unlink: (p) => fsp.unlink(p),
    readdir: (d) => fsp.readdir(d),
    async mkdir(d) {
      await fsp.mkdir(d, { recursive: true });
    },
  };
}

/** Writes all of `buf[offset, offset + length)` at `position`, looping over short writes. */
export async function writeFully(io: WalIo, fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await io.write(fd, buf, offset + done, length - done, position + done);
    if (n <= 0) throw new Error(`write returned ${n} at position ${position + done}`);
    done += n;
  }
}

/** Reads `length` bytes at `position` (fewer only at end of file); returns the count read. */
export async function readFully(io: WalIo, fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await io.read(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** fsync of a directory, so a create, rename or unlink in it survives a power loss. */
export async function fsyncDir(io: WalIo, dir: string): Promise<void> {
  const fd = await io.open(dir, fs.constants.O_RDONLY);
  try {
    await io.fsync(fd);
  } finally {
    await io.close(fd);
  }
}
