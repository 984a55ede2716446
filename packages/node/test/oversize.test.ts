// A message larger than a link frame is dropped with a log line and a counter; the validator
// keeps running (before, transport.send threw out of the step's caller: a socket or timer
// callback, which ends the process).
import { afterAll, describe, expect, it } from 'vitest';
import { jsBackend, signRequest } from '@bpci/core';
import { ValidatorNode, type ValidatorAddress } from '../src/runtime/validator-node.js';
import { nodeJsBackend } from '../src/crypto/select.js';
import { freePorts } from './helpers.js';

const crypto = nodeJsBackend();
const clientSeed = new Uint8Array(32).fill(5);
const seeds = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
const ports = await freePorts(seeds.length);
const validators: ValidatorAddress[] = seeds.map((s, i) => ({ publicKey: jsBackend().ed25519PublicKey(s), stake: 1, host: '127.0.0.1', port: ports[i]! }));
const nodes: ValidatorNode[] = [];
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

describe('oversize messages', () => {
  it('are dropped with a log line, counted, and the validator keeps running', async () => {
    const errors: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      info: () => {},
      warn: () => {},
      debug: () => {},
      error: (obj: Record<string, unknown>, msg: string) => errors.push({ obj, msg }),
      child: () => logger,
    };
    const dropped: string[] = [];
    for (let i = 0; i < 4; i++) {
      nodes.push(
        await ValidatorNode.start({
          index: i,
          validators,
          seed32: seeds[i]!,
          crypto,
          store: null,
          listen: { host: '127.0.0.1', port: validators[i]!.port },
          clientListen: null,
          transportLimits: { frameBytesMax: 8192 },
          startupLinkWaitMs: 2000,
          ...(i === 0 ? { logger: logger as never, observer: { oversizeDropped: (kind: string) => dropped.push(kind) } } : {}),
        }),
      );
    }
    // A 16 KiB op: the primary's pre-prepare cannot fit an 8 KiB frame.
    const op = new Uint8Array(16 * 1024).fill(0x61);
    expect(() => nodes[0]!.step({ kind: 'request', request: signRequest(crypto, clientSeed, 'big', 1, op) })).not.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    expect(nodes[0]!.isStopped).toBe(false);
    expect(nodes[0]!.oversizeDropped).toBeGreaterThanOrEqual(1);
    expect(dropped[0]).toBe('pre-prepare');
    expect(errors[0]!.msg).toMatch(/larger than the transport frame limit/);
    expect(errors[0]!.obj).toMatchObject({ kind: 'pre-prepare', frame_bytes_max: 8192 });
    // A small request, sent to every validator as a client does, still commits everywhere: the
    // slot whose pre-prepare never left holds it up until the backups time out on the primary
    // and change the view.
    for (const n of nodes) n.step({ kind: 'request', request: signRequest(crypto, clientSeed, 'small', 1, new TextEncoder().encode('add a 1')) });
    const end = Date.now() + 10_000;
    while (Date.now() < end && !nodes.every((n) => n.requestsCommitted >= 1)) await new Promise((r) => setTimeout(r, 20));
    expect(nodes.every((n) => n.requestsCommitted >= 1)).toBe(true);
  }, 30_000);
});
