import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const r = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests import TypeScript sources directly (no tsc step needed); the wasm and native backends
// need their build outputs (npm run build).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@bpci\/core$/, replacement: r('./packages/core-ts/src/index.ts') },
      { find: /^@bpci\/core\/(.*)$/, replacement: r('./packages/core-ts/src/$1.ts') },
      { find: /^@bpci\/crypto-wasm$/, replacement: r('./packages/crypto-wasm/src/index.ts') },
      { find: /^@bpci\/native$/, replacement: r('./packages/native/src/index.ts') },
      { find: /^@bpci\/node$/, replacement: r('./packages/node/src/index.ts') },
      { find: /^@bpci\/node\/(.*)$/, replacement: r('./packages/node/src/$1.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
