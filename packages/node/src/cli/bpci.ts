#!/usr/bin/env node
// Entry point of the `bpci` command. The runtime commands (node start, cluster up, bench consensus)
// come from the runtime module `../runtime/cli.js`, which must export
// `runtimeCommands: Partial<RuntimeCommands>`; it is loaded by a computed specifier so this file
// builds and the API/keys/bench-storage commands work even in a build without the runtime.

import { processIo, runCli, type RuntimeCommands } from './program.js';

async function loadRuntime(): Promise<Partial<RuntimeCommands> | undefined> {
  const spec = '../runtime/cli.js';
  try {
    const mod = (await import(spec)) as { runtimeCommands?: Partial<RuntimeCommands> };
    return mod.runtimeCommands;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('runtime/cli.js')) return undefined;
    throw err;
  }
}

const runtime = await loadRuntime();
const code = await runCli(process.argv.slice(2), { io: processIo, ...(runtime ? { runtime } : {}) });
process.exitCode = code;
// A failed command exits even if something it started still holds the event loop (a socket, a
// timer): a validator that could not start must not linger half-started next to the live one.
// Unreferenced, so a clean exit is never delayed by it.
if (code !== 0) setTimeout(() => process.exit(code), 2_000).unref();
