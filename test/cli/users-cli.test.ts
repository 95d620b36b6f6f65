import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadUsers } from '../../src/daemon/users.js';
import { makeBin } from './serve-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-users-cli-'));
const bin = makeBin(dir);
const cfg = join(dir, 'l2tpsec.toml');
writeFileSync(cfg, '[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[ppp]\npool = "10.40.0.0/24"\n[control]\nsocket = ""\n');

function cli(args: string[], input = 'a-long-password-1\n'): { code: number | null; out: string; err: string } {
  const r = spawnSync(join(bin, 'l2tpsec'), args, { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('l2tpsec users add --address', () => {
  it.each([
    ['10.41.0.9', 'outside the pool 10.40.0.0/24'],
    ['10.40.0.1', "the server's tunnel address"],
    ['10.40.0.255', "the pool's broadcast address"],
    ['10.40.0.0', "the pool's network address"],
  ])('refuses %s (%s) and adds nobody', async (address, why) => {
    const r = cli(['users', 'add', 'bob', '--address', address, '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(why);
    expect(r.err).toMatch(/hint: /);
    expect((await loadUsers(join(dir, 'users.toml'))).has('bob')).toBe(false);
  }, 30_000);

  it('takes a free address inside the pool', async () => {
    const r = cli(['users', 'add', 'carol', '--address', '10.40.0.20', '--config', cfg]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect((await loadUsers(join(dir, 'users.toml'))).get('carol')?.address).toBe('10.40.0.20');
  }, 30_000);
});

describe('l2tpsec users: names, passwords and ordinary errors', () => {
  it('refuses a name a device cannot type or L2TP/EAP may mangle (exit 2, the allowed characters named)', async () => {
    for (const name of ['bob smith', 'dom\\bob', 'jos\u00e9', '_bob', 'x'.repeat(65)]) {
      const r = cli(['users', 'add', name, '--config', cfg]);
      expect(r.code, name).toBe(2);
      expect(r.err.split('\n')[0]).toMatch(/^l2tpsec: user name .*(not allowed: use letters, digits and \. _ @ \+ -|must start with a letter or a digit|longer than 64)/);
    }
    expect((await loadUsers(join(dir, 'users.toml'))).list().map((u) => u.name)).not.toContain('bob smith');
  }, 60_000);

  it('warns about a short password (and still adds the user)', async () => {
    const r = cli(['users', 'add', 'dave@example.org', '--config', cfg], 'short1\n');
    expect(r.code).toBe(0);
    expect(r.err).toBe('l2tpsec: warning: a password of 6 characters can be guessed offline from a captured login; use 12 or more\n');
    expect((await loadUsers(join(dir, 'users.toml'))).has('dave@example.org')).toBe(true);
  }, 30_000);

  it('"user exists" and "no user" are one line and a hint, exit 1; --json gives {"error"} on stdout', () => {
    cli(['users', 'add', 'erin', '--config', cfg]);
    const again = cli(['users', 'add', 'erin', '--config', cfg]);
    expect(again.code).toBe(1);
    expect(again.err).toBe('l2tpsec: user "erin" exists\nhint: to change the password: l2tpsec users passwd erin\n');
    const none = cli(['users', 'passwd', 'nobody', '--config', cfg]);
    expect(none.code).toBe(1);
    expect(none.err).toBe('l2tpsec: no user "nobody"\nhint: l2tpsec users list shows them\n');
    const json = cli(['users', 'del', 'nobody', '--config', cfg, '--json']);
    expect(json.code).toBe(1);
    expect(json.err).toBe('');
    expect(JSON.parse(json.out)).toEqual({ error: 'no user "nobody"', hint: 'l2tpsec users list shows them' });
    const list = JSON.parse(cli(['users', 'list', '--config', cfg, '--json']).out) as Array<Record<string, unknown>>;
    expect(list.find((u) => u['name'] === 'erin')).toEqual({ name: 'erin', address: null, maxSessions: null });
  }, 60_000);
});
