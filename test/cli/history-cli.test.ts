import { tempDir } from '../tmpdir.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { HistoryFile } from '../../src/daemon/history.js';

describe('l2tpsec history without a running daemon', () => {
  it('reads the history file named by the config, newest first, filtered by --user; --json', async () => {
    const dir = tempDir('l2tpsec-hc-');
    const cfgFile = join(dir, 'l2tpsec.toml');
    writeFileSync(cfgFile, `[ipsec]\npsk = "x"\n[control]\nsocket = "${join(dir, 'none.sock')}"\n`);
    const h = new HistoryFile(join(dir, 'history.jsonl'));
    const base = { peer: '192.0.2.1:4500', address: '10.40.0.2', end: '2026-11-27T01:00:00.000Z', duration: 65, bytesIn: 10, bytesOut: 20, packetsIn: 1, packetsOut: 2, reason: 'peer hung up' };
    h.append({ ...base, user: 'alice', session: 's1', start: '2026-11-27T00:00:00.000Z' });
    h.append({ ...base, user: 'bob', session: 's2', start: '2026-11-27T00:10:00.000Z' });
    h.append({ ...base, user: 'alice', session: 's3', start: '2026-11-27T00:20:00.000Z' });
    const run = async (args: string[]): Promise<string> => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (d: Buffer) => (text += d.toString()));
      expect(await main(['history', ...args, '--config', cfgFile], { out, err: out })).toBe(0);
      return text;
    };
    const lines = (await run(['--user', 'alice'])).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^alice .* 2026-11-27 00:20:00 \(1m 05s\)/);
    expect(lines[1]).toMatch(/^alice .* 2026-11-27 00:00:00 /);
    const json = JSON.parse(await run(['--json', '--limit', '2'])) as Array<{ session: string }>;
    expect(json.map((e) => e.session)).toEqual(['s2', 's3']);
  });
});
