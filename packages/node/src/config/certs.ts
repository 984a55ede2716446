// X.509 certificates for the validators' HTTPS APIs, made with node:crypto alone (issue 13 §2):
// one cluster CA and, per host, a server certificate it signs. Node 20 can make and sign keys but
// has no API that builds a certificate, and `openssl` is not on every machine an operator runs
// `bpci config init` from, so the few DER structures RFC 5280 needs are written here.
//
// Contract:
// - `createCa({ commonName, days })` -> an ECDSA P-256 CA (basicConstraints CA, pathLen 0,
//   keyUsage keyCertSign + cRLSign) as PEM certificate + PKCS#8 key.
// - `issueServerCert(ca, { commonName, hosts, days })` -> a P-256 server certificate for `hosts`
//   (each an IP address or a DNS name, in subjectAltName), extKeyUsage serverAuth, signed by `ca`.
// - Both are checked by parsing them back with X509Certificate and verifying the signature, so a
//   structural slip here fails loudly at generation, not at a client's first handshake.

import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import net from 'node:net';

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY_MS = 86_400_000;
/** Backdate notBefore a little so a peer whose clock is slightly behind accepts a fresh cert. */
const NOT_BEFORE_SKEW_MS = 3_600_000;
export const CERT_DAYS_MAX = 3650 * 3;

// ------------------------------------------------------------------ DER

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bitString = (b: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const explicit = (n: number, c: Buffer) => tlv(0xa0 | n, c);

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const group: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) group.unshift(0x80 | (v & 0x7f));
    out.push(...group);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.organization), utf8('bpci'))), set(seq(oid(OID.commonName), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/** SubjectPublicKeyInfo's key bits, hashed (RFC 5280 4.2.1.2 method 1). */
function keyId(spkiDer: Buffer): Buffer {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }; for P-256 the BIT STRING's value ends the
  // structure: the 65-byte uncompressed point.
  const bits = spkiDer.subarray(spkiDer.length - 65);
  return createHash('sha1').update(bits).digest();
}

function generalName(host: string): Buffer {
  if (net.isIPv4(host)) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
  if (net.isIPv6(host)) {
    const halves = host.split('::');
    const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
    const head = parse(halves[0]!);
    const tail = halves.length > 1 ? parse(halves[1]!) : [];
    const words = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
    const b = Buffer.alloc(16);
    words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
    return tlv(0x87, b);
  }
  return tlv(0x82, Buffer.from(host, 'ascii'));
}

interface TbsInput {
  readonly subject: string;
  readonly issuer: string;
  readonly days: number;
  readonly subjectKey: KeyObject;
  readonly issuerKey: KeyObject;
  readonly issuerSpki: Buffer;
  readonly extensions: Buffer[];
}

function build(t: TbsInput): string {
  if (!Number.isInteger(t.days) || t.days < 1 || t.days > CERT_DAYS_MAX) throw new RangeError(`certificate days must be 1..${CERT_DAYS_MAX}, got ${t.days}`);
  const spki = t.subjectKey.export({ type: 'spki', format: 'der' });
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const exts = [
    ...t.extensions,
    extension(OID.subjectKeyId, false, octets(keyId(spki))),
    extension(OID.authorityKeyId, false, seq(tlv(0x80, keyId(t.issuerSpki)))),
  ];
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(t.issuer),
    seq(time(new Date(now - NOT_BEFORE_SKEW_MS)), time(new Date(now + t.days * DAY_MS))),
    name(t.subject),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, t.issuerKey); // ECDSA: DER Ecdsa-Sig-Value
  const der = seq(tbs, algorithm, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function p256(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export function createCa(opts: { commonName: string; days: number }): PemPair {
  const { privateKey, publicKey } = p256();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const certPem = build({
    subject: opts.commonName,
    issuer: opts.commonName,
    days: opts.days,
    subjectKey: publicKey,
    issuerKey: privateKey,
    issuerSpki: spki,
    extensions: [
      extension(OID.basicConstraints, true, seq(bool(true), integer(Buffer.from([0])))),
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
    ],
  });
  const cert = new X509Certificate(certPem);
  if (!cert.ca || !cert.verify(publicKey)) throw new Error('internal error: the generated CA certificate does not verify');
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export function issueServerCert(ca: PemPair, opts: { commonName: string; hosts: readonly string[]; days: number }): PemPair {
  if (opts.hosts.length === 0) throw new RangeError('a server certificate needs at least one host');
  const caCert = new X509Certificate(ca.certPem);
  const caKey = caCert.publicKey;
  const { privateKey, publicKey } = p256();
  const certPem = build({
    subject: opts.commonName,
    issuer: caCert.subject.split('\n').find((l) => l.startsWith('CN='))!.slice(3),
    days: opts.days,
    subjectKey: publicKey,
    issuerKey: createPrivateKey(ca.keyPem),
    issuerSpki: caKey.export({ type: 'spki', format: 'der' }),
    extensions: [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, seq(...[...new Set(opts.hosts)].map(generalName))),
    ],
  });
  const cert = new X509Certificate(certPem);
  if (!cert.checkIssued(caCert) || !cert.verify(caKey)) throw new Error('internal error: the generated server certificate does not verify against its CA');
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
