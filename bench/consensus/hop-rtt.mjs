#!/usr/bin/env node
// Cross-process loopback TCP round trip: this process and a child echo a small frame back and
// forth (setNoDelay, no crypto). One consensus hop between validator processes costs at least
// half of this; on a shared machine it is mostly the scheduler waking the other process.
// Prints p50/p90/p99 in µs and the load average, to put the consensus latencies in context.
//
//   node bench/consensus/hop-rtt.mjs [--round-trips 5000] [--bytes 200]
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

if (process.argv[2] === '--echo') {
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  srv.listen(0, '127.0.0.1', () => process.stdout.write(`${srv.address().port}\n`));
} else {
  const { values } = parseArgs({ options: { 'round-trips': { type: 'string', default: '5000' }, bytes: { type: 'string', default: '200' } } });
  const trips = Number(values['round-trips']);
  const payload = Buffer.alloc(Number(values.bytes), 7);
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--echo'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const rtt = new Float64Array(trips);
  let got = 0;
  let i = -200; // warm-up trips are not recorded
  let t0 = 0;
  await new Promise((resolve) => {
    const send = () => {
      got = 0;
      t0 = performance.now();
      sock.write(payload);
    };
    sock.on('data', (d) => {
      got += d.length;
      if (got < payload.length) return;
      if (i >= 0) rtt[i] = (performance.now() - t0) * 1000;
      if (++i >= trips) return resolve();
      send();
    });
    send();
  });
  sock.destroy();
  child.kill();
  rtt.sort();
  const q = (p) => rtt[Math.min(trips - 1, Math.floor(p * trips))].toFixed(1);
  console.log(`cross-process loopback TCP round trip, ${payload.length} B, ${trips} trips: p50 ${q(0.5)} µs, p90 ${q(0.9)} µs, p99 ${q(0.99)} µs; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')}`);
}
