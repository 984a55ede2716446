// Builds the AssemblyScript modules of @bpci/crypto-wasm with the asc JS API:
//   assembly/blake3/index.ts  -> build/blake3.wasm   (always)
//   assembly/ed25519/index.ts -> build/ed25519.wasm  (when that source exists)
// Flags: SIMD on, -O3 (speed), the stub runtime (nothing is ever freed; the modules allocate
// nothing anyway: all buffers are pointers into linear memory laid out by the JS side), no
// assertions (inputs are checked in JS before they reach wasm).
// Usage: node scripts/build.mjs [--text]   (--text also writes .wat files for reading)
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const wantText = process.argv.includes('--text');

// The unrolled compression function is generated; regenerate so the build never uses a stale one.
execFileSync(process.execPath, [fileURLToPath(new URL('./gen-compress.mjs', import.meta.url))], { stdio: 'inherit' });

const entries = [
  { src: 'assembly/blake3/index.ts', out: 'build/blake3.wasm', required: true },
  { src: 'assembly/ed25519/index.ts', out: 'build/ed25519.wasm', required: false },
];

mkdirSync(`${root}/build`, { recursive: true });
let failed = false;
for (const e of entries) {
  if (!existsSync(`${root}/${e.src}`)) {
    if (e.required) throw new Error(`missing ${e.src}`);
    console.log(`[crypto-wasm] skip ${e.out}: ${e.src} not present`);
    continue;
  }
  // Written beside the target, then renamed over it: a process loading the module meanwhile
  // (a test running while `npm pack` rebuilds, issue 13 §1) reads the old file or the new one,
  // never a partial one.
  const tmpOut = e.out.replace(/\.wasm$/, `.tmp-${process.pid}.wasm`);
  const args = [
    e.src,
    '--outFile', tmpOut,
    '--enable', 'simd',
    '-O3',
    '--runtime', 'stub',
    '--noAssert',
    '--use', 'abort=',
    '--baseDir', root,
  ];
  if (wantText) args.push('--textFile', e.out.replace(/\.wasm$/, '.wat'));
  const t0 = Date.now();
  const { error, stderr } = await asc.main(args, {});
  if (error) {
    rmSync(`${root}/${tmpOut}`, { force: true });
    failed = true;
    console.error(`[crypto-wasm] ${e.out} FAILED: ${error.message}\n${stderr.toString()}`);
  } else {
    renameSync(`${root}/${tmpOut}`, `${root}/${e.out}`);
    console.log(`[crypto-wasm] built ${e.out} in ${Date.now() - t0} ms`);
  }
}
if (failed) process.exit(1);
