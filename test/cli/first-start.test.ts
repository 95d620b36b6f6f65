import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/daemon/config.js';
import { loadUsers } from '../../src/daemon/users.js';
import { ntPasswordHash } from '../../src/ppp/mschapv2.js';
import { createNetns, netnsSkipReason } from '../io/tun-netns.js';
import { addUplink, inNetns, makeBin, ROOT, run } from './serve-helpers.js';

/**
 * The first start as systemd and Docker do it: the unit's ExecStart and the image's
 * entrypoint + CMD, taken from the packaging files, on an empty config directory.
 * As root each runs for real inside a throwaway network namespace (private /run) until
 * the daemon is up, then gets SIGTERM; otherwise it runs on the host, where it stops
 * before the host is touched (no permission for UDP 500), after the first run.
 */

const DEFAULT_DIR = '/etc/l2tpsec/';

function execStart(): string[] {
  const unit = readFileSync(join(ROOT, 'packaging/l2tpsec.service'), 'utf8');
  const line = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  return line.trim().split(/\s+/);
}

function dockerCmd(): { entrypoint: string[]; cmd: string[] } {
  const text = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  const json = (op: string): string[] => JSON.parse(new RegExp(`^${op}\\s+(\\[.*\\])\\s*$`, 'm').exec(text)![1]!) as string[];
  return { entrypoint: json('ENTRYPOINT'), cmd: json('CMD') };
}

const asRoot = netnsSkipReason(true) === undefined;

describe('first start on an empty config directory', () => {
  let dir = '';
  let ns: { name: string; delete(): void } | undefined;
  afterEach(() => {
    ns?.delete();
    ns = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** Runs argv (paths under /etc/l2tpsec/ moved to a temp dir) and returns the config dir and output. */
  async function firstStart(argv: string[], env: Record<string, string>): Promise<{ etc: string; out: string; code: number | null }> {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-first-'));
    const etc = join(dir, 'etc');
    mkdirSync(etc, { mode: 0o700 }); // what ConfigurationDirectory= and the image's VOLUME leave: an empty directory
    const bin = makeBin(dir);
    const moved = argv.map((a) => a.replace(DEFAULT_DIR, `${etc}/`));
    const fullEnv = { PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, L2TPSEC_CONFIG: join(etc, 'l2tpsec.toml'), ...env };
    let cmd = moved;
    if (asRoot) {
      ns = createNetns('l2tpsec-first');
      addUplink(ns.name, (a) => execFileSync(a[0]!, a.slice(1)));
      cmd = inNetns(ns.name, moved);
    }
    const r = run(cmd, fullEnv);
    if (asRoot) {
      await r.waitFor(/"event":"daemon\.start"/);
      r.child.kill('SIGTERM');
    }
    const code = await r.exited;
    return { etc, out: r.out() + r.err(), code };
  }

  const cases = [
    ['the systemd unit', (): string[] => execStart()],
    ['the Docker entrypoint', (): string[] => {
      const { entrypoint, cmd } = dockerCmd();
      // the image installs docker/entrypoint.sh as its ENTRYPOINT
      expect(entrypoint).toEqual(['/usr/local/bin/l2tpsec-entrypoint']);
      return ['sh', join(ROOT, 'docker/entrypoint.sh'), ...cmd];
    }],
  ] as const;

  for (const [what, argv] of cases) {
    it(`${what}: creates the config and users file; the generated secrets go to a 0600 file whose path is logged, never to stdout`, async () => {
      const { etc, out, code } = await firstStart(argv(), {});
      const cfg = loadConfig(join(etc, 'l2tpsec.toml'));
      expect(cfg.ipsec.psk).toMatch(/^[A-Za-z0-9]{24}$/);
      const users = await loadUsers(cfg.ppp.usersFile);
      expect(users.list().map((u) => u.name)).toEqual(['vpnuser']);
      const credFile = join(etc, 'initial-credentials.txt');
      expect(statSync(credFile).mode & 0o777).toBe(0o600);
      const cred = readFileSync(credFile, 'utf8');
      expect(cred).toContain(cfg.ipsec.psk);
      const password = /password:\s+(\S+)/.exec(cred)![1]!;
      expect(users.get('vpnuser')!.ntHash).toEqual(ntPasswordHash(password));
      expect(out).toContain(credFile);
      expect(out).toMatch(/"event":"init\.credentials"/);
      expect(out).not.toContain(cfg.ipsec.psk);
      expect(out).not.toContain(password);
      // one command serves both kinds of clients: the IKEv2 certificate is made too, and the CA named
      expect(cfg.ikev2.enabled).toBe(true);
      expect(statSync(join(etc, 'server.key')).mode & 0o777).toBe(0o600);
      expect(out).toContain(`install ${join(etc, 'ca.crt')} on the devices`);
      if (asRoot) expect(code).toBe(0);
    }, 60_000);

    it(`${what}: VPN_IPSEC_PSK, VPN_USER and VPN_PASSWORD are the ones used, and not written out again`, async () => {
      const env = { VPN_IPSEC_PSK: 'Env-Psk-8c1f2e9a7b3d', VPN_USER: 'envuser', VPN_PASSWORD: 'env-pass-5521' };
      const { etc, out, code } = await firstStart(argv(), env);
      const cfg = loadConfig(join(etc, 'l2tpsec.toml'));
      expect(cfg.ipsec.psk).toBe(env.VPN_IPSEC_PSK);
      const users = await loadUsers(cfg.ppp.usersFile);
      expect(users.list().map((u) => u.name)).toEqual(['envuser']);
      expect(users.get('envuser')!.ntHash).toEqual(ntPasswordHash(env.VPN_PASSWORD));
      expect(existsSync(join(etc, 'initial-credentials.txt'))).toBe(false);
      expect(out).not.toContain(env.VPN_IPSEC_PSK);
      expect(out).not.toContain(env.VPN_PASSWORD);
      if (asRoot) expect(code).toBe(0);
    }, 60_000);
  }
});
