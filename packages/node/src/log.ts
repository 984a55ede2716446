// JSON logging (pino) for the node. Every line carries the validator id; consensus code adds view
// and sequence through `consensusLogger(...)` so one validator's log can be filtered by slot.
//
// Modules take the small `Logger` interface below, not pino's type, so tests can pass
// `silentLogger` and the runtime can pass a pino child.

import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

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
}

/** Creates the process logger: JSON lines, ISO time, `validator` on every line. */
export function createLogger(opts: LoggerOptions = {}): PinoLogger {
  const dest = pino.destination({ dest: opts.destination ?? 1, sync: opts.sync ?? false });
  return pino(
    {
      level: opts.level ?? 'info',
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
