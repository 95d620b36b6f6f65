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

describe('l2tpsec users: IKEv2 pre-shared keys', () => {
  const users = join(dir, 'users.toml');

  it('add --ikev2-psk makes a key, prints it once, stores it (0600) and never shows it again', async () => {
    const r = cli(['users', 'add', 'psk1', '--ikev2-psk', '--config', cfg]);
    expect(r.code).toBe(0);
    const m = /IKEv2 pre-shared key of psk1 \(shown this once; identifier: psk1\):\n([A-Za-z0-9_-]{32})\n$/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    const key = m![1]!;
    const store = await loadUsers(users);
    expect(store.get('psk1')!.ikev2Psk).toBe(key);
    // the password was read as well (EAP and L2TP keep working for this user)
    expect(store.get('psk1')!.ntHash.length).toBe(16);
    const { statSync } = await import('node:fs');
    expect(statSync(users).mode & 0o777).toBe(0o600);
    const list = cli(['users', 'list', '--config', cfg]);
    expect(list.out).toContain('psk1\tikev2_psk\n');
    expect(list.out).not.toContain(key);
    expect(cli(['users', 'list', '--config', cfg, '--json']).out).not.toContain(key);
  }, 60_000);

  it('add --ikev2-psk --json gives the key once in the answer', async () => {
    const r = cli(['users', 'add', 'psk2', '--ikev2-psk', '--config', cfg, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { added: string; ikev2Psk: string };
    expect(j.added).toBe('psk2');
    expect((await loadUsers(users)).get('psk2')!.ikev2Psk).toBe(j.ikev2Psk);
  }, 30_000);

  it('add --ikev2-psk-file reads the first line (its line end not part of the key) and prints nothing of it', async () => {
    const f = join(dir, 'key-a');
    writeFileSync(f, 'my own key, long enough!\r\n', { mode: 0o600 });
    const r = cli(['users', 'add', 'psk3', '--ikev2-psk-file', f, '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.out + r.err).not.toContain('my own key');
    expect((await loadUsers(users)).get('psk3')!.ikev2Psk).toBe('my own key, long enough!');
  }, 30_000);

  it('refuses a short key, a file of several lines, a missing file and both options, without echoing the key', async () => {
    const short = join(dir, 'key-short');
    writeFileSync(short, 'Short-Secret\n');
    const two = join(dir, 'key-two');
    writeFileSync(two, 'first-line-is-long-enough\nsecond-Secret-line\n');
    const a = cli(['users', 'add', 'psk4', '--ikev2-psk-file', short, '--config', cfg]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/^l2tpsec: --ikev2-psk-file: a key of 12 characters can be guessed offline/);
    expect(a.err).not.toContain('Short-Secret');
    const b = cli(['users', 'add', 'psk4', '--ikev2-psk-file', two, '--config', cfg]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/more than one line/);
    expect(b.err).not.toContain('Secret');
    const c = cli(['users', 'add', 'psk4', '--ikev2-psk-file', join(dir, 'nope'), '--config', cfg]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/cannot read .*ENOENT/);
    const d = cli(['users', 'add', 'psk4', '--ikev2-psk', '--ikev2-psk-file', short, '--config', cfg]);
    expect(d.code).toBe(2);
    expect((await loadUsers(users)).has('psk4')).toBe(false);
  }, 60_000);

  it('passwd --ikev2-psk / --ikev2-psk-file set only the key (the password stays); --remove-ikev2-psk drops it', async () => {
    cli(['users', 'add', 'psk5', '--config', cfg]);
    const before = (await loadUsers(users)).get('psk5')!;
    expect(before.ikev2Psk).toBeUndefined();
    const f = join(dir, 'key-b');
    writeFileSync(f, 'a key for an existing user\n');
    // stdin holds something else: it must not be taken as a password
    const r = cli(['users', 'passwd', 'psk5', '--ikev2-psk-file', f, '--config', cfg], 'other-password-123\n');
    expect(r.code).toBe(0);
    expect(r.out).toContain('changed the IKEv2 key of psk5');
    let u = (await loadUsers(users)).get('psk5')!;
    expect(u.ikev2Psk).toBe('a key for an existing user');
    expect(u.ntHash).toEqual(before.ntHash);
    const g = cli(['users', 'passwd', 'psk5', '--ikev2-psk', '--config', cfg]);
    const key = /\n([A-Za-z0-9_-]{32})\n$/.exec(g.out)![1];
    u = (await loadUsers(users)).get('psk5')!;
    expect(u.ikev2Psk).toBe(key);
    expect(u.ntHash).toEqual(before.ntHash);
    const rm = cli(['users', 'passwd', 'psk5', '--remove-ikev2-psk', '--config', cfg]);
    expect(rm.code).toBe(0);
    expect((await loadUsers(users)).get('psk5')!.ikev2Psk).toBeUndefined();
    expect(cli(['users', 'passwd', 'psk5', '--remove-ikev2-psk', '--ikev2-psk', '--config', cfg]).code).toBe(2);
  }, 90_000);
});
