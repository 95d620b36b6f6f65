import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertExistsError, certInit, CertProblem, loadServerIdentity, OID_IKE_INTERMEDIATE, OID_SERVER_AUTH } from '../../src/daemon/certs.js';
import { checkConfig, type CheckEnv } from '../../src/daemon/check.js';
import { IdType } from '../../src/ikev2/wire/constants.js';
import { decodeId, encodeId } from '../../src/ikev2/wire/id.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let dir = '';
let paths: Record<'ca.crt' | 'ca.key' | 'server.crt' | 'server.key', string>;
const made = new Date();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
  paths = await certInit(join(dir, 'l2tpsec.toml'), { name: 'vpn.example.net', ips: ['198.51.100.1', '203.0.113.7'] });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ikev2 = (over: Partial<{ certificate: string; privateKey: string; localId: string }> = {}) => ({
  ikev2: { enabled: true, certificate: paths['server.crt'], privateKey: paths['server.key'], localId: '', allowModp1024: true, ...over },
});

/** A self-signed RSA certificate with what a test needs (signed by forge; keys from node:crypto). */
function selfSigned(o: { cn: string; sans?: string[]; eku?: string[]; days?: number }): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const c = forge.pki.createCertificate();
  c.serialNumber = '01';
  c.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  c.validity.notBefore = new Date(Date.now() - 3600_000);
  c.validity.notAfter = new Date(Date.now() + (o.days ?? 100) * 86400_000);
  c.setSubject([{ shortName: 'CN', value: o.cn }]);
  c.setIssuer([{ shortName: 'CN', value: o.cn }]);
  const ext: object[] = [];
  if (o.sans) ext.push({ name: 'subjectAltName', altNames: o.sans.map((v) => ({ type: 2, value: v })) });
  if (o.eku) ext.push({ name: 'extKeyUsage', ...Object.fromEntries(o.eku.map((e) => [e, true])) });
  c.setExtensions(ext);
  c.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(c), key: keyPem };
}

function problemOf(f: () => unknown): CertProblem {
  try {
    f();
  } catch (e) {
    if (e instanceof CertProblem) return e;
    throw e;
  }
  throw new Error('no CertProblem thrown');
}

describe('cert init', () => {
  it('a CA (CA:true) and a server certificate it signed: SAN, EKU, 825 days, RSA 3072, SHA-256', () => {
    const ca = new X509Certificate(readFileSync(paths['ca.crt']));
    const server = new X509Certificate(readFileSync(paths['server.crt']));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.subject).toBe('CN=vpn.example.net');
    expect(server.subjectAltName).toBe('DNS:vpn.example.net, IP Address:198.51.100.1, IP Address:203.0.113.7');
    expect(server.keyUsage).toEqual([OID_SERVER_AUTH, OID_IKE_INTERMEDIATE]);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    // a certificate of another CA does not verify: the check above can fail
    const other = new X509Certificate(selfSigned({ cn: 'other' }).cert);
    expect(server.verify(other.publicKey)).toBe(false);
    const from = new Date(server.validFrom).getTime();
    const to = new Date(server.validTo).getTime();
    expect(to - from).toBe(825 * 86400_000);
    expect(from).toBeLessThanOrEqual(made.getTime());
    expect(from).toBeGreaterThan(made.getTime() - 2 * 3600_000);
    expect(new Date(ca.validTo).getTime()).toBeGreaterThan(to);
    expect(server.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(ca.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(server.checkPrivateKey(createPrivateKey(readFileSync(paths['server.key'])))).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKey(readFileSync(paths['ca.key'])))).toBe(true);
  });

  it('keys are mode 0600, certificates 0644', () => {
    expect(statSync(paths['ca.key']).mode & 0o777).toBe(0o600);
    expect(statSync(paths['server.key']).mode & 0o777).toBe(0o600);
    expect(statSync(paths['ca.crt']).mode & 0o777).toBe(0o644);
    expect(statSync(paths['server.crt']).mode & 0o777).toBe(0o644);
  });

  it.skipIf(!hasOpenssl)('openssl verifies the chain and reads the extensions', () => {
    expect(execFileSync('openssl', ['verify', '-CAfile', paths['ca.crt'], paths['server.crt']], { encoding: 'utf8' })).toContain(': OK');
    const text = execFileSync('openssl', ['x509', '-in', paths['server.crt'], '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, 1\.3\.6\.1\.5\.5\.8\.2\.2/);
    expect(text).toMatch(/DNS:vpn\.example\.net, IP Address:198\.51\.100\.1, IP Address:203\.0\.113\.7/);
    expect(text).toMatch(/CA:FALSE/);
    const caText = execFileSync('openssl', ['x509', '-in', paths['ca.crt'], '-noout', '-text'], { encoding: 'utf8' });
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });

  it('refuses to overwrite any existing file unless forced', async () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      writeFileSync(join(d, 'server.key'), 'mine');
      const err = await certInit(join(d, 'l2tpsec.toml'), { name: 'a.example' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CertExistsError);
      expect((err as CertExistsError).existing).toEqual([join(d, 'server.key')]);
      expect(readFileSync(join(d, 'server.key'), 'utf8')).toBe('mine');
      expect(() => statSync(join(d, 'ca.crt'))).toThrow();
      await certInit(join(d, 'l2tpsec.toml'), { name: 'a.example', days: 30, force: true });
      expect(statSync(join(d, 'server.key')).mode & 0o777).toBe(0o600);
      const c = new X509Certificate(readFileSync(join(d, 'server.crt')));
      expect(c.checkPrivateKey(createPrivateKey(readFileSync(join(d, 'server.key'))))).toBe(true);
      expect(new Date(c.validTo).getTime() - new Date(c.validFrom).getTime()).toBe(30 * 86400_000);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 30_000);

  it('--intermediate and --key-bits: server.crt holds the server certificate and the intermediate that signed it, RSA 4096; loadServerIdentity sends both', async () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      const p = await certInit(join(d, 'l2tpsec.toml'), { name: 'vpn.example.net', ips: ['198.51.100.1'], keyBits: 4096, intermediate: true });
      const blocks = readFileSync(p['server.crt'], 'utf8').match(/-----BEGIN CERTIFICATE-----/g) ?? [];
      expect(blocks.length).toBe(2);
      const id = loadServerIdentity({ ikev2: { enabled: true, certificate: p['server.crt'], privateKey: p['server.key'], localId: '', allowModp1024: true } });
      expect(id.warnings).toEqual([]);
      expect(id.certificates.length).toBe(2);
      const [server, mid] = id.certificates.map((der) => new X509Certificate(der)) as [X509Certificate, X509Certificate];
      const root = new X509Certificate(readFileSync(p['ca.crt']));
      expect(mid.ca).toBe(true);
      expect(mid.subject).toBe('CN=l2tpsec intermediate CA vpn.example.net');
      expect(server.checkIssued(mid)).toBe(true);
      expect(server.verify(mid.publicKey)).toBe(true);
      expect(server.verify(root.publicKey)).toBe(false);
      expect(mid.checkIssued(root)).toBe(true);
      expect(mid.verify(root.publicKey)).toBe(true);
      for (const c of [server, mid, root]) expect(c.publicKey.asymmetricKeyDetails?.modulusLength).toBe(4096);
      // what IKE_AUTH carries: more than a 1500-byte path takes in one datagram
      expect(id.certificates.reduce((n, c) => n + c.length, 0)).toBeGreaterThan(1500);
      if (hasOpenssl) {
        // openssl builds the path root → intermediate (pathlen 0) → server from server.crt's second block
        const midPem = join(d, 'mid.pem');
        writeFileSync(midPem, mid.toString());
        expect(execFileSync('openssl', ['verify', '-CAfile', p['ca.crt'], '-untrusted', midPem, p['server.crt']], { encoding: 'utf8' })).toContain(': OK');
        expect(execFileSync('openssl', ['x509', '-in', midPem, '-noout', '-text'], { encoding: 'utf8' })).toMatch(/CA:TRUE, pathlen:0/);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses a validity Apple does not take, and a name a certificate cannot carry', async () => {
    await expect(certInit(join(dir, 'x', 'l2tpsec.toml'), { name: 'a.example', days: 826 })).rejects.toThrow(/825/);
    await expect(certInit(join(dir, 'x', 'l2tpsec.toml'), { name: 'bad name' })).rejects.toThrow(/host name/);
  });
});

describe('loadServerIdentity', () => {
  it('the DER chain, the key and ID_FQDN of the first DNS SAN', () => {
    const id = loadServerIdentity(ikev2());
    const der = new X509Certificate(readFileSync(paths['server.crt'])).raw;
    expect(id.certificates).toEqual([der]);
    expect(id.localId).toEqual({ idType: IdType.ID_FQDN, protocol: 0, port: 0, data: Buffer.from('vpn.example.net') });
    expect(id.privateKey.asymmetricKeyType).toBe('rsa');
    expect(id.subject).toBe('CN=vpn.example.net');
    expect(id.sans).toEqual(['DNS:vpn.example.net', 'IP Address:198.51.100.1', 'IP Address:203.0.113.7']);
    expect(id.warnings).toEqual([]);
    // what IKE_AUTH does with it: the IDr payload body
    expect(decodeId(encodeId(id.localId))).toEqual({ idType: IdType.ID_FQDN, data: Buffer.from('vpn.example.net') });
  });

  it('local_id: an address is ID_IPV4_ADDR; one not among the SANs is a warning', () => {
    const id = loadServerIdentity(ikev2({ localId: '203.0.113.7' }));
    expect(id.localId).toEqual({ idType: IdType.ID_IPV4_ADDR, protocol: 0, port: 0, data: Buffer.from([203, 0, 113, 7]) });
    expect(id.warnings).toEqual([]);
    const other = loadServerIdentity(ikev2({ localId: 'other.example' }));
    expect(other.localId.data.toString()).toBe('other.example');
    expect(other.warnings.map((w) => [w.key, w.problem])).toEqual([['ikev2.local_id', expect.stringMatching(/"other.example" is not among/)]]);
  });

  it('only IP SANs: ID_IPV4_ADDR of the first', () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const keyPem = k.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const c = forge.pki.createCertificate();
      c.serialNumber = '02';
      c.publicKey = forge.pki.publicKeyFromPem(k.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      c.validity.notBefore = new Date(Date.now() - 3600_000);
      c.validity.notAfter = new Date(Date.now() + 86400_000 * 90);
      c.setSubject([{ shortName: 'CN', value: 'ip' }]);
      c.setIssuer([{ shortName: 'CN', value: 'ip' }]);
      c.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 7, ip: '192.0.2.9' }] }, { name: 'extKeyUsage', serverAuth: true }]);
      c.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
      writeFileSync(join(d, 'c.crt'), forge.pki.certificateToPem(c));
      writeFileSync(join(d, 'c.key'), keyPem);
      const id = loadServerIdentity(ikev2({ certificate: join(d, 'c.crt'), privateKey: join(d, 'c.key') }));
      expect(id.localId).toEqual({ idType: IdType.ID_IPV4_ADDR, protocol: 0, port: 0, data: Buffer.from([192, 0, 2, 9]) });
      // no SAN at all: nothing to be identified by
      const bare = selfSigned({ cn: 'bare', eku: ['serverAuth'] });
      writeFileSync(join(d, 'b.crt'), bare.cert);
      writeFileSync(join(d, 'b.key'), bare.key);
      expect(problemOf(() => loadServerIdentity(ikev2({ certificate: join(d, 'b.crt'), privateKey: join(d, 'b.key') }))).problem).toMatch(/no DNS or IPv4 subject alternative name/);
      expect(loadServerIdentity(ikev2({ certificate: join(d, 'b.crt'), privateKey: join(d, 'b.key'), localId: 'bare.example' })).localId.idType).toBe(IdType.ID_FQDN);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('missing files name the key and the file', () => {
    const p = problemOf(() => loadServerIdentity(ikev2({ certificate: join(dir, 'nope.crt') })));
    expect([p.key, p.file, p.problem]).toEqual(['ikev2.certificate', join(dir, 'nope.crt'), expect.stringMatching(/no such file.*cert init/)]);
    const k = problemOf(() => loadServerIdentity(ikev2({ privateKey: join(dir, 'nope.key') })));
    expect([k.key, k.file]).toEqual(['ikev2.private_key', join(dir, 'nope.key')]);
    expect(k.message).toBe(`${join(dir, 'nope.key')}: ikev2.private_key: ${k.problem}`);
  });

  it('a key that is not the certificate\'s; a chain that starts with the CA', () => {
    const p = problemOf(() => loadServerIdentity(ikev2({ privateKey: paths['ca.key'] })));
    expect([p.key, p.problem]).toEqual(['ikev2.private_key', expect.stringMatching(/does not belong to the certificate/)]);
    const wrongOrder = join(dir, 'wrong-order.crt');
    writeFileSync(wrongOrder, `${readFileSync(paths['ca.crt'], 'utf8')}${readFileSync(paths['server.crt'], 'utf8')}`);
    const lines = readFileSync(paths['ca.crt'], 'utf8').split('\n').length;
    const o = problemOf(() => loadServerIdentity(ikev2({ certificate: wrongOrder })));
    expect([o.key, o.file, o.line]).toEqual(['ikev2.certificate', wrongOrder, 1]);
    expect(o.problem).toBe(`the chain must start with the server's certificate: the key belongs to certificate 2 (CN=vpn.example.net, line ${lines})`);
    // the right order: the server's, then the CA; it links up, no warning
    const good = join(dir, 'good-order.crt');
    writeFileSync(good, `${readFileSync(paths['server.crt'], 'utf8')}${readFileSync(paths['ca.crt'], 'utf8')}`);
    const id = loadServerIdentity(ikev2({ certificate: good }));
    expect(id.certificates).toHaveLength(2);
    expect(id.warnings).toEqual([]);
  });

  it('expired and not yet valid', () => {
    const server = new X509Certificate(readFileSync(paths['server.crt']));
    const after = new Date(new Date(server.validTo).getTime() + 1000);
    expect(problemOf(() => loadServerIdentity(ikev2(), { now: after })).problem).toMatch(/^expired on /);
    const before = new Date(new Date(server.validFrom).getTime() - 1000);
    expect(problemOf(() => loadServerIdentity(ikev2(), { now: before })).problem).toMatch(/^not valid yet/);
    const soon = new Date(new Date(server.validTo).getTime() - 5 * 86400_000 - 1000);
    expect(loadServerIdentity(ikev2(), { now: soon }).warnings.map((w) => w.problem)).toEqual([expect.stringMatching(/^expires in 5 days/)]);
  });

  it('EKU: none or without serverAuth is a warning; a chain that does not link up is a warning', () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      const write = (name: string, c: { cert: string; key: string }): void => {
        writeFileSync(join(d, `${name}.crt`), c.cert);
        writeFileSync(join(d, `${name}.key`), c.key);
      };
      const load = (name: string, crt = `${name}.crt`) => loadServerIdentity(ikev2({ certificate: join(d, crt), privateKey: join(d, `${name}.key`) }));
      write('none', selfSigned({ cn: 'a', sans: ['a.example'] }));
      write('client', selfSigned({ cn: 'b', sans: ['b.example'], eku: ['clientAuth'] }));
      write('ike', selfSigned({ cn: 'c', sans: ['c.example'], eku: [OID_IKE_INTERMEDIATE] }));
      write('tls', selfSigned({ cn: 'd', sans: ['d.example'], eku: ['serverAuth'] }));
      expect(load('none').warnings.map((w) => w.problem)).toEqual([expect.stringMatching(/^no extended key usage/)]);
      expect(load('client').warnings.map((w) => w.problem)).toEqual([expect.stringMatching(/neither serverAuth .* nor ikeIntermediate/)]);
      expect(load('ike').warnings.map((w) => w.problem)).toEqual([expect.stringMatching(/lacks serverAuth/)]);
      expect(load('tls').warnings).toEqual([]);
      writeFileSync(join(d, 'mixed.crt'), readFileSync(join(d, 'tls.crt'), 'utf8') + readFileSync(join(d, 'none.crt'), 'utf8'));
      const mixed = load('tls', 'mixed.crt');
      expect(mixed.warnings.map((w) => [w.line, w.problem])).toEqual([[expect.any(Number), expect.stringMatching(/^certificate 2 \(line \d+\) did not sign certificate 1/)]]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasOpenssl)('an ECDSA certificate and key from elsewhere (openssl): read as they are', () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'ec.key'), '-out', join(d, 'ec.crt'), '-subj', '/CN=ec.example', '-days', '90', '-addext', 'subjectAltName=DNS:ec.example', '-addext', 'extendedKeyUsage=serverAuth'], { stdio: 'ignore' });
      const id = loadServerIdentity(ikev2({ certificate: join(d, 'ec.crt'), privateKey: join(d, 'ec.key') }));
      expect(id.privateKey.asymmetricKeyType).toBe('ec');
      expect(id.localId.data.toString()).toBe('ec.example');
      expect(id.warnings).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('files that are not a certificate or a usable key', () => {
    const d = mkdtempSync(join(tmpdir(), 'l2tpsec-certs-'));
    try {
      writeFileSync(join(d, 'text.crt'), 'hello\n');
      expect(problemOf(() => loadServerIdentity(ikev2({ certificate: join(d, 'text.crt') }))).problem).toMatch(/no PEM certificate/);
      writeFileSync(join(d, 'bad.crt'), `# comment\n\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
      const bad = problemOf(() => loadServerIdentity(ikev2({ certificate: join(d, 'bad.crt') })));
      expect([bad.line, bad.problem]).toEqual([3, expect.stringMatching(/not a readable X\.509 certificate/)]);
      const key = createPrivateKey(readFileSync(paths['server.key']));
      writeFileSync(join(d, 'enc.key'), key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }));
      expect(problemOf(() => loadServerIdentity(ikev2({ privateKey: join(d, 'enc.key') }))).problem).toMatch(/^an encrypted key/);
      writeFileSync(join(d, 'ed.key'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
      expect(problemOf(() => loadServerIdentity(ikev2({ privateKey: join(d, 'ed.key') }))).problem).toMatch(/^a ed25519 key: IKEv2 signs here with RSA or ECDSA/);
      writeFileSync(join(d, 'junk.key'), 'junk');
      expect(problemOf(() => loadServerIdentity(ikev2({ privateKey: join(d, 'junk.key') }))).problem).toMatch(/^not a readable private key/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('l2tpsec check: [ikev2]', () => {
  const base = `[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[nat]\nout_interface = "eth0"\n`;
  const users = '[users.alice]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n';
  const env = (): CheckEnv => ({
    readFile: (p) => (p === join(dir, 'users.toml') ? users : readFileSync(p, 'utf8')),
    interfaceExists: () => true,
  });

  it('the files cert init wrote: no problem; relative paths resolve against the config', () => {
    const r = checkConfig(`${base}[ikev2]\nenabled = true\ncertificate = "server.crt"\nprivate_key = "server.key"\n`, join(dir, 'l2tpsec.toml'), env());
    expect(r.problems).toEqual([]);
    expect(r.config!.ikev2).toEqual({ enabled: true, certificate: paths['server.crt'], privateKey: paths['server.key'], localId: '', allowModp1024: true });
  });

  it('enabled: a missing file and a key of another certificate are errors, EKU a warning', () => {
    const missing = checkConfig(`${base}[ikev2]\nenabled = true\ncertificate = "gone.crt"\n`, join(dir, 'l2tpsec.toml'), env());
    expect(missing.errors).toBe(1);
    expect(missing.problems).toEqual([{ severity: 'error', file: join(dir, 'gone.crt'), line: undefined, key: 'ikev2.certificate', message: expect.stringMatching(/no such file/) }]);
    const wrongKey = checkConfig(`${base}[ikev2]\nenabled = true\nprivate_key = "ca.key"\n`, join(dir, 'l2tpsec.toml'), env());
    expect(wrongKey.problems.map((p) => [p.severity, p.key, p.file])).toEqual([['error', 'ikev2.private_key', paths['ca.key']]]);
    const expired = checkConfig(`${base}[ikev2]\nenabled = true\n`, join(dir, 'l2tpsec.toml'), { ...env(), now: new Date(Date.now() + 900 * 86400_000) });
    expect(expired.problems.map((p) => [p.severity, p.key, p.line, p.message.slice(0, 10)])).toEqual([['error', 'ikev2.certificate', 1, 'expired on']]);
  });

  it('not enabled: the certificate is not looked at', () => {
    const r = checkConfig(`${base}[ikev2]\nenabled = false\ncertificate = "gone.crt"\n`, join(dir, 'l2tpsec.toml'), env());
    expect(r.problems).toEqual([]);
    expect(checkConfig(base, join(dir, 'l2tpsec.toml'), env()).problems).toEqual([]);
  });

  it('schema: local_id must be an address or a name, allow_modp1024 a boolean; each with its line', () => {
    const r = checkConfig(`${base}[ikev2]\nlocal_id = "a b"\nallow_modp1024 = "yes"\n`, join(dir, 'l2tpsec.toml'), env());
    expect(r.problems.map((p) => [p.key, p.line, p.message])).toEqual([
      ['ikev2.local_id', 6, 'an IPv4 address or a host name'],
      ['ikev2.allow_modp1024', 7, 'must be true or false, got string "yes"'],
    ]);
  });
});
