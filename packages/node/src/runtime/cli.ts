// The runtime half of the `bpci` CLI: `node start`, and the consensus benchmark. Loaded by
// cli/bpci.ts (see there); `cluster up` uses cli/cluster.ts, which spawns `node start` children.

import path from 'node:path';
import type { RuntimeCommands } from '../cli/program.js';
import { startNodeFromConfig } from './start-node.js';

export const runtimeCommands: Partial<RuntimeCommands> = {
  async nodeStart(opts, io) {
    const running = await startNodeFromConfig(opts.config);
    io.err(`validator ${running.config.node.validatorId} running; API ${running.apiUrl}`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        running.stop({ signal, reason: 'signal' }).then(resolve, resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },

  // The same code as bench/consensus/run.mjs (which calls runConsensusBench too): clusters go
  // under ./.bpci/bench of the working directory, results to --out.
  async benchConsensus(opts, io) {
    const { runConsensusBench, formatTable } = await import('./bench-consensus.js');
    const r = await runConsensusBench(
      {
        validators: opts.validators,
        clients: opts.clients,
        requests: opts.requests,
        warmup: opts.warmup,
        durability: opts.durability,
        verify: opts.verify,
        root: process.cwd(),
        out: path.resolve(opts.out),
        command: `bpci ${process.argv.slice(2).join(' ')}`,
      },
      io,
    );
    const { latencies: _omit, ...json } = r;
    io.out(opts.json ? JSON.stringify(json, null, 2) : formatTable(r.scenarios));
    if (r.scenarios.some((s) => !s.same_log || s.failures > 0)) process.exitCode = 1;
  },
};
