import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/daemon/log.js';

describe('daemon logger under a flood', () => {
  it('an output that cannot keep up: lines past the buffer are dropped and counted, never queued without bound', () => {
    // A stream that never finishes a write (a stuck journal or a full pipe).
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined });
    for (const format of ['json', 'pretty'] as const) {
      const log = createLogger({ level: 'info', format, stream: stuck, bufferBytes: 16 * 1024 });
      for (let n = 0; n < 10_000; n++) log.warn('ike.drop', { reason: 'decode.bad-length', peer: `10.0.${n >> 8}.${n & 255}:500` });
      expect(log.dropped()).toBeGreaterThan(9000);
      expect(stuck.writableLength).toBeLessThanOrEqual(2 * 16 * 1024 + 200);
    }
  });

  it('an output that keeps up loses nothing', () => {
    const chunks: string[] = [];
    const fast = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
    const log = createLogger({ level: 'info', format: 'json', stream: fast });
    for (let n = 0; n < 1000; n++) log.info('x', { n });
    expect(log.dropped()).toBe(0);
    expect(chunks.join('').trim().split('\n')).toHaveLength(1000);
  });

  it('the default output is written asynchronously to the descriptor and flush() writes out the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-log-'));
    try {
      const file = join(dir, 'out.log');
      const fd = openSync(file, 'w');
      const log = createLogger({ level: 'info', format: 'json', fd });
      for (let n = 0; n < 2000; n++) log.info('ike.phase1.established', { n });
      log.flush();
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(2000);
      expect(JSON.parse(lines[1999]!)).toMatchObject({ event: 'ike.phase1.established', n: 1999, level: 30 });
      expect(log.dropped()).toBe(0);
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('daemon logger: enabled()', () => {
  it('says which levels are written, for json and pretty', () => {
    for (const format of ['json', 'pretty'] as const) {
      const warn = createLogger({ level: 'warn', format, stream: new Writable({ write: (_c, _e, cb) => cb() }) });
      expect([warn.enabled?.('debug'), warn.enabled?.('info'), warn.enabled?.('warn'), warn.enabled?.('error')]).toEqual([false, false, true, true]);
      const debug = createLogger({ level: 'debug', format, stream: new Writable({ write: (_c, _e, cb) => cb() }) });
      expect(debug.enabled?.('debug')).toBe(true);
    }
  });
});
