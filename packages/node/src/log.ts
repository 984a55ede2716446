// JSON logging (pino) for the node. Every line carries the validator id; consensus code adds view
// and sequence through `consensusLogger(...)` so one validator's log can be filtered by slot.
//
// Modules take the small `Logger` interface below, not pino's type, so tests can pass
// `silentLogger` and the runtime can pass a pino child.

//
// Outputs (config `logging.outputs`): stdout (asynchronous, the default) and files. A file output
// appends synchronously (each line is in the file when the call returns, so none is lost at
// exit); with `maxSizeBytes` it rotates by size: once the file reaches that size (after the line
// that crossed it), path.<maxFiles-1> .. path.1 move up one, the file becomes path.1, and a new
// one is opened. At most maxFiles rotated files are kept.

import fs from 'node:fs';
import { pino, type Logger as PinoLogger, type LevelWithSilent, type DestinationStream } from 'pino';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** Validator id (config `validator_id`, e.g. "validator-001") or replica index. */
  validator?: string | number;
  level?: LevelWithSilent;
  /** Destination file descriptor or path; default stdout (fd 1). */
  destination?: number | string;
  /** Synchronous writes (tests, short CLI runs); the node uses async writes. */
  sync?: boolean;
  /** Several outputs (config `logging.outputs`); when given, `destination` is not used. */
  outputs?: readonly LogOutput[];
}

export type LogOutput = { readonly type: 'stdout' } | ({ readonly type: 'file' } & RotatingLogFileOptions);

export interface RotatingLogFileOptions {
  readonly path: string;
  /** Rotate once the file reaches this size; undefined: never rotate. */
  readonly maxSizeBytes?: number | undefined;
  /** Rotated files kept (path.1 .. path.N), default 5. */
  readonly maxFiles?: number;
}

/** A log file that rotates by size (see the header); a pino destination. */
export class RotatingLogFile implements DestinationStream {
  readonly path: string;
  private readonly maxSizeBytes: number | undefined;
  private readonly maxFiles: number;
  /** pino's sonic-boom file stream (reopen() is what logrotate tools use too). */
  private readonly out: ReturnType<typeof pino.destination>;
  private sizeBytes: number;
  /** Rotations done (tests, diagnostics). */
  rotations = 0;

  constructor(opts: RotatingLogFileOptions) {
    if (opts.maxSizeBytes !== undefined && (!Number.isSafeInteger(opts.maxSizeBytes) || opts.maxSizeBytes < 1)) {
      throw new RangeError(`maxSizeBytes must be a positive integer, got ${opts.maxSizeBytes}`);
    }
    const maxFiles = opts.maxFiles ?? 5;
    if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new RangeError(`maxFiles must be an integer >= 1, got ${maxFiles}`);
    this.path = opts.path;
    this.maxSizeBytes = opts.maxSizeBytes;
    this.maxFiles = maxFiles;
    this.out = pino.destination({ dest: opts.path, sync: true, append: true, mkdir: true });
    this.sizeBytes = fs.statSync(opts.path).size;
  }

  write(line: string): boolean {
    const ok = this.out.write(line);
    this.sizeBytes += Buffer.byteLength(line);
    if (this.maxSizeBytes !== undefined && this.sizeBytes >= this.maxSizeBytes) this.rotate();
    return ok;
  }

  private rotate(): void {
    try {
      for (let i = this.maxFiles - 1; i >= 1; i--) {
        const from = `${this.path}.${i}`;
        if (fs.existsSync(from)) fs.renameSync(from, `${this.path}.${i + 1}`);
      }
      fs.renameSync(this.path, `${this.path}.1`);
    } catch {
      // Could not move the files (removed, permissions): keep writing where we are rather than lose lines.
      return;
    }
    this.out.reopen(); // synchronous: the next line goes to a new file at this.path
    this.sizeBytes = 0;
    this.rotations++;
  }

  flushSync(): void {
    this.out.flushSync();
  }

  end(): void {
    this.out.end();
  }
}

/** Creates the process logger: JSON lines, ISO time, `validator` on every line. */
export function createLogger(opts: LoggerOptions = {}): PinoLogger {
  const level = opts.level ?? 'info';
  let dest: DestinationStream;
  const outputs = opts.outputs ?? [];
  const streamOf = (o: LogOutput): DestinationStream => (o.type === 'stdout' ? pino.destination({ dest: 1, sync: opts.sync ?? false }) : new RotatingLogFile(o));
  if (outputs.length === 0) dest = pino.destination({ dest: opts.destination ?? 1, sync: opts.sync ?? false });
  else if (outputs.length === 1 || level === 'silent') dest = streamOf(outputs[0]!);
  else dest = pino.multistream(outputs.map((o) => ({ level, stream: streamOf(o) })));
  return pino(
    {
      level,
      base: opts.validator === undefined ? { pid: process.pid } : { pid: process.pid, validator: opts.validator },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

/** A child logger that stamps the consensus position (view, sequence) on each line. */
export function consensusLogger(parent: Logger, view: number | bigint, sequence: number | bigint): Logger {
  return parent.child({ view: Number(view), sequence: Number(sequence) });
}

/** Discards everything; for tests and embedding. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
