import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, describeFailure, main } from '../../src/cli/main.js';
import { ConfigError } from '../../src/daemon/config.js';
import { ControlServer } from '../../src/daemon/control.js';
import type { ControlTarget, DaemonEvent, StatusInfo } from '../../src/daemon/control-types.js';
import { tempDir } from '../tmpdir.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  const code = await main(argv, { out, err });
  return { code, out: o, err: e };
}

/** Every command path of the program: ["serve"], ["users"], ["users", "add"], ... */
function commandPaths(): string[][] {
  const program = buildProgram({ out: new PassThrough(), err: new PassThrough() }, () => undefined);
  const paths: string[][] = [];
  const walk = (c: Command, prefix: string[]): void => {
    for (const sub of c.commands) {
      paths.push([...prefix, sub.name()]);
      walk(sub, [...prefix, sub.name()]);
    }
  };
  walk(program, []);
  return paths;
}

describe('l2tpsec COMMAND --help', () => {
  const paths = commandPaths();
  it('covers every command', () => {
    expect(paths.map((p) => p.join(' ')).sort()).toEqual(
      ['cert', 'cert init', 'check', 'disconnect', 'doctor', 'events', 'history', 'profile', 'reload', 'serve', 'sessions', 'status', 'users', 'users add', 'users del', 'users list', 'users passwd', 'version'].sort(),
    );
  });
  it.each(paths.map((p) => [p.join(' '), p]))('%s --help: usage on stdout, exit 0, no config read', async (_, path) => {
    // a config that cannot be read: help must not need it
    const r = await cli([...path, '--help', '--config', '/nonexistent/l2tpsec.toml']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: l2tpsec ${path.join(' ')}\\b`));
  });
  it('l2tpsec help users, l2tpsec users help add, and l2tpsec --help', async () => {
    expect((await cli(['help', 'users'])).out).toMatch(/^Usage: l2tpsec users \[options\] \[command\]/);
    expect((await cli(['users', 'help', 'add'])).out).toMatch(/^Usage: l2tpsec users add \[options\] <name>/);
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.out).toContain('Exit codes: 0 ok, 1 the operation failed, 2 bad usage.');
  });
});

describe('errors: one line and a hint; 2 for bad usage, 1 for a failed operation', () => {
  it.each([
    [['bogus'], "unknown command 'bogus'", 'see: l2tpsec --help'],
    [['status', '--frobnicate'], "unknown option '--frobnicate'", 'see: l2tpsec status --help'],
    [['disconnect'], "missing required argument 'target'", 'see: l2tpsec disconnect --help'],
    [['history', '--limit', 'ten'], '--limit must be a whole number of at least 1, got "ten"', 'see: l2tpsec history --help'],
    [['users', 'add', 'bob', '--max-sessions', '-1'], '--max-sessions must be a whole number, got "-1"', 'see: l2tpsec users add --help'],
    [['profile', 'beos', 'alice'], "'beos' is invalid for argument 'kind'", 'see: l2tpsec profile --help'],
    [['users', 'add', 'bob smith'], 'user name "bob smith": " " is not allowed', 'see: l2tpsec users add --help'],
  ])('%j → exit 2', async (argv, message, hint) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^l2tpsec: /);
    expect(lines[0]).toContain(message);
    expect(lines[1]).toBe(`hint: ${hint}`);
  });

  it('no command: the usage, exit 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^Usage: l2tpsec /);
  });

  it('--json: {"error", "hint"} on stdout, nothing on stderr, non-zero exit', async () => {
    const usage = await cli(['history', '--limit', '0', '--json']);
    expect(usage.code).toBe(2);
    expect(usage.err).toBe('');
    expect(JSON.parse(usage.out)).toEqual({ error: '--limit must be a whole number of at least 1, got "0"', hint: 'see: l2tpsec history --help' });
    const failed = await cli(['users', 'list', '--config', '/nonexistent/l2tpsec.toml', '--json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.out)).toMatchObject({ error: expect.stringContaining('config error: /nonexistent/l2tpsec.toml: cannot read'), hint: expect.stringContaining('--config') });
  });

  it('system errors get a hint: EACCES (root or control.group), EADDRINUSE (doctor)', () => {
    const eacces = new ConfigError('/etc/l2tpsec/l2tpsec.toml', undefined, undefined, "cannot read: EACCES: permission denied, open '/etc/l2tpsec/l2tpsec.toml'");
    expect(describeFailure(eacces, 'l2tpsec users list')).toEqual({ message: expect.stringContaining('EACCES'), hint: 'run as root or as a member of control.group', code: 1 });
    const inUse = Object.assign(new Error('bind EADDRINUSE 0.0.0.0:500'), { code: 'EADDRINUSE' });
    expect(describeFailure(inUse, 'l2tpsec serve').hint).toMatch(/l2tpsec doctor/);
  });
});

/** A daemon stand-in behind a real control socket. */
function fakeDaemon(): ControlTarget {
  const status: StatusInfo = {
    listen: ['0.0.0.0:500', '0.0.0.0:4500'],
    pskFingerprint: '0011223344556677:0123456789abcdef',
    pool: { cidr: '10.40.0.0/24', size: 253, used: 0, free: 253 },
    ikeSas: 0,
    users: 1,
    uptime: 3,
    sessions: [],
  };
  return {
    statusInfo: () => status,
    usersInfo: () => [{ name: 'alice', address: null, maxSessions: null }],
    disconnect: (t) => (t.user === 'alice' ? ['s1'] : []),
    reload: async () => ({ users: 1 }),
    history: () => [],
    subscribe: (_fn: (e: DaemonEvent) => void) => () => undefined,
    counterSnapshot: () => ({ 'ike.auth.failed': 2, 'ppp.auth.failure': 3, 'esp.in.drop.replay': 5, 'udp.drop.short': 1 }),
  };
}

describe('control commands say what happened', () => {
  async function withDaemon(f: (args: string[]) => Promise<void>): Promise<void> {
    const dir = tempDir('l2tpsec-cli-');
    const sock = join(dir, 'c.sock');
    writeFileSync(join(dir, 'l2tpsec.toml'), `[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[control]\nsocket = "${sock}"\n`);
    const control = new ControlServer(fakeDaemon());
    await control.listen(sock);
    try {
      await f(['--config', join(dir, 'l2tpsec.toml')]);
    } finally {
      await control.close();
    }
  }

  it('disconnect of something that is neither a user nor a session says so (exit 1)', async () => {
    await withDaemon(async (c) => {
      const r = await cli(['disconnect', '12345', ...c]);
      expect(r.code).toBe(1);
      expect(r.err).toBe('l2tpsec: "12345" is neither a connected user nor a session id\nhint: l2tpsec sessions lists both\n');
      expect((await cli(['disconnect', 'alice', ...c])).out).toBe('disconnecting s1\n');
    });
  });

  it('reload says what it reloaded and that the rest needs a restart', async () => {
    await withDaemon(async (c) => {
      const r = await cli(['reload', ...c]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('reloaded the users file: 1 user\n');
      expect(r.out).toMatch(/pool, the PSK or any other setting need a restart/);
    });
  });

  it('status shows the counters (handshake and auth failures, drops); --json has each', async () => {
    await withDaemon(async (c) => {
      const r = await cli(['status', ...c]);
      expect(r.out).toContain('  handshakes failed: 2 (auth 2, no proposal 0, timeout 0, quick mode 0)\n');
      expect(r.out).toContain('  ppp auth failures: 3\n');
      expect(r.out).toContain('  drops: 6 (esp.in.drop.replay 5, udp.drop.short 1)\n');
      const j = JSON.parse((await cli(['status', '--json', ...c])).out) as StatusInfo;
      expect(j.counters).toEqual({ 'ike.auth.failed': 2, 'ppp.auth.failure': 3, 'esp.in.drop.replay': 5, 'udp.drop.short': 1 });
    });
  });

  it('the daemon not running: one line and a hint', async () => {
    const dir = tempDir('l2tpsec-cli-');
    const r = await cli(['status', '--socket', join(dir, 'none.sock')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^l2tpsec: cannot reach the daemon at .*none\.sock: .*ENOENT.*\nhint: is "l2tpsec serve" running\?/);
  });
});
