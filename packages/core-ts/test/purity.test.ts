// @bpci/core must run anywhere: no node:* import (except the Node-only simulator CLI and its
// node:crypto backend, neither exported from the index) and no
// clock, timer or randomness inside the protocol.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));

describe('core purity', () => {
  it('imports no node:* module outside src/testing/{sim-cli,node-ed25519}.ts', () => {
    const nodeOnly = ['sim-cli.ts', 'node-ed25519.ts'].map((f) => join(src, 'testing', f));
    const offenders = files(src).filter((f) => !nodeOnly.includes(f) && /from ['"]node:|require\(['"]node:|import\(['"]node:/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
    const index = readFileSync(join(src, 'index.ts'), 'utf8');
    expect(index).not.toMatch(/sim-cli|node-ed25519/);
  });
  it('the protocol uses no clock, timer or randomness', () => {
    const protocol = [...files(join(src, 'consensus')), ...files(join(src, 'codec'))];
    expect(protocol.length).toBeGreaterThan(5);
    const offenders = protocol.filter((f) => /Date\.now|new Date|performance\.now|setTimeout|setInterval|Math\.random|crypto\.getRandomValues/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
