import { describe, expect, it } from 'vitest';
import { checkConfig, configProblems, pskProblems, type CheckEnv, type Problem } from '../../src/daemon/check.js';
import { formatUsers, UserStore } from '../../src/daemon/users.js';

const FILE = '/etc/l2tpsec/l2tpsec.toml';
const USERS = '/etc/l2tpsec/users.toml';

function env(usersText: string | undefined, interfaces: string[] = ['eth0']): CheckEnv {
  return {
    readFile: (p) => {
      if (p === USERS && usersText !== undefined) return usersText;
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    },
    interfaceExists: (n) => interfaces.includes(n),
  };
}

const users = (() => {
  const s = new UserStore();
  s.add('alice', 'pw');
  return formatUsers(s);
})();

const GOOD = `[server]
listen = "0.0.0.0"
[ipsec]
psk = "q8Vf3kT9zLm2Rw7xNc4P"
[ppp]
pool = "10.40.0.0/24"
dns = ["1.1.1.1"]
[nat]
out_interface = "eth0"
`;

const at = (ps: Problem[], key: string): Problem | undefined => ps.find((p) => p.key === key);

describe('l2tpsec check: [limits]', () => {
  it('defaults give no warning; contradicting or harmful limits are warned about with their line', () => {
    expect(checkConfig(GOOD, FILE, env(users)).problems).toEqual([]);
    const text = `${GOOD}[limits]\nhalf_open_per_address = 2000\nike_sas_per_identity = 5\nchild_sas_per_ike_sa = 1\n`;
    const r = checkConfig(text, FILE, env(users));
    expect(r.errors).toBe(0);
    expect(at(r.problems, 'limits.half_open_per_address')).toMatchObject({ severity: 'warning', line: 11 });
    expect(at(r.problems, 'limits.ike_sas_per_identity')?.message).toMatch(/same identity/);
    expect(at(r.problems, 'limits.child_sas_per_ike_sa')?.message).toMatch(/rekey/);
    const bad = checkConfig(`${GOOD}[limits]\nsessions_per_tunnel = 0\n`, FILE, env(users));
    expect(at(bad.problems, 'limits.sessions_per_tunnel')).toMatchObject({ severity: 'error', message: 'must be between 1 and 65535, got 0' });
  });
});

describe('l2tpsec check', () => {
  it('a good config and users file: no problems', () => {
    const r = checkConfig(GOOD, FILE, env(users));
    expect(r.problems).toEqual([]);
    expect(r.users).toBe(1);
  });

  it('reports every config problem, each with its line and key', () => {
    const text = `[server]
listen = "1.2.3"
[ipsec]
psk = "q8Vf3kT9zLm2Rw7xNc4P"
[ppp]
pool = "10.40.0.0/31"
dns = ["8.8.8.8", "nope"]
[tun]
mtu = 9000
[nat]
out_interface = "eth9"
`;
    const r = checkConfig(text, FILE, env(users));
    expect(at(r.problems, 'server.listen')).toMatchObject({ severity: 'error', line: 2, file: FILE });
    expect(at(r.problems, 'ppp.pool')).toMatchObject({ severity: 'error', line: 6 });
    expect(at(r.problems, 'ppp.dns')).toMatchObject({ severity: 'error', line: 7 });
    expect(at(r.problems, 'tun.mtu')).toMatchObject({ severity: 'error', line: 9 });
    expect(at(r.problems, 'nat.out_interface')).toMatchObject({ severity: 'warning', line: 11 });
    expect(r.errors).toBe(4);
    expect(r.warnings).toBe(1);
  });

  it('DNS inside the pool other than the server address is a warning (nothing answers there)', () => {
    expect(configProblems(GOOD.replace('dns = ["1.1.1.1"]', 'dns = ["10.40.0.7"]'), FILE).problems).toEqual([]);
    const r = checkConfig(GOOD.replace('dns = ["1.1.1.1"]', 'dns = ["10.40.0.7", "10.40.0.1"]'), FILE, env(users));
    expect(r.problems.map((p) => [p.severity, p.key, p.line, p.message])).toEqual([['warning', 'ppp.dns', 7, expect.stringContaining('10.40.0.7 is inside the pool')]]);
    expect(r.errors).toBe(0);
  });

  it('an unknown control.group is an error naming the key', () => {
    const text = GOOD + '[control]\ngroup = "vpnadmins"\n';
    const e = { ...env(users), groupExists: (g: string) => g !== 'vpnadmins' };
    const r = checkConfig(text, FILE, e);
    expect(r.problems).toMatchObject([{ severity: 'error', key: 'control.group', line: text.split('\n').indexOf('group = "vpnadmins"') + 1, message: expect.stringContaining('no group "vpnadmins"') }]);
    expect(checkConfig(text, FILE, { ...e, groupExists: () => true }).errors).toBe(0);
  });

  it('PSK: a known default is an error, short or repetitive a warning', () => {
    expect(pskProblems('a long random secret', FILE, 4)).toMatchObject([{ severity: 'error', key: 'ipsec.psk', line: 4 }]);
    expect(pskProblems('Secret', FILE, 4)[0]!.severity).toBe('error');
    expect(pskProblems('k8Zq1', FILE, 4).map((p) => p.severity)).toEqual(['warning', 'warning']);
    expect(pskProblems('abababababababababababab', FILE, 4)).toMatchObject([{ severity: 'warning', message: expect.stringContaining('distinct') }]);
    expect(pskProblems('q8Vf3kT9zLm2Rw7xNc4P', FILE, 4)).toEqual([]);
    const r = checkConfig(GOOD.replace('q8Vf3kT9zLm2Rw7xNc4P', 'changeme'), FILE, env(users));
    expect(r.problems).toMatchObject([{ severity: 'error', key: 'ipsec.psk', line: 4 }]);
  });

  it('users file: every bad entry, and static addresses against the pool', () => {
    const u = `[users.alice]
nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
address = "10.40.0.1"

[users.bob]
nt_hash = "zz"

[users.carol]
nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
address = "10.50.0.9"

[users.dave]
nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
address = "10.40.0.255"

[users.erin]
nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
colour = "blue"
`;
    const r = checkConfig(GOOD, FILE, env(u));
    const byKey = new Map(r.problems.map((p) => [p.key, p]));
    expect(byKey.get('users.alice.address')).toMatchObject({ file: USERS, line: 3, message: expect.stringContaining('tunnel address') });
    expect(byKey.get('users.bob.nt_hash')).toMatchObject({ file: USERS, line: 6 });
    expect(byKey.get('users.carol.address')).toMatchObject({ line: 10, message: expect.stringContaining('outside the pool') });
    expect(byKey.get('users.dave.address')).toMatchObject({ line: 14, message: expect.stringContaining('broadcast') });
    expect(byKey.get('users.erin.colour')).toMatchObject({ line: 18 });
    expect(r.errors).toBe(5);
  });

  it('users file: a table defined twice is an error (as the daemon sees it); static address lines are exact', () => {
    const twice = `[users.alice]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n\n[users.alice]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n`;
    const r = checkConfig(GOOD, FILE, env(twice));
    expect(r.errors).toBe(1);
    expect(r.problems[0]).toMatchObject({ file: USERS, severity: 'error' });
    // bobby's address shares a prefix with bob's name and with alice's address: each gets its own line
    const u = `[users.bobby]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.25"\n\n[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.1"\n`;
    const r2 = checkConfig(GOOD, FILE, env(u));
    expect(r2.problems).toEqual([expect.objectContaining({ key: 'users.bob.address', line: 7, message: expect.stringContaining('tunnel address') })]);
  });

  it('a missing users file is a warning; no PSK is an error', () => {
    const r = checkConfig(GOOD, FILE, env(undefined));
    expect(r.problems).toMatchObject([{ severity: 'warning', file: USERS }]);
    const r2 = checkConfig('[ppp]\npool = "10.1.0.0/24"\n', FILE, env(users));
    expect(r2.problems).toMatchObject([{ severity: 'error', key: 'ipsec.psk' }]);
  });
});

describe('l2tpsec check (CLI)', () => {
  it('exit 1 on errors with every problem in --json, 0 with warnings', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { main } = await import('../../src/cli/main.js');
    const dir = await mkdtemp(join(tmpdir(), 'l2tpsec-check-'));
    const chunks: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((c: string | Uint8Array): boolean => {
      chunks.push(String(c));
      return true;
    }) as typeof process.stdout.write;
    try {
      await writeFile(join(dir, 'users.toml'), users);
      await writeFile(join(dir, 'bad.toml'), '[server]\nlisten = "x"\n[ipsec]\npsk = "secret"\n[tun]\nmtu = 1\n');
      await writeFile(join(dir, 'warn.toml'), '[ipsec]\npsk = "k8Zq1"\n');
      expect(await main(['check', '--config', join(dir, 'bad.toml'), '--json'])).toBe(1);
      const out = JSON.parse(chunks.join('')) as { ok: boolean; problems: Problem[] };
      expect(out.ok).toBe(false);
      expect(out.problems.map((p) => [p.key, p.line])).toEqual([['server.listen', 2], ['tun.mtu', 6], ['ipsec.psk', 4]]);
      chunks.length = 0;
      expect(await main(['check', '--config', join(dir, 'warn.toml')])).toBe(0);
      expect(chunks.join('')).toMatch(/warning: .*warn\.toml:2: ipsec\.psk: /);
    } finally {
      process.stdout.write = orig;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('check: a missing PSK does not hide the rest', () => {
  it('with an [ipsec] section and without one; line numbers stay the file\'s', () => {
    const a = checkConfig('[ipsec]\ndpd_idle = 30\n[tun]\nmtu = 1\n', FILE, env(users));
    expect(a.problems.map((p) => [p.key, p.line])).toEqual([['ipsec.psk', 1], ['tun.mtu', 4]]);
    const b = checkConfig('[tun]\nmtu = 1\n[log]\nlevel = "loud"\n', FILE, env(users));
    expect(b.problems.map((p) => [p.key, p.line])).toEqual([['ipsec.psk', undefined], ['tun.mtu', 2], ['log.level', 4]]);
    const c = checkConfig('[ipsec]\npsk = ""\n[tun]\nmtu = 1\n', FILE, env(users));
    expect(c.problems.map((p) => p.key)).toEqual(['ipsec.psk', 'tun.mtu']);
  });
});
