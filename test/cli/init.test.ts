import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { initDefaultConfig } from '../../src/cli/serve.js';
import { loadServerIdentity } from '../../src/daemon/certs.js';
import { checkConfig, hostCheckEnv } from '../../src/daemon/check.js';
import { loadConfig } from '../../src/daemon/config.js';
import { loadUsers } from '../../src/daemon/users.js';

function capture(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let printed = '';
  out.on('data', (d: Buffer) => (printed += d.toString()));
  return { out, text: () => printed };
}

describe('first run', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('with VPN_* variables: writes the env PSK, users and DNS into the generated files and does not print the secrets', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'etc', 'l2tpsec.toml');
    const c = capture();
    const r = await initDefaultConfig(file, { VPN_IPSEC_PSK: 'my "psk"', VPN_USER: 'alice', VPN_PASSWORD: 'pw1', VPN_ADDL_USERS: 'bob', VPN_ADDL_PASSWORDS: 'pw2', VPN_DNS_SRV1: '8.8.8.8' }, c.out);
    const cfg = loadConfig(file);
    expect(cfg.ipsec.psk).toBe('my "psk"');
    expect(cfg.ppp.dns).toEqual(['8.8.8.8']);
    const users = await loadUsers(cfg.ppp.usersFile);
    expect(users.list().map((u) => u.name)).toEqual(['alice', 'bob']);
    expect(users.lookup('bob')).toBeDefined();
    expect(c.text()).toContain('alice');
    expect(c.text()).not.toContain('my "psk"');
    expect(c.text()).not.toContain('pw1');
    expect(r.credentialsFile).toBeUndefined();
  });

  it('on a terminal: random PSK and vpnuser, printed once, no file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'l2tpsec.toml');
    const c = capture();
    const r = await initDefaultConfig(file, {}, c.out, { tty: true });
    const cfg = loadConfig(file);
    expect(cfg.ipsec.psk).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(c.text()).toContain(cfg.ipsec.psk);
    expect(r.credentialsFile).toBeUndefined();
    expect(existsSync(join(dir, 'initial-credentials.txt'))).toBe(false);
    expect(readFileSync(file, 'utf8')).toContain('dns = ["1.1.1.1", "9.9.9.9"]');
  });

  it('not on a terminal (journal, docker logs): the secrets go to a 0600 file, stdout names only the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'l2tpsec.toml');
    const c = capture();
    const r = await initDefaultConfig(file, {}, c.out);
    const cfg = loadConfig(file);
    expect(r.credentialsFile).toBe(join(dir, 'initial-credentials.txt'));
    expect(statSync(r.credentialsFile!).mode & 0o777).toBe(0o600);
    expect(readFileSync(r.credentialsFile!, 'utf8')).toContain(cfg.ipsec.psk);
    expect(c.text()).toContain(r.credentialsFile!);
    expect(c.text()).not.toContain(cfg.ipsec.psk);
  });

  it('makes a CA and a server certificate for the host name and enables [ikev2]; the output says where the CA is', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'l2tpsec.toml');
    const c = capture();
    const r = await initDefaultConfig(file, {}, c.out, { tty: true, hostname: 'vpn-host.example' });
    const cfg = loadConfig(file);
    expect(cfg.ikev2).toEqual({ enabled: true, certificate: join(dir, 'server.crt'), privateKey: join(dir, 'server.key'), localId: '', allowModp1024: true });
    expect(r.caFile).toBe(join(dir, 'ca.crt'));
    const id = loadServerIdentity(cfg);
    expect(id.localId.data.toString()).toBe('vpn-host.example');
    expect(id.sans).toEqual(['DNS:vpn-host.example']);
    expect(new X509Certificate(id.certificates[0]!).verify(new X509Certificate(readFileSync(r.caFile!)).publicKey)).toBe(true);
    expect(statSync(join(dir, 'server.key')).mode & 0o777).toBe(0o600);
    expect(c.text()).toContain(`install ${join(dir, 'ca.crt')} on the devices, server vpn-host.example`);
    // what serve checks before it starts: no problem with the certificate
    expect(checkConfig(readFileSync(file, 'utf8'), file, hostCheckEnv).problems.filter((p) => p.key?.startsWith('ikev2'))).toEqual([]);
  }, 30_000);

  it('not on a terminal: the CA path is printed and in the credentials file; a host name a certificate cannot carry becomes "l2tpsec"', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'l2tpsec.toml');
    const c = capture();
    const r = await initDefaultConfig(file, {}, c.out, { hostname: 'bad host' });
    expect(c.text()).toContain(`install ${join(dir, 'ca.crt')} on the devices, server l2tpsec`);
    expect(readFileSync(r.credentialsFile!, 'utf8')).toContain(join(dir, 'ca.crt'));
    expect(new X509Certificate(readFileSync(join(dir, 'server.crt'))).subjectAltName).toBe('DNS:l2tpsec');
  }, 30_000);

  it('certificates already next to the config are used, never overwritten; without the server pair IKEv2 stays off', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    writeFileSync(join(dir, 'server.crt'), 'mine');
    writeFileSync(join(dir, 'server.key'), 'mine too');
    const c = capture();
    await initDefaultConfig(join(dir, 'l2tpsec.toml'), {}, c.out, { tty: true });
    expect(readFileSync(join(dir, 'server.crt'), 'utf8')).toBe('mine');
    expect(loadConfig(join(dir, 'l2tpsec.toml')).ikev2.enabled).toBe(true);
    expect(existsSync(join(dir, 'ca.crt'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    writeFileSync(join(dir, 'ca.crt'), 'an old CA');
    await initDefaultConfig(join(dir, 'l2tpsec.toml'), {}, capture().out, { tty: true });
    expect(loadConfig(join(dir, 'l2tpsec.toml')).ikev2.enabled).toBe(false);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe('an old CA');
    expect(existsSync(join(dir, 'server.key'))).toBe(false);
  }, 30_000);
});
