// Progress bars for long CLI work (cli-progress), on stderr so stdout stays parseable. Off when
// stderr is not a terminal or when the caller asks for quiet output (--json); the work runs the same.

import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by n (default 1), optionally updating the trailing status text. */
  tick(n?: number, status?: string): void;
  stop(): void;
}

export function createProgress(total: number, label: string, opts: { enabled?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? Boolean(stream.isTTY);
  if (!enabled) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total} | {eta_formatted} left | {status}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  let done = 0;
  return {
    tick(n = 1, status?: string) {
      done += n;
      bar.update(done, status === undefined ? {} : { status });
    },
    stop() {
      bar.stop();
    },
  };
}

/** Runs `fn(i)` for i in [0, total) with `concurrency` workers, ticking a progress bar. */
export async function runWithProgress<T>(
  total: number,
  concurrency: number,
  label: string,
  fn: (i: number) => Promise<T>,
  opts: { enabled?: boolean } = {},
): Promise<T[]> {
  const bar = createProgress(total, label, opts);
  const results = new Array<T>(total);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      results[i] = await fn(i);
      bar.tick();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, total)) }, worker));
  } finally {
    bar.stop();
  }
  return results;
}
