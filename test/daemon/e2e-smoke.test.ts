import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.js';
import { defaultConfig } from '../../src/daemon/config.js';
import { createLogger } from '../../src/daemon/log.js';
import { UserStore } from '../../src/daemon/users.js';

// Smoke stage of the end-to-end test: the real Daemon binds its UDP sockets on
// loopback high ports without TUN, reports an empty status and stops cleanly.
describe('daemon e2e (smoke)', () => {
  it('starts on loopback with noTun, reports status, stops', async () => {
    const cfg = defaultConfig();
    cfg.server.listen = '127.0.0.1';
    cfg.server.ikePort = 40000 + Math.floor(Math.random() * 10000);
    cfg.server.nattPort = cfg.server.ikePort + 1;
    const users = new UserStore();
    users.add('alice', 'correct horse');
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0)));
    const logger = createLogger({ level: 'debug', format: 'json', stream });
    const d = new Daemon(cfg, users, logger, { noTun: true });
    await d.start();
    try {
      const s = d.statusInfo();
      expect(s.sessions).toEqual([]);
      expect(s.ikeSas).toBe(0);
      expect(s.pool.size).toBeGreaterThan(0);
      expect(s.pool.free).toBe(s.pool.size);
    } finally {
      await d.stop();
    }
  }, 20000);
});
