import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { initDefaultConfig } from '../../src/cli/main.js';
import { loadConfig } from '../../src/daemon/config.js';
import { loadUsers } from '../../src/daemon/users.js';

describe('first run with VPN_* variables', () => {
  it('writes the env PSK, users and DNS into the generated files and does not print the secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'etc', 'l2tpsec.toml');
    const out = new PassThrough();
    let printed = '';
    out.on('data', (d: Buffer) => (printed += d.toString()));
    await initDefaultConfig(file, { VPN_IPSEC_PSK: 'my "psk"', VPN_USER: 'alice', VPN_PASSWORD: 'pw1', VPN_ADDL_USERS: 'bob', VPN_ADDL_PASSWORDS: 'pw2', VPN_DNS_SRV1: '8.8.8.8' }, out);
    const cfg = loadConfig(file);
    expect(cfg.ipsec.psk).toBe('my "psk"');
    expect(cfg.ppp.dns).toEqual(['8.8.8.8']);
    const users = await loadUsers(cfg.ppp.usersFile);
    expect(users.list().map((u) => u.name)).toEqual(['alice', 'bob']);
    expect(users.lookup('bob')).toBeDefined();
    expect(printed).toContain('alice');
    expect(printed).not.toContain('my "psk"');
    expect(printed).not.toContain('pw1');
  });
  it('without env: random PSK and vpnuser, printed once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-init-'));
    const file = join(dir, 'l2tpsec.toml');
    const out = new PassThrough();
    let printed = '';
    out.on('data', (d: Buffer) => (printed += d.toString()));
    await initDefaultConfig(file, {}, out);
    const cfg = loadConfig(file);
    expect(cfg.ipsec.psk).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(printed).toContain(cfg.ipsec.psk);
    expect(readFileSync(file, 'utf8')).toContain('dns = ["1.1.1.1", "9.9.9.9"]');
  });
});
