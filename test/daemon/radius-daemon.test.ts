import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.js';
import { defaultConfig } from '../../src/daemon/config.js';
import { createLogger } from '../../src/daemon/log.js';
import { UserStore } from '../../src/daemon/users.js';
import { tempDir } from '../tmpdir.js';

// The real Daemon with [radius] on loopback (no TUN): the RADIUS side starts with it,
// status shows the server, require_message_authenticator = false is warned about at start.
describe('daemon with [radius]', () => {
  it('starts the RADIUS side, shows it in status, warns about unsigned replies, stops', async () => {
    const cfg = defaultConfig();
    cfg.server.listen = '127.0.0.1';
    cfg.server.ikePort = 40000 + Math.floor(Math.random() * 10000);
    cfg.server.nattPort = cfg.server.ikePort + 1;
    cfg.radius = {
      ...cfg.radius,
      enabled: true,
      servers: [{ address: '127.0.0.1', authPort: 1, acctPort: 2, secret: 'a-long-enough-secret' }],
      nasIdentifier: 'vpn-1',
      requireMessageAuthenticator: false,
      spoolFile: join(tempDir('radius-daemon-'), 'spool.jsonl'),
    };
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0)));
    const d = new Daemon(cfg, new UserStore(), createLogger({ level: 'debug', format: 'json', stream }), { noTun: true });
    await d.start();
    try {
      const s = d.statusInfo();
      expect(s.radius?.servers.map((x) => [x.name, x.state, x.requests])).toEqual([['127.0.0.1:1', 'alive', 0]]);
      expect(s.radius?.spooled).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
      expect(lines.some((l) => l.includes('radius.message-authenticator.not-required') && l.includes('"level":40'))).toBe(true);
      expect(lines.some((l) => l.includes('"event":"radius.start"') && l.includes('vpn-1'))).toBe(true);
    } finally {
      await d.stop();
    }
  }, 20000);
});
