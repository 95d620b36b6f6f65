import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { initDefaultConfig } from '../../src/cli/serve.js';
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
});
