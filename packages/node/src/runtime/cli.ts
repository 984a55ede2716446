// The runtime half of the `bpci` CLI: `node start`, and the consensus benchmark. Loaded by
// cli/bpci.ts (see there); `cluster up` uses cli/cluster.ts, which spawns `node start` children.

import type { RuntimeCommands } from '../cli/program.js';
import { startNodeFromConfig } from './start-node.js';

export const runtimeCommands: Partial<RuntimeCommands> = {
  async nodeStart(opts, io) {
    const running = await startNodeFromConfig(opts.config);
    io.err(`validator ${running.config.node.validatorId} running; API ${running.apiUrl}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        running.stop().then(resolve, resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
