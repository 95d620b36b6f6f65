import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/daemon/config.js';
import { checkedReload, ReloadRefused } from '../../src/daemon/reload.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/log.js';
import { loadUsers } from '../../src/daemon/users.js';
import { PassThrough } from 'node:stream';
import { ControlServer } from '../../src/daemon/control.js';
import { controlRequest } from '../../src/cli/client.js';
import type { ControlTarget } from '../../src/daemon/control-types.js';

const HASH = '8846f7eaee8fb117ad06bdd830b7586c';

describe('reload checks the users file first', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  function setup(users: string): { cfg: ReturnType<typeof parseConfig>; target: ControlTarget & { reloads: number } } {
    dir = mkdtempSync(join(tmpdir(), 'l2tpsec-reload-'));
    writeFileSync(join(dir, 'users.toml'), users);
    const cfg = parseConfig('[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[ppp]\npool = "10.40.0.0/24"\n', join(dir, 'l2tpsec.toml'));
    const target = {
      reloads: 0,
      statusInfo: () => {
        throw new Error('unused');
      },
      usersInfo: () => [],
      disconnect: () => [],
      reload: async () => {
        target.reloads++;
        return { users: 1 };
      },
      history: () => [],
      subscribe: () => () => undefined,
    };
    return { cfg, target };
  }

  it('a static address outside the pool, on the server or the broadcast refuses the reload, naming each; the daemon is not asked', async () => {
    const { cfg, target } = setup(
      `[users.a]\nnt_hash = "${HASH}"\naddress = "10.41.0.5"\n[users.b]\nnt_hash = "${HASH}"\naddress = "10.40.0.1"\n[users.c]\nnt_hash = "${HASH}"\naddress = "10.40.0.255"\n`,
    );
    const err = await checkedReload(target, cfg).then(
      () => undefined,
      (e: unknown) => e as ReloadRefused,
    );
    expect(err).toBeInstanceOf(ReloadRefused);
    expect(err!.problems.map((p) => [p.key, p.line])).toEqual([
      ['users.a.address', 3],
      ['users.b.address', 6],
      ['users.c.address', 9],
    ]);
    expect(err!.message).toContain('outside the pool 10.40.0.0/24');
    expect(err!.message).toContain("the server's tunnel address");
    expect(err!.message).toContain('broadcast');
    expect(err!.message).toContain('keeps the users it had');
    expect(target.reloads).toBe(0);
  });

  it('a good file reloads; over the control socket a refused reload is an error that says why', async () => {
    const { cfg, target } = setup(`[users.a]\nnt_hash = "${HASH}"\naddress = "10.40.0.9"\n`);
    expect(await checkedReload(target, cfg)).toEqual({ users: 1 });
    expect(target.reloads).toBe(1);
    // the daemon itself checks before it reloads, whoever asks (control socket, SIGHUP)
    const daemon = new Daemon(cfg, await loadUsers(cfg.ppp.usersFile), createLogger({ level: 'error', format: 'json', stream: new PassThrough() }), { noTun: true });
    const sock = join(dir, 'c.sock');
    const control = new ControlServer(daemon);
    await control.listen(sock);
    try {
      expect(await controlRequest(sock, 'POST', '/v1/reload')).toEqual({ users: 1 });
      writeFileSync(cfg.ppp.usersFile, `[users.a]\nnt_hash = "${HASH}"\naddress = "10.40.0.1"\n`);
      await expect(controlRequest(sock, 'POST', '/v1/reload')).rejects.toThrow(/users\.a\.address: 10\.40\.0\.1 is the server's tunnel address/);
      expect(daemon.usersInfo().map((u) => [u.name, u.address])).toEqual([['a', '10.40.0.9']]);
    } finally {
      await control.close();
    }
  });
});
