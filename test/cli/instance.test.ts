import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireInstanceLock, checkPortsFree, InstanceError, queryInstance } from '../../src/daemon/instance.js';
import { createNetns, netnsSkipReason } from '../io/tun-netns.js';
import { addUplink, inNetns, makeBin, run } from './serve-helpers.js';

const lockName = (): string => `l2tpsec-test/${process.pid}/${randomBytes(4).toString('hex')}`;

describe('instance lock', () => {
  it('a second taker is refused with the holder named (pid, config, tun); free again after release', async () => {
    const name = lockName();
    const a = await acquireInstanceLock({ config: '/etc/a.toml', tun: 'tunA' }, name);
    expect(await queryInstance(name)).toMatchObject({ pid: process.pid, config: '/etc/a.toml', tun: 'tunA' });
    const err = await acquireInstanceLock({ config: '/etc/b.toml', tun: 'tunB' }, name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InstanceError);
    expect((err as Error).message).toContain(`l2tpsec pid ${process.pid} (config /etc/a.toml, tun tunA`);
    expect((err as Error).message).toContain('already running');
    await a.release();
    const b = await acquireInstanceLock({ config: '/etc/b.toml', tun: 'tunB' }, name);
    await b.release();
  });

  it('is free again the moment its holder is killed with SIGKILL (no stale lock)', async () => {
    const name = lockName();
    const child = spawn(process.execPath, ['-e', `require('net').createServer(c=>c.end('{}')).listen('\\0${name}',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    await expect(acquireInstanceLock({ config: 'x', tun: 'y' }, name)).rejects.toThrow(/already running/);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const lock = await acquireInstanceLock({ config: 'x', tun: 'y' }, name);
    await lock.release();
  });
});

describe('port check before the host is touched', () => {
  it('a held UDP port is refused naming the process that holds it, with the doctor hint', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
    const port = s.address().port;
    try {
      const err = await checkPortsFree('127.0.0.1', [port]).then(
        () => undefined,
        (e: unknown) => e as InstanceError,
      );
      expect(err).toBeInstanceOf(InstanceError);
      expect(err!.message).toMatch(new RegExp(`UDP 127\\.0\\.0\\.1:${port} is in use by .*\\(pid ${process.pid}\\)`));
      expect(err!.hint).toBe('see: l2tpsec doctor');
    } finally {
      s.close();
    }
    await expect(checkPortsFree('127.0.0.1', [port])).resolves.toBeUndefined();
  });
});

describe('serve refuses a config that check rejects', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('prints every error (well-known PSK, bad static address, unknown group), exits 1 and starts nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-refuse-'));
    const cfg = join(dir, 'l2tpsec.toml');
    writeFileSync(cfg, '[ipsec]\npsk = "vpn"\n[ppp]\npool = "10.40.0.0/24"\n[control]\ngroup = "no-such-group-l2tpsec"\n');
    writeFileSync(join(dir, 'users.toml'), '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.1"\n');
    const bin = makeBin(dir);
    const r = run([join(bin, 'l2tpsec'), 'serve', '--config', cfg], { PATH: process.env['PATH'] });
    expect(await r.exited).toBe(1);
    const err = r.err();
    expect(err).toContain(`error: ${cfg}:2: ipsec.psk: a well-known example or default pre-shared key`);
    expect(err).toContain(`error: ${join(dir, 'users.toml')}:3: users.bob.address: 10.40.0.1 is the server's tunnel address`);
    expect(err).toContain(`error: ${cfg}:6: control.group: no group "no-such-group-l2tpsec"`);
    expect(err).toContain('3 errors: not starting');
    expect(r.out()).not.toMatch(/daemon\.start/);
  }, 30_000);

  it('a bad VPN_* variable on the first start: one line naming it, exit 1, no config left half-written', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-refuse-'));
    const cfg = join(dir, 'etc', 'l2tpsec.toml');
    const bin = makeBin(dir);
    const r = run([join(bin, 'l2tpsec'), 'serve', '--config', cfg], { PATH: process.env['PATH'], VPN_USER: 'alice' });
    expect(await r.exited).toBe(1);
    expect(r.err()).toBe('l2tpsec: first run: VPN_USER is set but VPN_PASSWORD is not\nhint: the VPN_* variables are read only on the first start; see "Coming from hwdsl2/setup-ipsec-vpn" in the README\n');
    expect(existsSync(cfg)).toBe(false);
  }, 30_000);
});

const skip = netnsSkipReason(true);

describe.skipIf(skip !== undefined)(`a second daemon while one runs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir = '';
  let ns: { name: string; delete(): void } | undefined;
  afterEach(() => {
    ns?.delete();
    ns = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('with another TUN name exits non-zero naming the first, before touching the host: no second TUN, the first keeps its nft table', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-second-'));
    ns = createNetns('l2tpsec-second');
    const n = ns.name;
    addUplink(n, (a) => execFileSync(a[0]!, a.slice(1)));
    const bin = makeBin(dir);
    const config = (tun: string): string => {
      const f = join(dir, `${tun}.toml`);
      writeFileSync(f, `[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[ppp]\nusers_file = "users.toml"\n[tun]\nname = "${tun}"\n[control]\nsocket = ""\n`);
      return f;
    };
    const env = { PATH: process.env['PATH'] };
    const first = run(inNetns(n, [join(bin, 'l2tpsec'), 'serve', '--config', config('l2a0')]), env);
    const nft = (): string => execFileSync('ip', ['netns', 'exec', n, 'nft', 'list', 'table', 'ip', 'l2tpsec'], { encoding: 'utf8' });
    try {
      await first.waitFor(/"event":"daemon\.start"/);
      const before = nft();
      expect(before).toContain('masquerade');
      const second = run(inNetns(n, [join(bin, 'l2tpsec'), 'serve', '--config', config('l2b0')]), env);
      expect(await second.exited).toBe(1);
      const pid = Number(/"pid":(\d+)/.exec(first.out())?.[1] ?? NaN);
      expect(second.err()).toMatch(/l2tpsec: l2tpsec pid \d+ \(config .*l2a0\.toml, tun l2a0, since .*\) is already running/);
      expect(Number.isNaN(pid) || second.err().includes(`pid ${pid}`)).toBe(true);
      expect(second.err()).toMatch(/hint: /);
      expect(second.out()).not.toMatch(/netcfg|daemon\.start/);
      // the host as the first daemon left it
      expect(() => execFileSync('ip', ['-n', n, 'link', 'show', 'l2b0'], { stdio: 'ignore' })).toThrow();
      expect(execFileSync('ip', ['-n', n, '-br', 'link', 'show', 'l2a0'], { encoding: 'utf8' })).toContain('l2a0');
      expect(nft()).toBe(before);
    } finally {
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
    }
  }, 60_000);
});

describe.skipIf(skip !== undefined)(`kill -9, then start and stop again${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir = '';
  let ns: { name: string; delete(): void } | undefined;
  afterEach(() => {
    ns?.delete();
    ns = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('the restarted daemon comes up with one copy of its rules, and its clean stop puts forwarding back to what it was before the first start', async () => {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-kill9-'));
    const runDir = join(dir, 'run');
    mkdirSync(runDir);
    ns = createNetns('l2tpsec-kill9');
    const n = ns.name;
    addUplink(n, (a) => execFileSync(a[0]!, a.slice(1)));
    execFileSync('ip', ['netns', 'exec', n, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
    const forwarding = (): string => execFileSync('ip', ['netns', 'exec', n, 'cat', '/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim();
    const bin = makeBin(dir);
    const cfg = join(dir, 'l2tpsec.toml');
    writeFileSync(cfg, '[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[tun]\nname = "l2k0"\n[control]\nsocket = ""\n');
    const serve = (): ReturnType<typeof run> => run(inNetns(n, [join(bin, 'l2tpsec'), 'serve', '--config', cfg], runDir), { PATH: process.env['PATH'] });

    const first = serve();
    await first.waitFor(/"event":"daemon\.start"/);
    expect(forwarding()).toBe('1');
    // the daemon's node process (the wrapper execs into it): SIGKILL, no teardown
    first.child.kill('SIGKILL');
    await first.exited;
    expect(forwarding()).toBe('1');
    const state = readdirSync(join(runDir, 'l2tpsec')).filter((f) => f.startsWith('ip_forward-'));
    expect(state).toHaveLength(1);
    expect(readFileSync(join(runDir, 'l2tpsec', state[0]!), 'utf8').trim()).toBe('0');

    const second = serve();
    await second.waitFor(/"event":"daemon\.start"/);
    expect(second.out()).toMatch(/"event":"netcfg\.forwarding\.recovered","previous":"0"/);
    const tables = execFileSync('ip', ['netns', 'exec', n, 'nft', 'list', 'tables'], { encoding: 'utf8' });
    expect(tables.match(/^table ip l2tpsec$/gm)).toHaveLength(1);
    const table = execFileSync('ip', ['netns', 'exec', n, 'nft', 'list', 'table', 'ip', 'l2tpsec'], { encoding: 'utf8' });
    expect(table.match(/masquerade/g)).toHaveLength(1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(forwarding()).toBe('0');
    expect(readdirSync(join(runDir, 'l2tpsec')).filter((f) => f.startsWith('ip_forward-'))).toEqual([]);
  }, 60_000);
});
