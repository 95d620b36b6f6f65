import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/core/log.js';
import { AcctSpool } from '../../src/daemon/radius-spool.js';
import { attr } from '../../src/radius/index.js';
import { tempDir } from '../tmpdir.js';

describe('accounting spool', () => {
  it('keeps text, integers and octets across a reload, 0600, and forgets what was delivered', () => {
    const file = join(tempDir('spool-'), 'sub', 'spool.jsonl');
    const s = new AcctSpool(file, () => undefined);
    s.add([attr('Acct-Status-Type', 2), attr('User-Name', 'alice'), attr('Class', Buffer.from([0, 1, 255]))], 1000);
    s.add([attr('Acct-Status-Type', 1)], 2000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = new AcctSpool(file, () => undefined);
    expect(again.load()).toBe(2);
    expect(again.entries()[0]).toEqual({ savedAt: 1000, attributes: [attr('Acct-Status-Type', 2), attr('User-Name', 'alice'), attr('Class', Buffer.from([0, 1, 255]))] });
    again.remove(again.entries()[0]!);
    expect(new AcctSpool(file, () => undefined).load()).toBe(1);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('bounded: past maxEntries the oldest goes, logged', () => {
    const logs: LogEvent[] = [];
    const s = new AcctSpool(join(tempDir('spool-'), 'spool.jsonl'), (e) => logs.push(e), 3);
    for (let i = 0; i < 5; i++) s.add([attr('Acct-Delay-Time', i)], i);
    expect(s.entries().map((e) => e.savedAt)).toEqual([2, 3, 4]);
    expect(logs.filter((l) => l.event === 'radius.spool.full')).toHaveLength(2);
  });

  it('property: any file content loads without a throw; lines that are not spooled requests are skipped and counted', () => {
    const dir = tempDir('spool-');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.json(), fc.constant('{"savedAt":1,"attributes":[{"name":"User-Name","s":"x"}]}')), { maxLength: 8 }), (lines) => {
        const file = join(dir, 'spool.jsonl');
        writeFileSync(file, lines.join('\n'));
        const logs: LogEvent[] = [];
        const s = new AcctSpool(file, (e) => logs.push(e));
        const n = s.load();
        for (const e of s.entries()) {
          expect(typeof e.savedAt).toBe('number');
          for (const a of e.attributes) expect(typeof a.name).toBe('string');
        }
        const good = lines.filter((l) => l === '{"savedAt":1,"attributes":[{"name":"User-Name","s":"x"}]}').length;
        expect(n).toBeGreaterThanOrEqual(good);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the host and its spool', () => {
  it('a spooled request that cannot be encoded (an unknown attribute) is dropped and logged, not retried forever', async () => {
    const { RadiusHost } = await import('../../src/daemon/radius-host.js');
    const { monotonicClock } = await import('../../src/core/clock.js');
    const file = join(tempDir('spool-'), 'spool.jsonl');
    writeFileSync(file, '{"savedAt":1,"attributes":[{"name":"No-Such-Attribute","s":"x"}]}\n{"savedAt":2,"attributes":[{"name":"Acct-Status-Type","i":2},{"name":"Acct-Delay-Time","i":0}]}\n');
    const logs: LogEvent[] = [];
    const h = new RadiusHost({
      cfg: {
        enabled: true,
        servers: [{ address: '127.0.0.1', authPort: 9, acctPort: 10, secret: 'a-long-enough-secret' }],
        nasIdentifier: 'vpn-1',
        nasIpAddress: '127.0.0.1',
        timeout: 1,
        retries: 1,
        interimInterval: 0,
        fallbackToUsersFile: false,
        requireMessageAuthenticator: true,
        dynauthListen: '',
        dynauthClients: [],
        spoolFile: file,
      },
      clock: monotonicClock,
      timer: { set: (fn, ms) => setTimeout(fn, ms), clear: (t) => clearTimeout(t as NodeJS.Timeout) },
      log: (e) => logs.push(e),
    });
    await h.start();
    try {
      for (let i = 0; i < 40 && h.spooled !== 1; i++) await new Promise((r) => setTimeout(r, 50));
      expect(h.spooled).toBe(1); // the good one waits for a server; the bad one is gone
      expect(logs.some((l) => l.event === 'radius.spool.dropped' && String(l.fields?.['reason']).includes('No-Such-Attribute'))).toBe(true);
      expect(readFileSync(file, 'utf8')).not.toContain('No-Such-Attribute');
    } finally {
      await h.stop(0);
    }
  });
});
