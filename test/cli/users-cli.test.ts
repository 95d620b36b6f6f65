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
