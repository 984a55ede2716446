// Issue 13 §2: TLS and a token for the client port, on by default off loopback
// (node.client_port), like the HTTP API. The server takes a connection's requests only after a
// TLS handshake (when configured) and a first frame holding the token; BpciClient does both.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { encodeMessage, jsBackend, signRequest, type ClientRequest } from '@bpci/core';
import { BpciClient } from '../src/client/client.js';
import { createCa, issueServerCert } from '../src/config/certs.js';
import { ConfigError, parseConfig } from '../src/config/config.js';
import { ClientServer, clientAuthFrame, type ClientRejectReason } from '../src/runtime/client-server.js';
import { encodeFrame } from '../src/transport/frame.js';
import YAML from 'yaml';

const crypto = jsBackend();
const TOKEN = 'client-token-0123456789abcdefghijklmnopqrstuvwxyz';
const ca = createCa({ commonName: 'test CA', days: 1 });
const leaf = issueServerCert(ca, { commonName: 'v1', hosts: ['localhost', '127.0.0.1'], days: 1 });
const request: ClientRequest = signRequest(crypto, new Uint8Array(32).fill(4), 'c', 1, new TextEncoder().encode('add x 1'));
const requestFrame = encodeFrame(encodeMessage(request));

const servers: ClientServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: { tls?: boolean; token?: string }): Promise<{ port: number; got: ClientRequest[]; rejected: ClientRejectReason[] }> {
  const got: ClientRequest[] = [];
  const rejected: ClientRejectReason[] = [];
  const s = new ClientServer({
    host: '127.0.0.1',
    port: 0,
    ...(opts.tls ? { tls: { cert: leaf.certPem, key: leaf.keyPem } } : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    onRequest: (r) => got.push(r),
    onReject: (r) => rejected.push(r),
  });
  servers.push(s);
  const { port } = await s.start();
  return { port, got, rejected };
}

/** Connect (TLS trusting the test CA, or plain), write frames, wait a little, close. */
async function send(port: number, useTls: boolean, frames: Uint8Array[]): Promise<void> {
  const sock: net.Socket = useTls ? tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }) : net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve) => sock.once(useTls ? 'secureConnect' : 'connect', () => resolve()));
  for (const f of frames) sock.write(f);
  await new Promise((r) => setTimeout(r, 150));
  sock.destroy();
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('client port: TLS and token', () => {
  it('takes requests after the token frame, over TLS', async () => {
    const s = await server({ tls: true, token: TOKEN });
    await send(s.port, true, [encodeFrame(clientAuthFrame(TOKEN)), requestFrame]);
    await until(() => s.got.length === 1);
    expect(s.got.map((r) => r.clientId)).toEqual(['c']);
    expect(s.rejected).toEqual([]);
  });

  it('closes a connection whose first frame is a wrong token or a request', async () => {
    const s = await server({ tls: true, token: TOKEN });
    await send(s.port, true, [encodeFrame(clientAuthFrame(`${TOKEN}x`)), requestFrame]);
    await send(s.port, true, [requestFrame]);
    await until(() => s.rejected.length === 2);
    expect(s.got).toEqual([]);
    expect(s.rejected).toEqual(['unauthorized', 'unauthorized']);
  });

  it('a plain TCP client gets nothing from a TLS port', async () => {
    const s = await server({ tls: true, token: TOKEN });
    await send(s.port, false, [encodeFrame(clientAuthFrame(TOKEN)), requestFrame]);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.got).toEqual([]);
  });

  it('without a token configured, requests flow as before (loopback default)', async () => {
    const s = await server({});
    await send(s.port, false, [requestFrame]);
    await until(() => s.got.length === 1);
    expect(s.got).toHaveLength(1);
  });

  it('BpciClient connects with tls.ca and token and its signed request arrives', async () => {
    const s = await server({ tls: true, token: TOKEN });
    const client = await BpciClient.connect({
      clientId: 'bc',
      validators: [{ host: '127.0.0.1', port: s.port, publicKey: new Uint8Array(32) }],
      crypto,
      tls: { ca: ca.certPem, servername: 'localhost' },
      token: TOKEN,
      timeoutMs: 300,
      retryMs: 1000,
    });
    await expect(client.submit(new TextEncoder().encode('add y 1'))).rejects.toThrow(/not accepted/); // nobody replies here
    client.close();
    expect(s.got.map((r) => [r.clientId, r.requestSeq])).toEqual([['bc', 1]]);
    expect(s.got[0]!.key).toEqual(client.publicKey);
    expect(s.rejected).toEqual([]);
  });
});

describe('node.client_port config', () => {
  const PK = `ed25519:${Buffer.from(crypto.ed25519PublicKey(new Uint8Array(32).fill(1))).toString('hex')}`;
  const doc = (clientEndpoint: string | undefined, clientPort?: Record<string, unknown>): string => YAML.stringify({
    validators: [{ validator_id: 'v1', stake: 1, endpoint: 'tcp://127.0.0.1:8081', ...(clientEndpoint ? { client_endpoint: clientEndpoint } : {}), public_key: PK }],
    consensus_thresholds: { minimum_validators: 1 },
    node: { validator_id: 'v1', key_file: 'k.json', data_dir: 'data', api: { host: '127.0.0.1', port: 8080 }, ...(clientPort ? { client_port: clientPort } : {}) },
  });
  const error = (d: string): ConfigError => {
    try {
      parseConfig(d, '/base');
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it('loopback needs neither; off loopback both, naming the key; insecure opts out', () => {
    expect(parseConfig(doc('tcp://127.0.0.1:9000'), '/base').node.clientPort).toEqual({ tls: undefined, token: undefined, insecure: false });
    const noTls = error(doc('tcp://10.0.0.1:9000'));
    expect(noTls.keyPath).toBe('node.client_port.tls');
    expect(noTls.message).toMatch(/its client_endpoint "10\.0\.0\.1" is not loopback.*node\.client_port\.insecure: true opts out/);
    expect(error(doc('tcp://10.0.0.1:9000', { tls: { cert_file: 'c', key_file: 'k' } })).keyPath).toBe('node.client_port.token_file');
    const ok = parseConfig(doc('tcp://10.0.0.1:9000', { tls: { cert_file: 'tls/c.pem', key_file: 'tls/k.pem' }, token_file: 'client-token' }), '/base').node.clientPort;
    expect(ok).toEqual({ tls: { certFile: '/base/tls/c.pem', keyFile: '/base/tls/k.pem' }, token: { file: '/base/client-token' }, insecure: false });
    expect(parseConfig(doc('tcp://10.0.0.1:9000', { insecure: true }), '/base').node.clientPort.insecure).toBe(true);
    expect(error(doc(undefined, { insecure: true })).keyPath).toBe('node.client_port');
    expect(error(doc('tcp://127.0.0.1:9000', { tls: { cert_file: 'c', key_file: 'k' }, token_file: 't', bogus: 1 })).keyPath).toBe('node.client_port.bogus');
  });
});
