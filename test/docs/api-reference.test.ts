// Issue 13 §1: a typed API reference generated from the sources. TypeDoc builds it for every
// package's root entry (typedoc.json; `npm run docs` writes docs/api); this test builds it into
// a temporary folder and checks that it succeeds and documents the entry points a downstream
// project starts from.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('API reference (TypeDoc)', () => {
  it('builds for every package without errors and documents the public entry points', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-api-'));
    try {
      const run = spawnSync(process.execPath, [path.join(root, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: root, encoding: 'utf8' });
      const log = `${run.stdout}${run.stderr}`;
      expect(run.status, log).toBe(0);
      expect(log).toMatch(/Found 0 errors/);
      const pages = new Set(fs.readdirSync(out, { recursive: true }).map((p) => path.basename(String(p))));
      for (const page of [
        '_bpci_core.html',
        '_bpci_crypto-wasm.html',
        '_bpci_native.html',
        '_bpci_node.html',
        '_bpci_core.signRequest.html',
        '_bpci_core.verifyMerkleProof.html',
        '_bpci_core.PbftReplica.html',
        '_bpci_core.ClientRequest.html',
        '_bpci_native.loadNativeBackend.html',
        '_bpci_crypto-wasm.loadWasmBackend.html',
        '_bpci_node.BpciClient.html',
        '_bpci_node.CryptoPool.html',
        '_bpci_node.selectBackend.html',
      ]) {
        expect(pages.has(page), `${page} in the generated reference`).toBe(true);
      }
      // The doc comments make it into the pages (not just the signatures).
      const req = fs.readdirSync(path.join(out, 'interfaces')).find((f) => f === '_bpci_core.ClientRequest.html')!;
      expect(fs.readFileSync(path.join(out, 'interfaces', req), 'utf8')).toMatch(/Byzantine primary can neither invent nor alter/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
