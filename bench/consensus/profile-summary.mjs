#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from `run.mjs --cpu-prof`): wall time sampled, share idle,
// and the top functions by self time, grouped by function + file. Used to write down where a
// validator's time goes; it reads only the files named on the command line.
//
//   node bench/consensus/profile-summary.mjs [--top 25] <file.cpuprofile>...
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
const top = Number(values.top);
const self = new Map();
let totalUs = 0;
for (const file of positionals) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    totalUs += dt;
    const cf = n.callFrame;
    const where = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
}
const rows = [...self].sort((a, b) => b[1] - a[1]);
const idle = self.get("(idle)") ?? 0;
console.log(`${positionals.length} profile(s), ${(totalUs / 1e6).toFixed(2)} s sampled, idle ${((100 * idle) / totalUs).toFixed(1)}%`);
const busy = totalUs - idle;
console.log(`| function | self ms | % of busy |`);
console.log(`|---|---:|---:|`);
for (const [k, us] of rows.slice(0, top)) {
  if (k === '(idle)') continue;
  console.log(`| ${k} | ${(us / 1000).toFixed(1)} | ${((100 * us) / busy).toFixed(1)} |`);
}
