import { createPrivateKey, generateKeyPair, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { formatIPv4, parseIPv4 } from '../core/ipv4.js';
import type { Config } from './config.js';

/**
 * The IKEv2 server's certificate: `l2tpsec cert init` makes a CA and a server certificate
 * (node-forge lays out the X.509 structures, node:crypto makes the keys and signs), and
 * `loadServerIdentity` reads the configured PEM chain and key back for IKE_AUTH, checked
 * with node:crypto: the key belongs to the first certificate, the dates, the EKU.
 */

export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_IKE_INTERMEDIATE = '1.3.6.1.5.5.8.2.2';
/** Longest validity Apple accepts for a server certificate (TLS, and the IKEv2 client checks the same). */
export const MAX_SERVER_DAYS = 825;
export const CA_DAYS = 3650;
export const CERT_FILES = ['ca.crt', 'ca.key', 'server.crt', 'server.key'] as const;

/** Identification Data types of RFC 7296 §3.5 that we send as IDr. */
export const ID_IPV4_ADDR = 1;
export const ID_FQDN = 2;

/** The IDr payload's fields (the shape src/ikev2's IdPayload has; protocol and port are RESERVED in IKEv2). */
export interface LocalId {
  idType: number;
  protocol: 0;
  port: 0;
  data: Buffer;
}

export function isIPv4Address(v: string): boolean {
  try {
    parseIPv4(v);
    return true;
  } catch {
    return false;
  }
}

// ---- making them ------------------------------------------------------------------------

/** RSA modulus sizes `cert init` makes (3072 unless told). */
export const KEY_BITS = [2048, 3072, 4096] as const;
export type KeyBits = (typeof KEY_BITS)[number];

export interface CertInitOptions {
  name: string;
  ips?: string[];
  days?: number;
  now?: Date;
  /** RSA modulus of all keys made (default 3072). */
  keyBits?: KeyBits;
  /**
   * CA → intermediate CA → server, as public CAs issue: server.crt then holds the server's
   * certificate and the intermediate's (the chain IKE_AUTH sends); the intermediate's key
   * is not kept (ca.key can make another).
   */
  intermediate?: boolean;
}

export interface MadeCertificates {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

/** A host name as a certificate's dNSName can carry it (labels of letters, digits, '-', '_'). */
export function isHostName(name: string): boolean {
  return name.length <= 253 && /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/.test(name);
}

const rsaPair = promisify(generateKeyPair);

async function rsaKey(bits: KeyBits): Promise<{ privateKey: KeyObject; publicPem: string }> {
  const { privateKey, publicKey } = await rsaPair('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A positive serial of 16 random bytes (RFC 5280: at most 20 octets, non-negative). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

const utf8 = forge.asn1.Type.UTF8;

/** Signs the certificate with node:crypto (sha256WithRSAEncryption) instead of forge's own RSA. */
function signWith(cert: forge.pki.Certificate, key: KeyObject): void {
  const oid = forge.pki.oids['sha256WithRSAEncryption']!;
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  // forge's cert.sign() minus its RSA: the TBSCertificate as forge lays it out, signed here
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = sign('sha256', der, key).toString('binary');
}

type Name = forge.pki.CertificateField[];

/** A CA certificate for `subject`, signed by `issuer` (itself for the root); its key identifier for the next one's AKI. */
function caCertificate(o: { subject: Name; issuer: Name; publicPem: string; signer: KeyObject; notBefore: Date; issuerKeyId?: string; pathLen?: number }): { cert: forge.pki.Certificate; keyId: string } {
  const c = forge.pki.createCertificate();
  c.serialNumber = serial();
  c.publicKey = forge.pki.publicKeyFromPem(o.publicPem);
  c.validity.notBefore = o.notBefore;
  c.validity.notAfter = new Date(o.notBefore.getTime() + CA_DAYS * 86400_000);
  c.setSubject(o.subject);
  c.setIssuer(o.issuer);
  c.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, ...(o.pathLen !== undefined ? { pathLenConstraint: o.pathLen } : {}) },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    ...(o.issuerKeyId !== undefined ? [{ name: 'authorityKeyIdentifier', keyIdentifier: o.issuerKeyId }] : []),
  ]);
  signWith(c, o.signer);
  return { cert: c, keyId: c.generateSubjectKeyIdentifier().getBytes() };
}

/**
 * A CA (RSA 3072 unless `keyBits`, SHA-256, 10 years, CA:true, keyCertSign + cRLSign) and a
 * server certificate it signed for `name` and `ips` (SAN dNSName + iPAddress, EKU serverAuth
 * and ikeIntermediate, digitalSignature + keyEncipherment, CN = name): what Apple, Windows,
 * Android and strongSwan all take. With `intermediate`, an intermediate CA (pathlen 0)
 * signs the server certificate and follows it in `serverCert`.
 */
export async function makeCertificates(o: CertInitOptions): Promise<MadeCertificates> {
  const days = o.days ?? MAX_SERVER_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_SERVER_DAYS) throw new Error(`days must be 1 to ${MAX_SERVER_DAYS} (Apple refuses longer), got ${days}`);
  if (!isHostName(o.name)) throw new Error(`not a host name: ${JSON.stringify(o.name)}`);
  const bits = o.keyBits ?? 3072;
  if (!KEY_BITS.includes(bits)) throw new Error(`key bits must be one of ${KEY_BITS.join(', ')}, got ${String(bits)}`);
  const ips = (o.ips ?? []).map((ip) => formatIPv4(parseIPv4(ip)));
  // an hour back: a device whose clock is a little behind still takes it
  const notBefore = new Date((o.now ?? new Date()).getTime() - 3600_000);
  notBefore.setMilliseconds(0);
  const [ca, server, mid] = await Promise.all([rsaKey(bits), rsaKey(bits), o.intermediate ? rsaKey(bits) : undefined]);

  const caName = [{ shortName: 'CN', value: `l2tpsec CA ${o.name}`, valueTagClass: utf8 }] as unknown as Name;
  const root = caCertificate({ subject: caName, issuer: caName, publicPem: ca.publicPem, signer: ca.privateKey, notBefore });
  let issuer = { name: caName, keyId: root.keyId, key: ca.privateKey };
  let midCert: forge.pki.Certificate | undefined;
  if (mid) {
    const midName = [{ shortName: 'CN', value: `l2tpsec intermediate CA ${o.name}`, valueTagClass: utf8 }] as unknown as Name;
    const m = caCertificate({ subject: midName, issuer: caName, publicPem: mid.publicPem, signer: ca.privateKey, notBefore, issuerKeyId: root.keyId, pathLen: 0 });
    midCert = m.cert;
    issuer = { name: midName, keyId: m.keyId, key: mid.privateKey };
  }

  const cert = forge.pki.createCertificate();
  cert.serialNumber = serial();
  cert.publicKey = forge.pki.publicKeyFromPem(server.publicPem);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + days * 86400_000);
  cert.setSubject([{ shortName: 'CN', value: o.name, valueTagClass: utf8 }] as unknown as Name);
  cert.setIssuer(issuer.name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, [OID_IKE_INTERMEDIATE]: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: o.name }, ...ips.map((ip) => ({ type: 7, ip }))] },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuer.keyId },
  ]);
  signWith(cert, issuer.key);

  const keyPem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
  const serverCert = forge.pki.certificateToPem(cert) + (midCert ? forge.pki.certificateToPem(midCert) : '');
  return { caCert: forge.pki.certificateToPem(root.cert), caKey: keyPem(ca.privateKey), serverCert, serverKey: keyPem(server.privateKey) };
}

/** The files `cert init` writes next to the config; those that exist already. */
export function certFilePaths(configFile: string): { dir: string; paths: Record<(typeof CERT_FILES)[number], string>; existing: string[] } {
  const dir = dirname(configFile);
  const paths = Object.fromEntries(CERT_FILES.map((f) => [f, join(dir, f)])) as Record<(typeof CERT_FILES)[number], string>;
  return { dir, paths, existing: Object.values(paths).filter((p) => existsSync(p)) };
}

/** Writes a file whole (temporary name, then rename) with `mode`, whatever was there. */
function writeWhole(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode, flag: 'w' });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * `cert init`: makes the CA and server certificate and writes ca.crt, ca.key, server.crt
 * and server.key next to the config (keys 0600, certificates 0644). Refuses when any of
 * them exists, unless `force`. Returns the paths.
 */
export async function certInit(configFile: string, o: CertInitOptions & { force?: boolean }): Promise<Record<(typeof CERT_FILES)[number], string>> {
  const { dir, paths, existing } = certFilePaths(configFile);
  if (existing.length > 0 && !o.force) throw new CertExistsError(existing);
  const made = await makeCertificates(o);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeWhole(paths['ca.key'], made.caKey, 0o600);
  writeWhole(paths['server.key'], made.serverKey, 0o600);
  writeWhole(paths['ca.crt'], made.caCert, 0o644);
  writeWhole(paths['server.crt'], made.serverCert, 0o644);
  return paths;
}

export class CertExistsError extends Error {
  override readonly name: string = 'CertExistsError';
  constructor(readonly existing: string[]) {
    super(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}`);
  }
}

// ---- reading them back --------------------------------------------------------------------

export interface ServerIdentity {
  /** DER, the server's first, as the CERT payloads carry them. */
  certificates: Buffer[];
  privateKey: KeyObject;
  /** IDr: ID_FQDN or ID_IPV4_ADDR. */
  localId: LocalId;
  notAfter: Date;
  subject: string;
  /** "DNS:name", "IP Address:a.b.c.d", as node:crypto lists them. */
  sans: string[];
  /** Things a client may refuse, not reasons to stop (no serverAuth EKU, expiring soon, local_id not in the SANs). */
  warnings: CertProblem[];
}

/** A problem with the certificate or key: the config key it comes from, the file and line where it makes sense. */
export class CertProblem extends Error {
  override readonly name: string = 'CertProblem';
  constructor(
    readonly key: 'ikev2.certificate' | 'ikev2.private_key' | 'ikev2.local_id',
    readonly file: string,
    readonly line: number | undefined,
    readonly problem: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${key}: ${problem}`);
  }
}

export interface IdentityEnv {
  readFile?: (path: string) => string;
  now?: Date;
}

/** The PEM CERTIFICATE blocks of a text, each with the line of its BEGIN. */
export function pemCertificates(text: string): Array<{ der: Buffer; line: number }> {
  const out: Array<{ der: Buffer; line: number }> = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ der: Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'), line });
  }
  return out;
}

function sanList(c: X509Certificate): string[] {
  return (c.subjectAltName ?? '').split(/,\s*/).filter((s) => s.length > 0);
}

/** The local ID: `local_id` when set (an IPv4 address or a name), else the first DNS SAN, else the first IP SAN. */
function localIdOf(configured: string, sans: string[], certFile: string): { id: LocalId; text: string } {
  let text = configured;
  if (!text) {
    const dns = sans.find((s) => s.startsWith('DNS:'));
    const ip = sans.find((s) => /^IP Address:\d+\.\d+\.\d+\.\d+$/.test(s));
    if (dns) text = dns.slice(4);
    else if (ip) text = ip.slice('IP Address:'.length);
    else throw new CertProblem('ikev2.certificate', certFile, undefined, 'the certificate has no DNS or IPv4 subject alternative name to identify the server by: set ikev2.local_id, or use a certificate with the host name in its SANs');
  }
  let addr: number | undefined;
  try {
    addr = parseIPv4(text);
  } catch {
    addr = undefined;
  }
  if (addr !== undefined) {
    const data = Buffer.alloc(4);
    data.writeUInt32BE(addr >>> 0);
    return { id: { idType: ID_IPV4_ADDR, protocol: 0, port: 0, data }, text };
  }
  return { id: { idType: ID_FQDN, protocol: 0, port: 0, data: Buffer.from(text, 'ascii') }, text };
}

/**
 * What IKE_AUTH needs from `cfg.ikev2`: the DER chain (server first), the private key and
 * the local ID. Throws a CertProblem naming the config key and file for a missing file, a
 * file without a certificate or key, a key that is not the first certificate's, a
 * certificate out of its dates; what clients may refuse comes back in `warnings`.
 */
export function loadServerIdentity(cfg: Pick<Config, 'ikev2'>, env: IdentityEnv = {}): ServerIdentity {
  const readFile = env.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const now = env.now ?? new Date();
  const { certificate: certFile, privateKey: keyFile } = cfg.ikev2;
  const read = (key: 'ikev2.certificate' | 'ikev2.private_key', file: string): string => {
    try {
      return readFile(file);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const hint = code === 'ENOENT' ? 'no such file (l2tpsec cert init --name HOST --config FILE makes one)' : `cannot read: ${(e as Error).message}`;
      throw new CertProblem(key, file, undefined, hint);
    }
  };
  const certText = read('ikev2.certificate', certFile);
  const keyText = read('ikev2.private_key', keyFile);

  const blocks = pemCertificates(certText);
  if (blocks.length === 0) throw new CertProblem('ikev2.certificate', certFile, undefined, 'no PEM certificate in it (-----BEGIN CERTIFICATE-----)');
  const chain = blocks.map(({ der, line }) => {
    try {
      return { cert: new X509Certificate(der), line };
    } catch (e) {
      throw new CertProblem('ikev2.certificate', certFile, line, `not a readable X.509 certificate: ${(e as Error).message}`);
    }
  });

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyText);
  } catch (e) {
    const msg = (e as Error).message;
    const encrypted = /passphrase/i.test(msg) || /ENCRYPTED/.test(keyText);
    throw new CertProblem('ikev2.private_key', keyFile, undefined, encrypted ? 'an encrypted key: the daemon cannot ask for a passphrase (openssl pkey -in KEY -out KEY.plain)' : `not a readable private key: ${msg}`);
  }
  const kind = privateKey.asymmetricKeyType;
  if (kind !== 'rsa' && kind !== 'ec') throw new CertProblem('ikev2.private_key', keyFile, undefined, `a ${kind ?? 'unknown'} key: IKEv2 signs here with RSA or ECDSA keys only`);

  const first = chain[0]!;
  if (!first.cert.checkPrivateKey(privateKey)) {
    const owner = chain.findIndex((c) => c.cert.checkPrivateKey(privateKey));
    if (owner > 0) {
      throw new CertProblem('ikev2.certificate', certFile, first.line, `the chain must start with the server's certificate: the key belongs to certificate ${owner + 1} (${chain[owner]!.cert.subject.replace(/\n/g, ', ')}, line ${chain[owner]!.line})`);
    }
    throw new CertProblem('ikev2.private_key', keyFile, undefined, `does not belong to the certificate in ${certFile} (${first.cert.subject.replace(/\n/g, ', ')})`);
  }

  const notBefore = new Date(first.cert.validFrom);
  const notAfter = new Date(first.cert.validTo);
  if (now < notBefore) throw new CertProblem('ikev2.certificate', certFile, first.line, `not valid yet: valid from ${notBefore.toISOString()} (is the clock right?)`);
  if (now > notAfter) throw new CertProblem('ikev2.certificate', certFile, first.line, `expired on ${notAfter.toISOString()}`);

  const warnings: CertProblem[] = [];
  const warn = (problem: string, line = first.line): void => void warnings.push(new CertProblem('ikev2.certificate', certFile, line, problem));
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / 86400_000);
  if (daysLeft < 30) warn(`expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${notAfter.toISOString()})`);
  const eku = first.cert.keyUsage;
  if (!eku || eku.length === 0) warn(`no extended key usage: Windows and macOS want serverAuth (${OID_SERVER_AUTH}), and ikeIntermediate (${OID_IKE_INTERMEDIATE}) helps older Windows`);
  else if (!eku.includes(OID_SERVER_AUTH) && !eku.includes(OID_IKE_INTERMEDIATE)) warn(`its extended key usage has neither serverAuth (${OID_SERVER_AUTH}) nor ikeIntermediate (${OID_IKE_INTERMEDIATE}): Windows and macOS refuse it`);
  else if (!eku.includes(OID_SERVER_AUTH)) warn(`its extended key usage lacks serverAuth (${OID_SERVER_AUTH}): macOS and iOS refuse it`);
  for (let i = 0; i + 1 < chain.length; i++) {
    const [c, issuer] = [chain[i]!, chain[i + 1]!];
    if (!c.cert.checkIssued(issuer.cert) || !c.cert.verify(issuer.cert.publicKey)) warn(`certificate ${i + 2} (line ${issuer.line}) did not sign certificate ${i + 1}: list the chain from the server's certificate up to the root`, issuer.line);
  }

  const sans = sanList(first.cert);
  const { id, text } = localIdOf(cfg.ikev2.localId, sans, certFile);
  if (cfg.ikev2.localId && !sans.includes(`DNS:${text}`) && !sans.includes(`IP Address:${text}`)) {
    warnings.push(new CertProblem('ikev2.local_id', certFile, undefined, `${JSON.stringify(text)} is not among the certificate's subject alternative names (${sans.join(', ') || 'none'}): clients that check the server's ID against it refuse`));
  }
  return { certificates: chain.map((c) => Buffer.from(c.cert.raw)), privateKey, localId: id, notAfter, subject: first.cert.subject, sans, warnings };
}
