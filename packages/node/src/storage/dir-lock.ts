// One process per data directory: an exclusive lock file, `<dir>/bpci.lock`, holding the owner's
// pid (issue 13 §2). LMDB allows several processes on one environment by design, so without this a
// second copy of a validator would open the live store and write its own votes into it.
//
// Contract:
// - `acquireDirLock(dir)` creates the lock file atomically (written in full to a temporary file,
//   then hard-linked to the lock name, which fails if it exists) or throws `DirLockedError` naming
//   the process that holds it. A lock whose owner is gone (kill -9, power cut) is stale: it is
//   taken over, and the caller's logger gets one line saying so.
// - Liveness: `process.kill(pid, 0)` (EPERM counts as alive: another user's process). On Linux the
//   lock also records the owner's start time (/proc/<pid>/stat field 22), so a pid reused by an
//   unrelated process after a crash does not keep the lock forever. A lock written on another host
//   (a shared file system) cannot be checked and is never taken over.
// - A process holding the lock that asks again is refused too: two stores on one directory in one
//   process are as wrong as in two.
// - Takeover of a stale lock runs under a second lock file (`bpci.lock.takeover`, same rules), so
//   two processes that find one stale lock cannot both take it over.
// - `release()` removes the file only while it is still ours (same pid and random token).

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.js';

export const LOCK_FILE_NAME = 'bpci.lock';

export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** What holds it, e.g. "validator-002". */
  readonly owner?: string;
  readonly started_at: string;
  /** Linux: the owner's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  readonly start_ticks?: string;
  readonly token: string;
}

export class DirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockOwner,
  ) {
    const who = `pid ${holder.pid}${holder.owner ? ` (${holder.owner})` : ''}${holder.hostname !== os.hostname() ? ` on host ${holder.hostname}` : ''}, since ${holder.started_at}`;
    super(
      holder.pid === process.pid && holder.hostname === os.hostname()
        ? `data dir ${dir} is already locked by this process (${who})`
        : `data dir ${dir} is locked by another live process: ${who}; stop it first (lock file ${path.join(dir, LOCK_FILE_NAME)})`,
    );
    this.name = 'DirLockedError';
  }
}

export interface DirLock {
  readonly dir: string;
  readonly file: string;
  readonly owner: LockOwner;
  /** True until release(). */
  readonly held: boolean;
  release(): void;
}

export interface AcquireOptions {
  /** Recorded in the lock file and shown to a refused process, e.g. the validator id. */
  readonly owner?: string;
  readonly logger?: Logger;
}

/** The owner's start time on Linux, or undefined elsewhere / when the process is gone. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ..." where comm may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall; fields[0] is field 3 (state)
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process that wrote `o` still runs (true when it cannot be told: another host). */
export function ownerAlive(o: LockOwner): boolean {
  if (o.hostname !== os.hostname()) return true;
  if (!processAlive(o.pid)) return false;
  if (o.start_ticks !== undefined) {
    const now = processStartTicks(o.pid);
    if (now !== undefined && now !== o.start_ticks) return false; // the pid was reused
  }
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.hostname !== 'string' || typeof o.token !== 'string') return undefined;
    return { started_at: '?', ...o } as LockOwner;
  } catch {
    return undefined;
  }
}

function readOwner(file: string): LockOwner | undefined | 'absent' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  return parseOwner(text);
}

/** The lock file's content (holder or stale), or undefined when there is none or it is unreadable. */
export function readDirLock(dir: string): LockOwner | undefined {
  const o = readOwner(path.join(dir, LOCK_FILE_NAME));
  return o === 'absent' ? undefined : o;
}

/** The live process holding `dir`, or undefined (no lock, or a stale one). */
export function dirLockHolder(dir: string): LockOwner | undefined {
  const o = readDirLock(dir);
  return o && ownerAlive(o) ? o : undefined;
}

/** Creates `file` with `content` atomically; false if it exists. */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function removeIfSame(file: string, token: string): void {
  const o = readOwner(file);
  if (o !== 'absent' && o?.token === token) fs.rmSync(file, { force: true });
}

const ATTEMPTS_MAX = 4;

export function acquireDirLock(dir: string, opts: AcquireOptions = {}): DirLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE_NAME);
  const ticks = processStartTicks(process.pid);
  const me: LockOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
    started_at: new Date().toISOString(),
    ...(ticks !== undefined ? { start_ticks: ticks } : {}),
    token: crypto.randomBytes(16).toString('hex'),
  };
  const content = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    if (createExclusive(file, content)) return heldLock(dir, file, me);
    const holder = readOwner(file);
    if (holder === 'absent') continue; // released between our attempt and the read
    if (holder !== undefined && ownerAlive(holder)) throw new DirLockedError(dir, holder);
    // Stale (its owner is gone) or unreadable (a foreign or corrupt file: not ours to trust).
    if (holder === undefined) throw new Error(`data dir ${dir}: lock file ${file} is not a bpci lock; remove it if no validator uses this directory`);
    if (takeOver(file, holder, content)) {
      opts.logger?.warn(
        { dir, stale_pid: holder.pid, stale_owner: holder.owner, stale_since: holder.started_at },
        `took over the stale lock of ${dir}: pid ${holder.pid} is gone (killed or crashed)`,
      );
      return heldLock(dir, file, me);
    }
  }
  const holder = readDirLock(dir);
  if (holder && ownerAlive(holder)) throw new DirLockedError(dir, holder);
  throw new Error(`data dir ${dir}: could not take the lock ${file} after ${ATTEMPTS_MAX} attempts (another process is starting?)`);
}

/** Replaces the stale lock `stale` by ours, under the takeover lock. False: someone else moved first. */
function takeOver(file: string, stale: LockOwner, content: string): boolean {
  const guard = `${file}.takeover`;
  if (!createExclusive(guard, content)) {
    const g = readOwner(guard);
    if (g !== 'absent' && g !== undefined && ownerAlive(g)) return false; // a live process is taking over
    fs.rmSync(guard, { force: true }); // left by a process that died during its takeover
    if (!createExclusive(guard, content)) return false;
  }
  const token = parseOwner(content)!.token;
  try {
    const now = readOwner(file);
    if (now !== 'absent' && now?.token !== stale.token) return false; // replaced meanwhile
    fs.rmSync(file, { force: true });
    return createExclusive(file, content);
  } finally {
    removeIfSame(guard, token);
  }
}

function heldLock(dir: string, file: string, owner: LockOwner): DirLock {
  let held = true;
  return {
    dir,
    file,
    owner,
    get held() {
      return held;
    },
    release() {
      if (!held) return;
      held = false;
      removeIfSame(file, owner.token);
    },
  };
}
